package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestFastMath bounds the error of the float32 exp, tanh and sigmoid (the
// scalar Go versions of fastmath.go and the AVX2 versions of fastmath.c)
// against float64 math on a dense sweep of their useful range plus random
// points: relative error ≤ 4e-7 (about 3 float32 ulps; math.Exp rounded to
// float32 is itself 0.5 ulp off), exact limits, NaN propagated.
func TestFastMath(t *testing.T) {
	var xs []float32
	for x := -87.0; x <= 88.3; x += 0.0137 {
		xs = append(xs, float32(x))
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for range 20000 {
		xs = append(xs, float32(rng.NormFloat64()*3), float32(rng.Float64()*1e-3))
	}
	negZero := float32(math.Copysign(0, -1))
	xs = append(xs, 0, negZero, 1e-30, -1e-30, 0.625, -0.625, 9.1, -9.1)
	fns := []struct {
		name   string
		kind   int
		scalar func(float32) float32
		ref    func(float64) float64
		tol    float64
	}{
		{"exp", vExp, expf32, math.Exp, 4e-7},
		{"tanh", vTanh, tanhf32, math.Tanh, 4e-7},
		{"sigmoid", vSigmoid, sigmoidf32, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, 4e-7},
	}
	for _, f := range fns {
		vec := make([]float32, len(xs))
		if useVec {
			vUnary(f.kind, xs, vec)
		}
		var worst, worstV float64
		for i, x := range xs {
			want := f.ref(float64(x))
			e := relErr(float64(f.scalar(x)), want)
			if e > worst {
				worst = e
			}
			if e > f.tol {
				t.Errorf("%s(%v): %v, want %v (rel %.3g)", f.name, x, f.scalar(x), want, e)
			}
			if useVec {
				ev := relErr(float64(vec[i]), want)
				if ev > worstV {
					worstV = ev
				}
				if ev > f.tol {
					t.Errorf("vector %s(%v): %v, want %v (rel %.3g)", f.name, x, vec[i], want, ev)
				}
			}
		}
		t.Logf("%s: worst relative error %.3g (scalar), %.3g (AVX2, used=%v) over %d points", f.name, worst, worstV, useVec, len(xs))
	}
	// tanh is odd: tanh(−0) keeps the sign of zero, like math.Tanh.
	if got := tanhf32(negZero); got != 0 || !math.Signbit(float64(got)) {
		t.Errorf("tanh(−0) = %v (signbit %v), want −0", got, math.Signbit(float64(got)))
	}
	if useVec {
		out := make([]float32, 8)
		vUnary(vTanh, []float32{negZero, negZero, negZero, negZero, negZero, negZero, negZero, negZero}, out)
		if !math.Signbit(float64(out[0])) || out[0] != 0 {
			t.Errorf("vector tanh(−0) = %v, want −0", out[0])
		}
	}
	// limits and NaN
	edge := []float32{-1000, -100, 100, 1000, float32(math.Inf(-1)), float32(math.Inf(1)), float32(math.NaN())}
	want := map[string][]float64{
		"exp":     {0, 0, math.Inf(1), math.Inf(1), 0, math.Inf(1), math.NaN()},
		"tanh":    {-1, -1, 1, 1, -1, 1, math.NaN()},
		"sigmoid": {0, 0, 1, 1, 0, 1, math.NaN()},
	}
	for _, f := range fns {
		vec := make([]float32, len(edge))
		if useVec {
			vUnary(f.kind, edge, vec)
		}
		for i, x := range edge {
			w := want[f.name][i]
			check := func(what string, got float32) {
				if math.IsNaN(w) != math.IsNaN(float64(got)) || (!math.IsNaN(w) && float64(got) != w) {
					t.Errorf("%s %s(%v) = %v, want %v", what, f.name, x, got, w)
				}
			}
			check("scalar", f.scalar(x))
			if useVec {
				check("vector", vec[i])
			}
		}
	}
}

// TestVectorKernels compares every AVX2 float32 kernel with the generic Go
// code on random data, including sizes that are not multiples of 8 and
// stream counts on each code path (1, 2, 4 specialised; 3, 9 generic).
func TestVectorKernels(t *testing.T) {
	if !useVec {
		t.Skip("no AVX2 kernels in this build")
	}
	rng := rand.New(rand.NewPCG(2, 3))
	rnd := func(n int, scale float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * scale)
		}
		return x
	}
	// run computes f with the vector kernels and with the Go code and
	// compares the outputs.
	run := func(name string, tol float64, f func() [][]float32) {
		t.Helper()
		got := f()
		old := setVectorKernels(false)
		want := f()
		setVectorKernels(old)
		for k := range want {
			var maxD, maxW float64
			for i := range want[k] {
				maxD = math.Max(maxD, math.Abs(float64(got[k][i]-want[k][i])))
				maxW = math.Max(maxW, math.Abs(float64(want[k][i])))
			}
			if maxD > tol*math.Max(maxW, 1) || math.IsNaN(maxD) {
				t.Errorf("%s output %d: max|Δ| %.3g (max %.3g)", name, k, maxD, maxW)
			}
		}
	}
	for _, n := range []int{1, 2, 3, 4, 9} {
		for _, c := range []int{5, 16, 37} {
			tok := 13
			h, X, gy := rnd(tok*n, 1), rnd(tok*n*c, 1), rnd(tok*c, 1)
			run("hc.read", 1e-5, func() [][]float32 {
				u, dh, dX := make([]float32, tok*c), make([]float32, tok*n), make([]float32, tok*n*c)
				HCReadFwd(h, X, u, n, c)
				HCReadBwd(h, X, gy, dh, dX, false, n, c)
				return [][]float32{u, dh, dX}
			})
			base := rnd(tok*n*c, 1)
			run("hc.read add", 1e-5, func() [][]float32 {
				dX := append([]float32(nil), base...)
				HCReadBwd(h, X, gy, nil, dX, true, n, c)
				return [][]float32{dX}
			})
			R, p, y, G := rnd(tok*n*n, 1), rnd(tok*n, 1), rnd(tok*c, 1), rnd(tok*n*c, 1)
			run("hc.write", 1e-5, func() [][]float32 {
				out := make([]float32, tok*n*c)
				dR, dX, dp, dy := make([]float32, tok*n*n), make([]float32, tok*n*c), make([]float32, tok*n), make([]float32, tok*c)
				HCWriteFwd(R, X, p, y, out, n, c)
				HCWriteBwd(R, X, p, y, G, dR, dX, dp, dy, n, c)
				return [][]float32{out, dR, dX, dp, dy}
			})
			run("hc.write partial", 1e-5, func() [][]float32 {
				dR, dy := make([]float32, tok*n*n), make([]float32, tok*c)
				HCWriteBwd(R, X, p, y, G, dR, nil, nil, dy, n, c)
				return [][]float32{dR, dy}
			})
		}
		for _, iters := range []int{1, 20} {
			m := 11 // not a multiple of 8
			x, g := rnd(m*n*n, 2), rnd(m*n*n, 1)
			run("sinkhorn", 1e-5, func() [][]float32 {
				y, dx := make([]float32, m*n*n), make([]float32, m*n*n)
				SinkhornFwd(x, y, n, iters)
				SinkhornBwd(x, g, dx, n, iters)
				return [][]float32{y, dx}
			})
		}
	}
	// elementwise primitives on runs long enough for the vector path
	for _, n := range []int{vecMin, 1003, 70000} {
		a, b, g := rnd(n, 1), rnd(n, 1), rnd(n, 1)
		pos := make([]float32, n)
		for i, v := range b {
			pos[i] = float32(math.Abs(float64(v))) + 0.5
		}
		for kind := BinAdd; kind <= BinDiv; kind++ {
			run(fmt.Sprintf("binary %s n=%d", BinNames[kind], n), 1e-6, func() [][]float32 {
				y1, y2, y3 := make([]float32, n), make([]float32, n), make([]float32, n)
				binVV(kind, a, pos, y1)
				binVS(kind, a, 1.7, y2)
				binSV(kind, -0.6, pos, y3)
				var gs [][]float32
				for w := 0; w < 2; w++ {
					d := make([]float32, n)
					if kind == BinMul || kind == BinDiv || (kind == BinSub && w == 1) {
						BinGradDirect(kind, w, a, pos, g, d)
					}
					gs = append(gs, d)
				}
				return append([][]float32{y1, y2, y3}, gs...)
			})
		}
		for kind := BinAdd; kind <= BinRDiv; kind++ {
			run(fmt.Sprintf("scalar %s n=%d", BinNames[kind], n), 1e-6, func() [][]float32 {
				y, dx := make([]float32, n), make([]float32, n)
				ScalarFwd(kind, 1.3, pos, y)
				ScalarGrad(kind, 1.3, pos, g, dx)
				return [][]float32{y, dx}
			})
		}
		for kind := UnaryNeg; kind <= UnaryRelu; kind++ {
			run(fmt.Sprintf("unary %s n=%d", UnaryNames[kind], n), 1e-6, func() [][]float32 {
				in := a
				if kind == UnaryLog || kind == UnarySqrt {
					in = pos
				}
				y, dx := make([]float32, n), make([]float32, n)
				UnaryFwd(kind, in, y)
				xy := in
				if UnaryGradUsesY[kind] {
					xy = y
				}
				UnaryGrad(kind, xy, g, dx)
				return [][]float32{y, dx}
			})
		}
	}
	for _, n := range []int{1, 2, 3, 4} {
		for _, k := range []int{5, 40, 96, 300} { // 300: two K-blocks of the thin projection, the second partial
			w := n*n + 2*n
			tok := 11 // 4-row blocks and a remainder
			x, phi, alpha, bias, gy := rnd(tok*k, 1), rnd(k*w, 0.3), rnd(3, 1), rnd(w, 1), rnd(tok*w, 1)
			run(fmt.Sprintf("hc.coeffs n=%d K=%d", n, k), 1e-5, func() [][]float32 {
				st, tmp := &Side{}, &Side{}
				y := make([]float32, tok*w)
				HCCoeffsFwd(x, phi, alpha, bias, y, st, n, k, 1e-6)
				dx, dphi, da, db := make([]float32, tok*k), make([]float32, k*w), make([]float32, 3), make([]float32, w)
				HCCoeffsBwd(x, phi, alpha, y, gy, st, tmp, n, k, false, dx, dphi, da, db)
				return [][]float32{y, dx, dphi, da, db}
			})
			base := rnd(tok*k, 1)
			run(fmt.Sprintf("hc.coeffs accumulate n=%d K=%d", n, k), 1e-5, func() [][]float32 {
				st, tmp := &Side{}, &Side{}
				y := make([]float32, tok*w)
				HCCoeffsFwd(x, phi, alpha, bias, y, st, n, k, 1e-6)
				dx := append([]float32(nil), base...)
				HCCoeffsBwd(x, phi, alpha, y, gy, st, tmp, n, k, true, dx, nil, nil, nil)
				return [][]float32{dx}
			})
		}
	}
	for _, c := range []int{3, 8, 45} {
		rows := 9
		x, g, gy := rnd(rows*c, 1), rnd(c, 1), rnd(rows*c, 1)
		run(fmt.Sprintf("rmsnorm C=%d", c), 1e-5, func() [][]float32 {
			y, dx, dg := make([]float32, rows*c), make([]float32, rows*c), make([]float32, c)
			RMSNormFwd(x, g, y, c, 1e-5)
			RMSNormBwd(x, g, gy, dx, dg, &Side{}, c, 1e-5)
			return [][]float32{y, dx, dg}
		})
	}
	for _, tt := range []int{1, 5, 17} {
		for _, causal := range []bool{true, false} {
			S, dP := rnd(tt*tt, 3), rnd(tt*tt, 1)
			run("attention softmax", 1e-6, func() [][]float32 {
				P := append([]float32(nil), S...)
				attnSoftmax(P, tt, causal, 0.7)
				ds := append([]float32(nil), dP...)
				attnDSoftmax(P, ds, tt, causal, 0.7)
				return [][]float32{P, ds}
			})
		}
	}
	for _, v := range []int{3, 8, 29} {
		rows := 7
		x, g := rnd(rows*v, 4), rnd(rows*v, 1)
		tg := make([]int, rows)
		for i := range tg {
			tg[i] = (i * 5) % v
		}
		run("softmax", 1e-5, func() [][]float32 {
			y, ly := make([]float32, rows*v), make([]float32, rows*v)
			SoftmaxFwd(x, y, v, false)
			SoftmaxFwd(x, ly, v, true)
			dy := make([]float32, rows*v)
			SoftmaxGrad(ly, g, dy, v, true)
			return [][]float32{y, ly, dy}
		})
		run("cross_entropy", 1e-6, func() [][]float32 {
			st := &Side{}
			l := make([]float32, 1)
			if err := CrossEntropyFwd(x, tg, l, v, st); err != nil {
				t.Fatal(err)
			}
			dx := make([]float32, rows*v)
			CrossEntropyBwd(tg, 1.5, dx, v, st)
			return [][]float32{l, dx}
		})
	}
}

// TestStreamGradAccumulate pins the accumulating modes of the stream
// readers' backward kernels (used by the gradient accumulation that
// backend/gorgonia/streams.go plans) to their overwriting modes: added onto
// a buffer d0, they give d0 + what they write into a zeroed one, in float64
// and in float32 (AVX2 when available).
func TestStreamGradAccumulate(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	rnd := func(n int) []float64 { return normals(rng, n) }
	f32 := narrow
	check := func(name string, tol float64, d0, fresh, added []float64) {
		t.Helper()
		for i := range d0 {
			if d := math.Abs(added[i] - (d0[i] + fresh[i])); d > tol*(1+math.Abs(added[i])) {
				t.Fatalf("%s: element %d: accumulated %v, want %v + %v", name, i, added[i], d0[i], fresh[i])
			}
		}
	}
	widen := func(x []float32) []float64 {
		y := make([]float64, len(x))
		for i, v := range x {
			y[i] = float64(v)
		}
		return y
	}
	for _, n := range []int{1, 3, 4} {
		const tok, c = 7, 19
		h, X, gy, d0 := rnd(tok*n), rnd(tok*n*c), rnd(tok*c), rnd(tok*n*c)
		fresh := make([]float64, len(d0))
		HCReadBwd(h, X, gy, nil, fresh, false, n, c)
		added := append([]float64(nil), d0...)
		HCReadBwd(h, X, gy, nil, added, true, n, c)
		check(fmt.Sprintf("hc.read n=%d float64", n), 1e-14, d0, fresh, added)
		added32 := f32(d0)
		HCReadBwd(f32(h), f32(X), f32(gy), nil, added32, true, n, c)
		check(fmt.Sprintf("hc.read n=%d float32", n), 1e-5, d0, fresh, widen(added32))

		const k = 40
		w := n*n + 2*n
		x, phi, alpha, bias, g, e0 := rnd(tok*k), rnd(k*w), rnd(3), rnd(w), rnd(tok*w), rnd(tok*k)
		y := make([]float64, tok*w)
		st := &Side{}
		HCCoeffsFwd(x, phi, alpha, bias, y, st, n, k, 1e-6)
		dfresh := make([]float64, tok*k)
		HCCoeffsBwd(x, phi, alpha, y, g, st, &Side{}, n, k, false, dfresh, nil, nil, nil)
		dadded := append([]float64(nil), e0...)
		HCCoeffsBwd(x, phi, alpha, y, g, st, &Side{}, n, k, true, dadded, nil, nil, nil)
		check(fmt.Sprintf("hc.coeffs n=%d float64", n), 1e-13, e0, dfresh, dadded)
		y32, st32 := make([]float32, tok*w), &Side{}
		HCCoeffsFwd(f32(x), f32(phi), f32(alpha), f32(bias), y32, st32, n, k, 1e-6)
		d32 := f32(e0)
		HCCoeffsBwd(f32(x), f32(phi), f32(alpha), y32, f32(g), st32, &Side{}, n, k, true, d32, nil, nil, nil)
		check(fmt.Sprintf("hc.coeffs n=%d float32", n), 1e-4, e0, dfresh, widen(d32))
	}
}

// relErr is |a − b| relative to the larger magnitude (at least 1e-12).
func relErr(a, b float64) float64 {
	return math.Abs(a-b) / math.Max(math.Max(math.Abs(a), math.Abs(b)), 1e-12)
}
