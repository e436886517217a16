package kernels

import (
	"math"
	"testing"
)

// TestSiLUPaths compares the float32 SiLU kernels, on the AVX2 path
// (blocks, a ragged last block) and on the Go path, with x·σ(x) and its
// derivative computed in float64. (Small inputs, which take the Go path
// only, are covered by the conformance test.)
func TestSiLUPaths(t *testing.T) {
	for _, vec := range []bool{true, false} {
		if vec && !useVec {
			continue // no AVX2 kernels in this build: the Go path below still runs
		}
		old := setVectorKernels(vec)
		for _, n := range []int{vecMin, 1003, 70000} {
			x, gy := make([]float32, n), make([]float32, n)
			for i := range x {
				x[i] = float32(9 * math.Sin(float64(i)*0.37))
				gy[i] = float32(math.Cos(float64(i) * 0.11))
			}
			y, s, dx := make([]float32, n), make([]float32, n), make([]float32, n)
			SiLUFwd(x, y, s)
			SiLUBwd(x, s, gy, dx)
			for i := range x {
				v := float64(x[i])
				sg := 1 / (1 + math.Exp(-v))
				wy, wdx := v*sg, float64(gy[i])*sg*(1+v*(1-sg))
				if math.Abs(float64(y[i])-wy) > 2e-6*math.Max(1, math.Abs(wy)) ||
					math.Abs(float64(dx[i])-wdx) > 2e-6*math.Max(1, math.Abs(wdx)) {
					t.Fatalf("vector=%v n=%d: silu(%g) = %g, %g; want %g, %g", vec, n, v, y[i], dx[i], wy, wdx)
				}
			}
		}
		setVectorKernels(old)
	}
}
