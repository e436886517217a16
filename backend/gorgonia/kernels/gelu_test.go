package kernels

import (
	"math"
	"testing"
)

// TestGELUVectorPath compares the float32 GELU kernels with the AVX2 tanh
// (blocks, a ragged last block) against the scalar Go code.
func TestGELUVectorPath(t *testing.T) {
	if !useVec {
		t.Skip("no AVX2 kernels in this build")
	}
	for _, n := range []int{vecMin, 1003, 70000} {
		x, gy := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i] = float32(6 * math.Sin(float64(i)*0.37))
			gy[i] = float32(math.Cos(float64(i) * 0.11))
		}
		run := func() (y, dx []float32) {
			y, dx, th := make([]float32, n), make([]float32, n), make([]float32, n)
			GELUFwd(x, y, th)
			GELUBwd(x, th, gy, dx)
			return y, dx
		}
		y, dx := run()
		old := setVectorKernels(false)
		wy, wdx := run()
		setVectorKernels(old)
		for i := range x {
			if d := math.Abs(float64(y[i] - wy[i])); d > 1e-6*math.Max(1, math.Abs(float64(wy[i]))) {
				t.Fatalf("n=%d: gelu(%g) vector %g, scalar %g", n, x[i], y[i], wy[i])
			}
			if d := math.Abs(float64(dx[i] - wdx[i])); d > 1e-6*math.Max(1, math.Abs(float64(wdx[i]))) {
				t.Fatalf("n=%d: gelu'(%g) vector %g, scalar %g", n, x[i], dx[i], wdx[i])
			}
		}
	}
}

// TestGELURecomputedTanh: GELUFwd without t gives the same y, and GELUBwd
// with t nil (recomputing it) the same dx as with the kept t, bit for bit,
// on the vector path (whole and ragged blocks) and the scalar one.
func TestGELURecomputedTanh(t *testing.T) {
	for _, vec := range []bool{true, false} {
		old := setVectorKernels(vec)
		for _, n := range []int{5, vecMin, 1003, 70000} {
			x, gy := make([]float32, n), make([]float32, n)
			for i := range x {
				x[i] = float32(6 * math.Sin(float64(i)*0.37))
				gy[i] = float32(math.Cos(float64(i) * 0.11))
			}
			y, th, dx := make([]float32, n), make([]float32, n), make([]float32, n)
			GELUFwd(x, y, th)
			GELUBwd(x, th, gy, dx)
			y2, dx2 := make([]float32, n), make([]float32, n)
			GELUFwd(x, y2, nil)
			GELUBwd(x, nil, gy, dx2)
			for i := range x {
				if math.Float32bits(y[i]) != math.Float32bits(y2[i]) || math.Float32bits(dx[i]) != math.Float32bits(dx2[i]) {
					t.Fatalf("vector %v, n=%d, x=%g: y %g/%g, dx %g/%g with the kept/recomputed tanh", vec, n, x[i], y[i], y2[i], dx[i], dx2[i])
				}
			}
		}
		setVectorKernels(old)
	}
}
