package e2e

import (
	"path/filepath"
	"runtime"
	"testing"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/compiler"
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestCloseFreesGraph: a closed graph's machine, op buffers and tensors are
// garbage once the caller drops it. (Gorgonia's TapeMachine has a
// finalizer, and a reference cycle through a finalizer object is never
// collected; Close must break the cycle.) Ten build/run/close rounds must
// leave the heap no larger than about one graph's worth.
func TestCloseFreesGraph(t *testing.T) {
	m, _ := compileExample(t, filepath.Join(examplesDir, "tiny.mhc"), compiler.O2)
	binds := map[string]int{compiler.SymBatch: 4, compiler.SymTime: 32}
	round := func() {
		g, err := gb.Build(m, gb.Options{Binds: binds, Grad: true})
		if err != nil {
			t.Fatal(err)
		}
		g.InitParams(1)
		if _, err := g.Run(); err != nil {
			t.Fatal(err)
		}
		g.Close()
	}
	round()
	base := heapInUse()
	round()
	one := heapInUse()
	for range 8 {
		round()
	}
	after := heapInUse()
	// A live graph of this size holds tens of MB of op buffers; allow for
	// one graph's worth of noise, not ten.
	perGraph := int64(one) - int64(base)
	t.Logf("heap: %d MB after 1 round, %d MB after 2, %d MB after 10", base>>20, one>>20, after>>20)
	if growth := int64(after) - int64(base); growth > 8<<20 {
		t.Errorf("heap grew by %d MB over 9 build/run/close rounds (%d MB in the first); closed graphs are not freed", growth>>20, perGraph>>20)
	}
}
