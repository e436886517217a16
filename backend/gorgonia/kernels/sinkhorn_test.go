package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSinkhornStochastic checks the Sinkhorn kernel on non-symmetric
// inputs: rows sum to 1 (the last step is the row step), columns nearly;
// the float32 kernel agrees with the float64 one.
func TestSinkhornStochastic(t *testing.T) {
	// the values the backend's test harness draws for a param "l" [3, 4, 4]
	// with seed 5 (testValues in backend/gorgonia/harness_test.go)
	rng := rand.New(rand.NewPCG(5, 'l'))
	x := make([]float64, 3*4*4)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	check := func(name string, y []float64, tol float64) {
		for m := 0; m < 3; m++ {
			for i := 0; i < 4; i++ {
				var rs, cs float64
				for j := 0; j < 4; j++ {
					rs += y[m*16+i*4+j]
					cs += y[m*16+j*4+i]
				}
				if math.Abs(rs-1) > tol {
					t.Errorf("%s: row %d of matrix %d sums to %v", name, i, m, rs)
				}
				if math.Abs(cs-1) > 1e-3 {
					t.Errorf("%s: column %d of matrix %d sums to %v", name, i, m, cs)
				}
			}
		}
	}
	y := make([]float64, len(x))
	SinkhornFwd(x, y, 4, 20)
	check("float64", y, 1e-14)
	x32, y32 := make([]float32, len(x)), make([]float32, len(x))
	for i, v := range x {
		x32[i] = float32(v)
	}
	SinkhornFwd(x32, y32, 4, 20)
	got := make([]float64, len(x))
	for i, v := range y32 {
		got[i] = float64(v)
		if math.Abs(got[i]-y[i]) > 1e-6 {
			t.Errorf("float32 entry %d: %v, float64 %v", i, v, y[i])
		}
	}
	check("float32", got, 1e-6)
}
