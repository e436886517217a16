//go:build !unix

package train

// lockFolder does nothing where flock is not available: one process at a
// time per run folder is then the user's to ensure.
func lockFolder(dir string) (release func(), err error) { return func() {}, nil }
