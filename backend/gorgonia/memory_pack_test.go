package gorgonia

import (
	"testing"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
	"github.com/mhcc/mhcc/ir"
)

// TestEstimateCountsPackedGemmBuffers: the estimate counts the GEMM's
// packed op(B) buffers, one for the largest product that runs alone and
// one per CPU for products that run side by side, and none when the
// products run on the BLAS (gonum's, or OpenBLAS in the openblas build).
func TestEstimateCountsPackedGemmBuffers(t *testing.T) {
	w := workers()
	// x [64, 256] · W [256, 512]: forward op(B) = W, 256 × 512; dx =
	// g·Wᵀ: 512 × 256; dW = xᵀ·g: 64 × 512 (512 is a whole number of
	// panels at every level): one buffer of 131,072 floats
	shared := func(b *ir.Builder) {
		sumLoss(b, b.Matmul(param(b, "x", d(64, 256)...), param(b, "W", d(256, 512)...), false))
	}
	// the same per element of a batch of 4: side by side, one per CPU
	batched := func(b *ir.Builder) {
		sumLoss(b, b.Matmul(param(b, "x", d(4, 64, 256)...), param(b, "W", d(4, 256, 512)...), false))
	}
	for _, c := range []struct {
		name  string
		build func(*ir.Builder)
		want  float64
	}{
		{"shared weight", shared, 4 * 131072},
		{"batched weight", batched, 4 * 131072 * w},
	} {
		m := gcase{name: c.name, build: c.build}.module(t)
		for _, native := range []bool{true, false} {
			level := kernels.CPUSgemmLevel()
			if !native {
				level = kernels.SgemmGo
			}
			old := kernels.SetSgemmLevel(level)
			level = kernels.CurrentSgemmLevel() // SgemmGo under another BLAS (-tags openblas)
			mem, err := EstimateMemory(m, Options{DType: Float32, Grad: true}, false)
			kernels.SetSgemmLevel(old)
			if err != nil {
				t.Fatal(err)
			}
			want := c.want
			if level == kernels.SgemmGo {
				want = 0 // the BLAS's GEMM: no packed buffers of ours
			}
			if mem.Packed != want {
				t.Errorf("%s, GEMM %v: packed buffers %g bytes, want %g", c.name, level, mem.Packed, want)
			}
		}
	}
}
