//go:build cgo && amd64

package kernels

import "testing"

// TestVectorKernelsDoNotAllocateOnOneChunk: the element-wise AVX2 bindings
// run per GELU block, thousands of times a step; on a block that
// parallelFor would not split they call the kernel without building the
// closure a split needs (which escaped to the heap on every call).
func TestVectorKernelsDoNotAllocateOnOneChunk(t *testing.T) {
	if !useVec {
		t.Skip("no AVX2 kernels on this CPU")
	}
	const n = 1024 // n·16 < parallelFor's threshold: one chunk
	if nChunks(n, 16) != 1 {
		t.Fatalf("n = %d splits: the test needs a size parallelFor runs in one chunk", n)
	}
	x, y, g, d := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range x {
		x[i], g[i] = float32(i%17)/8-1, float32(i%5)/4
	}
	for name, f := range map[string]func(){
		"vBin":       func() { vBin(vbMul, vbVV, x, g, 0, y) },
		"vBinGrad":   func() { vBinGrad(vbMul, 0, x, nil, 0.5, g, d) },
		"vUnary":     func() { vUnary(vTanh, x, y) },
		"vUnaryGrad": func() { vUnaryGrad(6, y, g, d) }, // 6: tanh in mhcc_vunary_grad,
	} {
		if a := testing.AllocsPerRun(20, f); a != 0 {
			t.Errorf("%s on %d elements: %v allocations per call, want 0", name, n, a)
		}
	}
}
