//go:build !unix

package memcheck

// addressLimit reports no address-space limit off Unix.
func addressLimit() (uint64, bool) { return 0, false }
