package memcheck

import (
	"os"
	"runtime"
	"runtime/debug"
)

// GarbageHeadroom is how much garbage BoundGarbage lets the Go heap
// gather between collections. A training step leaves about 1 MiB of
// small garbage (tensor headers, closures, G.Grad's stock Adds' results:
// 1.24 MB per step on examples/bench/tiny.mhc), so this is a collection
// every few steps; the headroom is resident memory on top of the model's,
// 2% of the smallest bench model's heap.
const GarbageHeadroom = 4 << 20

// BoundGarbage collects the garbage of a graph build and sets the
// collector's target so that the heap gathers about GarbageHeadroom of
// garbage between collections, instead of as much again as the live
// heap (GOGC=100). A training process's heap is nearly all long-lived
// tensors allocated once, while each step leaves about a MiB of small
// garbage (closures, tensor headers, the stock Adds' results): at the
// default setting that garbage piles up to the size of the tensors before
// it is collected, which nearly doubled the resident memory of a long
// run. A collection only marks the heap's pointers (tensor data holds
// none), so the more frequent collections cost little. It returns the
// percentage set (the old one when GOGC is set in the environment, which
// it respects, or the heap is small enough for the default).
func BoundGarbage() int {
	runtime.GC()
	if os.Getenv("GOGC") != "" {
		old := debug.SetGCPercent(100)
		debug.SetGCPercent(old)
		return old
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	pct := 100
	if live := float64(ms.HeapAlloc); live > GarbageHeadroom {
		pct = max(int(100*GarbageHeadroom/live), 1)
	}
	debug.SetGCPercent(pct)
	return pct
}
