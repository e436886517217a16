package memcheck

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// TestBoundGarbage: with 64 MiB of live heap or more the collector's
// target becomes GarbageHeadroom (4 MiB) of garbage: 100·4/live percent,
// at most 7 (100·4/64 = 6.25); GOGC in the environment is left alone.
func TestBoundGarbage(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	live := make([]byte, 64<<20)
	for i := range live {
		live[i] = byte(i)
	}
	t.Setenv("GOGC", "")
	pct := BoundGarbage()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(live)
	want := 100 * float64(GarbageHeadroom) / float64(ms.HeapAlloc) // the live heap: 64 MiB and the rest of the test binary's
	if float64(pct) < want-1 || float64(pct) > want+1 || pct > 7 {
		t.Errorf("GC percent %d with %.0f MiB live, want 100·4/%.0f = %.1f", pct, float64(ms.HeapAlloc)/(1<<20), float64(ms.HeapAlloc)/(1<<20), want)
	}
	if got := debug.SetGCPercent(pct); got != pct {
		t.Errorf("the collector's percentage is %d, BoundGarbage returned %d", got, pct)
	}
	t.Setenv("GOGC", "300")
	debug.SetGCPercent(300)
	if got := BoundGarbage(); got != 300 {
		t.Errorf("with GOGC=300 set: %d, want it left at 300", got)
	}
}
