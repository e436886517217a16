//go:build !unix

package data

import "os"

// mapFile reads the file (no memory mapping on this platform).
func mapFile(path string, _ int64) ([]byte, error) { return os.ReadFile(path) }
