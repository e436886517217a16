package kernels

import (
	"math"
	"math/rand"
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

// geluFwdPasses and geluBwdPasses are the former float32 GELU vector path:
// per block of geluBlock, one whole-array AVX2 pass (vBin, vUnary) per
// operation. The fused kernels must give their results bit for bit.
func geluFwdPasses(x, y, t []float32) {
	geluBlocks(len(x), 1, func(lo, hi int, scratch []float32) {
		xs, u := x[lo:hi], y[lo:hi]
		ts := scratch[:len(xs)]
		if t != nil {
			ts = t[lo:hi]
		}
		geluTanhPasses(xs, u, ts)
		vBin(vbAdd, vbVC, ts, nil, 1, u)
		vBin(vbMul, vbVV, u, xs, 0, u)
		vBin(vbMul, vbVC, u, nil, 0.5, u)
	})
}

func geluTanhPasses(xs, u, ts []float32) {
	vBin(vbMul, vbVV, xs, xs, 0, u)
	vBin(vbMul, vbVV, u, xs, 0, u)
	vBin(vbMul, vbVC, u, nil, geluA, u)
	vBin(vbAdd, vbVV, xs, u, 0, u)
	vBin(vbMul, vbVC, u, nil, geluC, u)
	vUnary(vTanh, u, ts)
}

func geluBwdPasses(x, t, gy, dx []float32) {
	geluBlocks(len(x), 3, func(lo, hi int, scratch []float32) {
		xs, g, d := x[lo:hi], gy[lo:hi], dx[lo:hi]
		s, w := scratch[:len(xs)], scratch[geluBlock:geluBlock+len(xs)]
		ts := scratch[2*geluBlock : 2*geluBlock+len(xs)]
		if t != nil {
			ts = t[lo:hi]
		} else {
			geluTanhPasses(xs, w, ts)
		}
		vBin(vbMul, vbVV, xs, xs, 0, s)
		vBin(vbMul, vbVC, s, nil, 3*geluA, s)
		vBin(vbAdd, vbVC, s, nil, 1, s)
		vBin(vbMul, vbVV, s, xs, 0, s)
		vBin(vbMul, vbVC, s, nil, 0.5*geluC, s)
		vBin(vbSub, vbCV, nil, ts, 1, w) // 1 − t
		vBin(vbMul, vbVV, s, w, 0, s)
		vBin(vbAdd, vbVC, s, nil, 0.5, s)
		vBin(vbAdd, vbVC, ts, nil, 1, d) // 1 + t
		vBin(vbMul, vbVV, d, s, 0, d)
		vBin(vbMul, vbVV, d, g, 0, d)
	})
}

// geluTestInput returns n random inputs spread over the ranges the tanh
// treats differently (|u| below 0.625, moderate, saturated, beyond float32
// overflow of x³), with NaN, ±Inf, ±0 and subnormals mixed in, and a
// random upstream gradient with some NaN and Inf too.
func geluTestInput(n int, seed int64) (x, gy []float32) {
	r := rand.New(rand.NewSource(seed))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0,
		float32(math.Copysign(0, -1)), 1e-40, -1e-40, math.MaxFloat32, -math.MaxFloat32, 1e13, -1e13}
	x, gy = make([]float32, n), make([]float32, n)
	for i := range x {
		switch k := r.Intn(10); {
		case k == 0:
			x[i] = special[r.Intn(len(special))]
		case k < 4:
			x[i] = float32(r.NormFloat64())
		case k < 7:
			x[i] = float32(r.NormFloat64() * 8)
		default:
			x[i] = float32(math.Copysign(math.Exp(r.Float64()*90-20), r.Float64()-0.5))
		}
		gy[i] = float32(r.NormFloat64())
		if r.Intn(50) == 0 {
			gy[i] = special[r.Intn(3)]
		}
	}
	return x, gy
}

// TestGELUFusedMatchesPasses: the fused GELU kernels, at every vector
// level the CPU has (AVX-512, AVX2), give bit for bit what the former
// sequence of AVX2 passes gives, for y, the kept t and dx from a kept or
// recomputed t, on whole and ragged lengths and special values.
func TestGELUFusedMatchesPasses(t *testing.T) {
	if !useVec {
		t.Skip("no AVX2 kernels in this build")
	}
	levels := []bool{false}
	if cpuLevel >= SgemmAVX512 {
		levels = append(levels, true)
	}
	for _, avx512 := range levels {
		old := setVec512(avx512)
		for i, n := range []int{vecMin, vecMin + 13, 4099, 3*geluBlock + 7, 70001} {
			x, gy := geluTestInput(n, int64(i))
			wy, wt, wdx, wdx2 := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
			geluFwdPasses(x, wy, wt)
			geluBwdPasses(x, wt, gy, wdx)
			geluBwdPasses(x, nil, gy, wdx2)
			y, th, y2, dx, dx2 := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
			GELUFwd(x, y, th)
			GELUFwd(x, y2, nil)
			GELUBwd(x, th, gy, dx)
			GELUBwd(x, nil, gy, dx2)
			for j := range x {
				for _, c := range []struct {
					name      string
					got, want float32
				}{{"y", y[j], wy[j]}, {"t", th[j], wt[j]}, {"y (t not kept)", y2[j], wy[j]},
					{"dx", dx[j], wdx[j]}, {"dx (t recomputed)", dx2[j], wdx2[j]}} {
					if math.Float32bits(c.got) != math.Float32bits(c.want) {
						t.Fatalf("avx512 %v, n=%d, x=%g, gy=%g: %s fused %g (%#x), passes %g (%#x)", avx512, n, x[j], gy[j],
							c.name, c.got, math.Float32bits(c.got), c.want, math.Float32bits(c.want))
					}
				}
			}
		}
		setVec512(old)
	}
}

// BenchmarkGELU compares, in one process, the former AVX2 passes with the
// fused kernels at each level the CPU has, on a wide model's FFN
// activation (B·T = 1024 tokens × 2048).
func BenchmarkGELU(b *testing.B) {
	if !useVec {
		b.Skip("no AVX2 kernels in this build")
	}
	n := 1024 * 2048
	// activations as a model's: normal, no subnormals (those take a slow
	// microcode path in any kernel)
	r := rand.New(rand.NewSource(1))
	x, gy := make([]float32, n), make([]float32, n)
	for i := range x {
		x[i], gy[i] = float32(2*r.NormFloat64()), float32(r.NormFloat64())
	}
	y, th, dx := make([]float32, n), make([]float32, n), make([]float32, n)
	type impl struct {
		name     string
		avx512   bool
		fwd      func(x, y, t []float32)
		bwd      func(x, t, gy, dx []float32)
		needs512 bool
	}
	impls := []impl{{"passes", false, geluFwdPasses, geluBwdPasses, false},
		{"fused-avx2", false, geluFwdVec, geluBwdVec, false}, {"fused-avx512", true, geluFwdVec, geluBwdVec, true}}
	for _, im := range impls {
		if im.needs512 && cpuLevel < SgemmAVX512 {
			continue
		}
		b.Run("fwd/"+im.name, func(b *testing.B) {
			old := setVec512(im.avx512)
			defer setVec512(old)
			b.SetBytes(int64(12 * n))
			for b.Loop() {
				im.fwd(x, y, th)
			}
		})
		b.Run("bwd/"+im.name, func(b *testing.B) {
			old := setVec512(im.avx512)
			defer setVec512(old)
			b.SetBytes(int64(16 * n))
			for b.Loop() {
				im.bwd(x, th, gy, dx)
			}
		})
		b.Run("bwd-recompute/"+im.name, func(b *testing.B) {
			old := setVec512(im.avx512)
			defer setVec512(old)
			for b.Loop() {
				im.bwd(x, nil, gy, dx)
			}
		})
	}
}
