package kernels

import (
	"math"
	"math/rand"
	"testing"
)

// ropeInput returns nb blocks of t rows of d random values with NaN, ±Inf,
// ±0, subnormals and huge values mixed in.
func ropeInput(r *rand.Rand, n int) []float32 {
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0,
		float32(math.Copysign(0, -1)), 1e-40, math.MaxFloat32, -3e38}
	x := make([]float32, n)
	for i := range x {
		if r.Intn(20) == 0 {
			x[i] = special[r.Intn(len(special))]
		} else {
			x[i] = float32(r.NormFloat64() * 3)
		}
	}
	return x
}

// TestRopeVectorPath: the float32 Rope on the AVX2 kernel gives bit for
// bit what the Go loop gives, forward and inverse, out of place and in
// place, for head widths with and without a scalar tail (d/2 not a
// multiple of 8) and for one and many blocks.
func TestRopeVectorPath(t *testing.T) {
	if !useVec {
		t.Skip("no AVX2 kernels in this build")
	}
	r := rand.New(rand.NewSource(3))
	for _, c := range []struct{ nb, t, d int }{{1, 64, 8}, {3, 16, 6}, {4, 7, 40}, {16, 128, 64}, {9, 33, 34}} {
		cos, sin := RopeTables(c.t, c.d, 10000)
		x := ropeInput(r, c.nb*c.t*c.d)
		for _, inverse := range []bool{false, true} {
			run := func(vec, inPlace bool) []float32 {
				old := setVectorKernels(vec)
				defer setVectorKernels(old)
				y := make([]float32, len(x))
				if inPlace {
					copy(y, x)
					Rope(y, y, c.t, c.d, cos, sin, inverse)
				} else {
					Rope(x, y, c.t, c.d, cos, sin, inverse)
				}
				return y
			}
			want := run(false, false)
			for _, inPlace := range []bool{false, true} {
				got := run(true, inPlace)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%+v inverse %v in place %v: y[%d] = %g (%#x), Go loop %g (%#x)", c, inverse, inPlace,
							i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
					}
				}
			}
		}
	}
}

// BenchmarkRope compares the Go loop with the AVX2 kernel on a wide
// model's queries (B·H = 64 blocks of T = 128 rows of 64).
func BenchmarkRope(b *testing.B) {
	if !useVec {
		b.Skip("no AVX2 kernels in this build")
	}
	cos, sin := RopeTables(128, 64, 10000)
	x := ropeInput(rand.New(rand.NewSource(1)), 64*128*64)
	for i := range x {
		x[i] = float32(math.Mod(float64(x[i]), 10)) // finite values, as a model's
		if x[i] != x[i] {
			x[i] = 1
		}
	}
	y := make([]float32, len(x))
	for _, vec := range []bool{false, true} {
		name := map[bool]string{false: "go", true: "avx2"}[vec]
		b.Run(name, func(b *testing.B) {
			old := setVectorKernels(vec)
			defer setVectorKernels(old)
			b.SetBytes(int64(8 * len(x)))
			for b.Loop() {
				Rope(x, y, 128, 64, cos, sin, false)
			}
		})
	}
}
