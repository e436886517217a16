//go:build unix

package memcheck

import "syscall"

// addressLimit returns the soft RLIMIT_AS (ok false when unlimited).
func addressLimit() (uint64, bool) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &rl); err != nil || rl.Cur == ^uint64(0) {
		return 0, false
	}
	return rl.Cur, true
}
