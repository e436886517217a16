package memcheck

import "runtime"

// Host is the running system: the real /proc and /sys, this process's
// RLIMIT_AS, and the Go heap's idle spans as reusable address space.
func Host() System {
	return System{AddressLimit: addressLimit, Reusable: func() uint64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapIdle
	}}
}
