package gorgonia

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/mhcc/mhcc/ir"
)

// Tests of the fused ops (norm.go, hc.go, attention.go, matmul.go): every
// op through the harness (forward vs the naive reference, two runs, every
// gradient vs float64 central differences, float32 vs float64), and
// against the same computation written with primitive IR ops.

func attrs(kv ...any) ir.Attrs {
	var as ir.Attrs
	for i := 0; i < len(kv); i += 2 {
		as = append(as, ir.Attr{Key: kv[i].(string), Val: kv[i+1]})
	}
	return as
}

// constLike is a value of the given shape that does not depend on any param
// (a broadcast constant), so the fused op gets no gradient for it.
func constLike(b *ir.Builder, c float64, dims ...int) *ir.Value {
	ones := make([]int, len(dims))
	for i := range ones {
		ones[i] = 1
	}
	return b.Broadcast(b.Reshape(b.Const(c), ir.Dims(ones...)), ir.Dims(dims...))
}

// The fused ops, built with ir.Builder.

func fRMSNorm(b *ir.Builder, x, g *ir.Value, eps float64) *ir.Value {
	return b.Apply(ir.OpRMSNorm, attrs("eps", eps), x, g)
}

func fSinkhorn(b *ir.Builder, l *ir.Value, iters int) *ir.Value {
	return b.Apply(ir.OpSinkhorn, attrs("iters", iters), l)
}

func fHCCoeffs(b *ir.Builder, x, phi, alpha, bias *ir.Value, n int, eps float64) *ir.Value {
	return b.Apply(ir.OpHCCoeffs, attrs("n", n, "eps", eps), x, phi, alpha, bias)
}

func fAttention(b *ir.Builder, q, k, v *ir.Value, scale float64, causal bool) *ir.Value {
	return b.Apply(ir.OpAttention, attrs("scale", scale, "causal", causal), q, k, v)
}

// The same computations from primitive ops, written as compiler/lower.go
// and compiler/hyper.go emit them (the patterns the fusion passes match).

func pGELU(b *ir.Builder, x *ir.Value) *ir.Value {
	x3 := b.Mul(b.Square(x), x)
	inner := b.Scale(b.Add(x, b.Scale(x3, 0.044715)), math.Sqrt(2/math.Pi))
	return b.Mul(b.Scale(x, 0.5), b.Add(b.Tanh(inner), b.Const(1)))
}

func pRMSNorm(b *ir.Builder, x, g *ir.Value, eps float64) *ir.Value {
	r := b.Sqrt(b.Add(b.Mean(b.Square(x), -1), b.Const(eps)))
	return b.Mul(b.Div(x, r), g)
}

func pSinkhorn(b *ir.Builder, l *ir.Value, iters int) *ir.Value {
	r := l.Type.Shape.Rank()
	M := b.Exp(b.Sub(l, b.Max(l, r-2, r-1)))
	for range iters {
		M = b.Div(M, b.Sum(M, r-2))
		M = b.Div(M, b.Sum(M, r-1))
	}
	return M
}

// pHCCoeffs returns the three groups [pre, post, res] of hc.coeffs.
func pHCCoeffs(b *ir.Builder, x, phi, alpha, bias *ir.Value, n int, eps float64) [3]*ir.Value {
	return pHCCoeffsRes(b, x, phi, alpha, bias, n, n*n, eps)
}

// pHCCoeffsRes is pHCCoeffs with a res group of R columns.
func pHCCoeffsRes(b *ir.Builder, x, phi, alpha, bias *ir.Value, n, R int, eps float64) [3]*ir.Value {
	w := 2*n + R
	r := b.Sqrt(b.Add(b.Mean(b.Square(x), -1), b.Const(eps)))
	m := b.Div(b.Matmul(x, phi, false), r)
	group := func(i, start, end int) *ir.Value {
		return b.Add(b.Mul(b.Slice(m, -1, start, end), b.Slice(alpha, 0, i, i+1)), b.Slice(bias, 0, start, end))
	}
	return [3]*ir.Value{b.Sigmoid(group(0, 0, n)), b.Scale(b.Sigmoid(group(1, n, 2*n)), 2), group(2, 2*n, w)}
}

func lead(v *ir.Value, drop int) ir.Shape {
	s := v.Type.Shape
	return s[:s.Rank()-drop].Clone()
}

func pHCRead(b *ir.Builder, h, X *ir.Value) *ir.Value {
	r := X.Type.Shape.Rank()
	hr := b.Reshape(h, append(lead(h, 0), ir.D(1)))
	return b.Reshape(b.Sum(b.Mul(X, hr), r-2), append(lead(X, 2), X.Type.Shape[r-1]))
}

func pHCWrite(b *ir.Builder, R, X, p, y *ir.Value) *ir.Value {
	c := X.Type.Shape[X.Type.Shape.Rank()-1]
	mix := b.Matmul(R, X, false)
	return b.Add(mix, b.Mul(b.Reshape(p, append(lead(p, 0), ir.D(1))), b.Reshape(y, append(lead(y, 1), ir.D(1), c))))
}

func pAttention(b *ir.Builder, q, k, v *ir.Value, scale float64, causal bool) *ir.Value {
	s := b.Scale(b.Matmul(q, k, true), scale)
	if causal {
		s = b.CausalMask(s)
	}
	return b.Matmul(b.Softmax(s), v, false)
}

func pCrossEntropy(b *ir.Builder, x, t *ir.Value) *ir.Value {
	axes := make([]int, t.Type.Shape.Rank())
	for i := range axes {
		axes[i] = i
	}
	return b.Neg(b.Reshape(b.Mean(b.Pick(b.LogSoftmax(x), t), axes...), ir.Shape{}))
}

// sumLossAll outputs loss = Σ_i sum(y_i ⊙ R_i) with random params R_i.
func sumLossAll(b *ir.Builder, ys ...*ir.Value) {
	var total *ir.Value
	for i, y := range ys {
		r := b.Param(fmt.Sprintf("R%d", i), y.Type.Shape, normal1, false)
		s := b.Mul(y, r)
		if n := s.Type.Shape.Rank(); n > 0 {
			axes := make([]int, n)
			for j := range axes {
				axes[j] = j
			}
			s = b.Reshape(b.Sum(s, axes...), ir.Shape{})
		}
		if total == nil {
			total = s
		} else {
			total = b.Add(total, s)
		}
	}
	b.Output("loss", total)
}

// splitLast slices y's last axis into pieces of the given widths.
func splitLast(b *ir.Builder, y *ir.Value, widths ...int) []*ir.Value {
	var out []*ir.Value
	off := 0
	for _, w := range widths {
		out = append(out, b.Slice(y, -1, off, off+w))
		off += w
	}
	return out
}

var i32 = func(dims ...int) ir.Type { return ir.Type{DType: ir.I32, Shape: ir.Dims(dims...)} }

// fusedCase is one fused op in fused and primitive form. build gets a flag
// (true: fused) and must output the loss.
type fusedCase struct {
	name   string
	inputs map[string][]int
	build  func(b *ir.Builder, fused bool)
}

func fusedCases() []fusedCase {
	var cs []fusedCase
	add := func(name string, in map[string][]int, f func(b *ir.Builder, fused bool)) {
		cs = append(cs, fusedCase{name, in, f})
	}
	// rmsnorm
	for _, s := range [][]int{{3, 5}, {2, 3, 4}, {2, 1, 3, 6}, {4, 1}} {
		add(fmt.Sprintf("rmsnorm%v", s), nil, func(b *ir.Builder, fused bool) {
			x := param(b, "x", d(s...)...)
			g := param(b, "g", d(s[len(s)-1])...)
			if fused {
				sumLossAll(b, fRMSNorm(b, x, g, 1e-5))
			} else {
				sumLossAll(b, pRMSNorm(b, x, g, 1e-5))
			}
		})
	}
	add("rmsnorm_const_gain", nil, func(b *ir.Builder, fused bool) {
		x := param(b, "x", d(2, 3, 4)...)
		g := constLike(b, 1.5, 4)
		if fused {
			sumLossAll(b, fRMSNorm(b, x, g, 1e-6))
		} else {
			sumLossAll(b, pRMSNorm(b, x, g, 1e-6))
		}
	})
	// sinkhorn
	for _, n := range []int{1, 2, 4} {
		for _, it := range []int{1, 3, 20} {
			add(fmt.Sprintf("sinkhorn_n%d_t%d", n, it), nil, func(b *ir.Builder, fused bool) {
				l := param(b, "x", d(2, 3, n, n)...)
				if fused {
					sumLossAll(b, fSinkhorn(b, l, it))
				} else {
					sumLossAll(b, pSinkhorn(b, l, it))
				}
			})
		}
	}
	// hc.coeffs, its three groups compared separately
	for _, n := range []int{1, 2, 4} {
		add(fmt.Sprintf("hc.coeffs_n%d", n), nil, func(b *ir.Builder, fused bool) {
			const C = 3
			w := n*n + 2*n
			x := param(b, "x", d(2, 3, n*C)...)
			phi := param(b, "phi", d(n*C, w)...)
			alpha := param(b, "alpha", d(3)...)
			bias := param(b, "bias", d(w)...)
			if fused {
				sumLossAll(b, splitLast(b, fHCCoeffs(b, x, phi, alpha, bias, n, 1e-6), n, n, n*n)...)
			} else {
				g := pHCCoeffs(b, x, phi, alpha, bias, n, 1e-6)
				sumLossAll(b, g[:]...)
			}
		})
	}
	// the permutations layout: a res block of R = n! columns (res attr)
	for _, n := range []int{2, 3} {
		add(fmt.Sprintf("hc.coeffs_perm_n%d", n), nil, func(b *ir.Builder, fused bool) {
			const C = 3
			R := ir.Factorial(n)
			w := 2*n + R
			x := param(b, "x", d(2, 3, n*C)...)
			phi := param(b, "phi", d(n*C, w)...)
			alpha := param(b, "alpha", d(3)...)
			bias := param(b, "bias", d(w)...)
			if fused {
				c := b.Apply(ir.OpHCCoeffs, attrs("n", n, "eps", 1e-6, "res", R), x, phi, alpha, bias)
				sumLossAll(b, splitLast(b, c, n, n, R)...)
			} else {
				g := pHCCoeffsRes(b, x, phi, alpha, bias, n, R, 1e-6)
				sumLossAll(b, g[:]...)
			}
		})
	}
	add("hc.coeffs_only_x", nil, func(b *ir.Builder, fused bool) {
		const n, C = 2, 2
		x := param(b, "x", d(3, n*C)...)
		phi := constLike(b, 0.3, n*C, n*n+2*n)
		alpha := constLike(b, 0.7, 3)
		bias := constLike(b, -0.2, n*n+2*n)
		if fused {
			sumLossAll(b, splitLast(b, fHCCoeffs(b, x, phi, alpha, bias, n, 1e-6), n, n, n*n)...)
		} else {
			g := pHCCoeffs(b, x, phi, alpha, bias, n, 1e-6)
			sumLossAll(b, g[:]...)
		}
	})
	// hc.read and hc.write
	for _, n := range []int{1, 2, 4} {
		add(fmt.Sprintf("hc.read_n%d", n), nil, func(b *ir.Builder, fused bool) {
			h := param(b, "h", d(2, 3, n)...)
			X := param(b, "X", d(2, 3, n, 5)...)
			if fused {
				sumLossAll(b, b.Apply(ir.OpHCRead, nil, h, X))
			} else {
				sumLossAll(b, pHCRead(b, h, X))
			}
		})
		add(fmt.Sprintf("hc.write_n%d", n), nil, func(b *ir.Builder, fused bool) {
			R := param(b, "R", d(2, 3, n, n)...)
			X := param(b, "X", d(2, 3, n, 5)...)
			p := param(b, "p", d(2, 3, n)...)
			y := param(b, "y", d(2, 3, 5)...)
			if fused {
				sumLossAll(b, b.Apply(ir.OpHCWrite, nil, R, X, p, y))
			} else {
				sumLossAll(b, pHCWrite(b, R, X, p, y))
			}
		})
	}
	add("hc.read_const_h", nil, func(b *ir.Builder, fused bool) {
		h := constLike(b, 0.4, 3, 2)
		X := param(b, "X", d(3, 2, 4)...)
		if fused {
			sumLossAll(b, b.Apply(ir.OpHCRead, nil, h, X))
		} else {
			sumLossAll(b, pHCRead(b, h, X))
		}
	})
	add("hc.write_only_y_and_p", nil, func(b *ir.Builder, fused bool) {
		R := constLike(b, 0.25, 3, 2, 2)
		X := constLike(b, -1, 3, 2, 4)
		p := param(b, "p", d(3, 2)...)
		y := param(b, "y", d(3, 4)...)
		if fused {
			sumLossAll(b, b.Apply(ir.OpHCWrite, nil, R, X, p, y))
		} else {
			sumLossAll(b, pHCWrite(b, R, X, p, y))
		}
	})
	// attention: T ∈ {1, 5}, causal or not, rank 3 and 4, dv ≠ d
	for _, T := range []int{1, 5} {
		for _, causal := range []bool{true, false} {
			for _, lead := range [][]int{{2}, {2, 2}} {
				add(fmt.Sprintf("attention_T%d_causal=%v_%v", T, causal, lead), nil, func(b *ir.Builder, fused bool) {
					q := param(b, "q", d(append(slices.Clone(lead), T, 3)...)...)
					k := param(b, "k", d(append(slices.Clone(lead), T, 3)...)...)
					v := param(b, "v", d(append(slices.Clone(lead), T, 4)...)...)
					if fused {
						sumLossAll(b, fAttention(b, q, k, v, 0.6, causal))
					} else {
						sumLossAll(b, pAttention(b, q, k, v, 0.6, causal))
					}
				})
			}
		}
	}
	// causal T ≥ 64 takes the blocked path (row blocks of 32)
	add("attention_T64_blocked", nil, func(b *ir.Builder, fused bool) {
		q, k, v := param(b, "q", d(1, 64, 2)...), param(b, "k", d(1, 64, 2)...), param(b, "v", d(1, 64, 2)...)
		if fused {
			sumLossAll(b, fAttention(b, q, k, v, 0.8, true))
		} else {
			sumLossAll(b, pAttention(b, q, k, v, 0.8, true))
		}
	})
	add("attention_self", nil, func(b *ir.Builder, fused bool) { // q = k = v: gradients add up
		x := param(b, "x", d(2, 4, 3)...)
		if fused {
			sumLossAll(b, fAttention(b, x, x, x, 0.5, true))
		} else {
			sumLossAll(b, pAttention(b, x, x, x, 0.5, true))
		}
	})
	add("attention_only_v", nil, func(b *ir.Builder, fused bool) {
		q := constLike(b, 0.3, 2, 4, 3)
		v := param(b, "v", d(2, 4, 2)...)
		if fused {
			sumLossAll(b, fAttention(b, q, q, v, 1, true))
		} else {
			sumLossAll(b, pAttention(b, q, q, v, 1, true))
		}
	})
	// cross_entropy
	ce := func(name string, shape []int, tg []int, scaled bool) {
		add(name, map[string][]int{"t": tg}, func(b *ir.Builder, fused bool) {
			x := param(b, "x", d(shape...)...)
			t := b.Input("t", i32(shape[:len(shape)-1]...))
			var l *ir.Value
			if fused {
				l = b.Apply(ir.OpCrossEntropy, nil, x, t)
			} else {
				l = pCrossEntropy(b, x, t)
			}
			if scaled {
				sumLossAll(b, l)
			} else {
				b.Output("loss", l)
			}
		})
	}
	ce("cross_entropy", []int{2, 3, 5}, []int{1, 0, 4, 4, 2, 4}, false)
	ce("cross_entropy_scaled", []int{4, 7}, []int{6, 6, 0, 3}, true)
	ce("cross_entropy_one_row", []int{1, 3}, []int{2}, false)
	// matmul.concat
	mmc := func(name string, xs []int, widths []int, same bool) {
		add(name, nil, func(b *ir.Builder, fused bool) {
			x := param(b, "x", d(xs...)...)
			k := xs[len(xs)-1]
			var ws []*ir.Value
			for i, w := range widths {
				if same && i > 0 {
					ws = append(ws, ws[0])
					continue
				}
				ws = append(ws, param(b, fmt.Sprintf("w%d", i), d(k, w)...))
			}
			var ys []*ir.Value
			if fused {
				ys = splitLast(b, b.Apply(ir.OpMatmulConcat, nil, append([]*ir.Value{x}, ws...)...), widths...)
			} else {
				for _, w := range ws {
					ys = append(ys, b.Matmul(x, w, false))
				}
			}
			sumLossAll(b, ys...)
		})
	}
	// gelu, including a scaled input reaching the saturated tails
	for _, s := range [][]int{{3, 5}, {2, 3, 4}, {7}} {
		add(fmt.Sprintf("gelu%v", s), nil, func(b *ir.Builder, fused bool) {
			x := param(b, "x", d(s...)...)
			if fused {
				sumLossAll(b, b.Apply(ir.OpGELU, nil, x))
			} else {
				sumLossAll(b, pGELU(b, x))
			}
		})
	}
	add("gelu_wide", nil, func(b *ir.Builder, fused bool) {
		x := b.Scale(param(b, "x", d(4, 6)...), 4)
		if fused {
			sumLossAll(b, b.Apply(ir.OpGELU, nil, x))
		} else {
			sumLossAll(b, pGELU(b, x))
		}
	})
	mmc("matmul.concat_qkv", []int{2, 3, 4}, []int{2, 3, 1}, false)
	mmc("matmul.concat_one", []int{3, 4}, []int{5}, false)
	mmc("matmul.concat_same_weight", []int{2, 2, 3}, []int{2, 2}, true)
	return cs
}

// TestFusedOps runs every fused op through the harness: forward against the
// naive reference, two identical runs, every gradient against float64
// central differences, float32 against float64.
func TestFusedOps(t *testing.T) {
	var cases []gcase
	for _, fc := range fusedCases() {
		cases = append(cases, gcase{name: fc.name, inputs: fc.inputs, build: func(b *ir.Builder) { fc.build(b, true) }})
	}
	runCases(t, cases)
}

// gradsOf returns the loss and every parameter's gradient (as float64).
func gradsOf(t testing.TB, m *ir.Module, dt DType, binds map[string]int, vals map[string][]float64, inputs map[string][]int) (float64, map[string][]float64) {
	t.Helper()
	g, err := Build(m, Options{Binds: binds, DType: dt, Grad: true})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	defer g.Close()
	setValues(t, g, vals)
	setInputs(t, g, inputs)
	loss, err := g.Run()
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	out := map[string][]float64{}
	for _, p := range g.Params() {
		if dt == Float64 {
			out[p.Name] = slices.Clone(p.GradF64())
		} else {
			for _, v := range p.GradF32() {
				out[p.Name] = append(out[p.Name], float64(v))
			}
		}
	}
	// a second run gives bit-identical results
	loss2, err := g.Run()
	if err != nil {
		t.Fatal(err)
	}
	if loss2 != loss {
		t.Errorf("%v: second run loss %v, first %v", dt, loss2, loss)
	}
	for _, p := range g.Params() {
		var same bool
		if dt == Float64 {
			same = slices.Equal(p.GradF64(), out[p.Name])
		} else {
			same = true
			for i, v := range p.GradF32() {
				same = same && float64(v) == out[p.Name][i]
			}
		}
		if !same {
			t.Errorf("%v: second run changed the gradient of %s", dt, p.Name)
		}
	}
	return loss, out
}

// compareGrads checks that two gradient sets agree: for every param,
// max|Δ| ≤ tol·max|g| (relative in the max norm).
func compareGrads(t testing.TB, what string, want, got map[string][]float64, tol float64) (worst float64) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: params %d vs %d", what, len(want), len(got))
	}
	for name, w := range want {
		gv, ok := got[name]
		if !ok || len(gv) != len(w) {
			t.Errorf("%s: gradient of %s missing or of another size", what, name)
			continue
		}
		var maxD, maxG float64
		for i := range w {
			maxD = math.Max(maxD, math.Abs(w[i]-gv[i]))
			maxG = math.Max(maxG, math.Abs(w[i]))
		}
		rel := maxD / math.Max(maxG, 1e-30)
		if maxG == 0 && maxD == 0 {
			rel = 0
		}
		worst = math.Max(worst, rel)
		if rel > tol {
			t.Errorf("%s: gradient of %s: max|Δ| %.3g, max|g| %.3g (rel %.3g > %g)", what, name, maxD, maxG, rel, tol)
		}
	}
	return worst
}

// comparePrimitive builds prim and fused with the same param values and
// checks loss and every gradient: within 1e-9 in float64 and 1e-4 in
// float32 (relative), each form run twice with identical results.
func comparePrimitive(t *testing.T, prim, fused *ir.Module, binds map[string]int, inputs map[string][]int) {
	t.Helper()
	vals := testValues(prim, binds, 11)
	for _, p := range fused.Params() {
		if _, ok := vals[p.Param()]; !ok {
			t.Fatalf("param %s of the fused module is not in the primitive one", p.Param())
		}
	}
	for _, c := range []struct {
		dt  DType
		tol float64
	}{{Float64, 1e-9}, {Float32, 1e-4}} {
		lp, gp := gradsOf(t, prim, c.dt, binds, vals, inputs)
		lf, gf := gradsOf(t, fused, c.dt, binds, vals, inputs)
		if e := relErr(lp, lf); e > c.tol {
			t.Errorf("%v: loss primitive %.12g, fused %.12g (rel %.3g)", c.dt, lp, lf, e)
		}
		worst := compareGrads(t, c.dt.String(), gp, gf, c.tol)
		t.Logf("%v: loss rel %.2g, worst gradient rel %.2g", c.dt, relErr(lp, lf), worst)
	}
}

// largeCases are fused-vs-primitive cases too big for the finite-difference
// harness.
func largeCases() []fusedCase {
	var cs []fusedCase
	for _, T := range []int{70, 128} {
		for _, causal := range []bool{true, false} {
			cs = append(cs, fusedCase{fmt.Sprintf("attention_T%d_causal=%v", T, causal), nil, func(b *ir.Builder, fused bool) {
				q, k, v := param(b, "q", d(2, 2, T, 8)...), param(b, "k", d(2, 2, T, 8)...), param(b, "v", d(2, 2, T, 5)...)
				if fused {
					sumLossAll(b, fAttention(b, q, k, v, 0.3, causal))
				} else {
					sumLossAll(b, pAttention(b, q, k, v, 0.3, causal))
				}
			}})
		}
	}
	for _, n := range []int{1, 2, 4} {
		cs = append(cs, fusedCase{fmt.Sprintf("hc.coeffs_n%d_C128", n), nil, func(b *ir.Builder, fused bool) {
			const C = 128
			w := n*n + 2*n
			x := param(b, "x", d(3, 7, n*C)...)
			phi, alpha, bias := param(b, "phi", d(n*C, w)...), param(b, "alpha", d(3)...), param(b, "bias", d(w)...)
			if fused {
				sumLossAll(b, splitLast(b, fHCCoeffs(b, x, phi, alpha, bias, n, 1e-6), n, n, n*n)...)
			} else {
				g := pHCCoeffs(b, x, phi, alpha, bias, n, 1e-6)
				sumLossAll(b, g[:]...)
			}
		}})
	}
	cs = append(cs, fusedCase{"gelu_3x7x128", nil, func(b *ir.Builder, fused bool) {
		x := param(b, "x", d(3, 7, 128)...) // large enough to run in parallel chunks
		if fused {
			sumLossAll(b, b.Apply(ir.OpGELU, nil, x))
		} else {
			sumLossAll(b, pGELU(b, x))
		}
	}})
	return cs
}

// TestFusedVsPrimitive compares every fused op with its primitive form.
func TestFusedVsPrimitive(t *testing.T) {
	for _, fc := range append(fusedCases(), largeCases()...) {
		t.Run(fc.name, func(t *testing.T) {
			mk := func(fused bool) *ir.Module {
				b := ir.NewBuilder(fc.name + ".mhc")
				fc.build(b, fused)
				if err := b.Err(); err != nil {
					t.Fatal(err)
				}
				return b.M
			}
			comparePrimitive(t, mk(false), mk(true), nil, fc.inputs)
		})
	}
}

// hcSublayer builds one mHC sublayer (mhc.md §3) on X [B,T,n,C], with
// attention as F, fused or from primitives; it returns X'.
func hcSublayer(b *ir.Builder, X *ir.Value, n, C, H int, fused bool) *ir.Value {
	B, T := ir.S("B"), ir.S("T")
	bt := func(dims ...int) ir.Shape { return append(ir.Shape{B, T}, ir.Dims(dims...)...) }
	w := n*n + 2*n
	phi := b.Param("phi", ir.Dims(n*C, w), normal1, true)
	bias := b.Param("bias", ir.Dims(w), normal1, false)
	alpha := b.Param("alpha", ir.Dims(3), normal1, false)
	g := b.Param("posg", ir.Dims(C), normal1, false)
	wq := b.Param("wq", ir.Dims(C, C), normal1, true)
	wk := b.Param("wk", ir.Dims(C, C), normal1, true)
	wv := b.Param("wv", ir.Dims(C, C), normal1, true)
	xf := b.Reshape(X, bt(n*C))
	var pre, post, res *ir.Value
	if fused {
		parts := splitLast(b, fHCCoeffs(b, xf, phi, alpha, bias, n, 1e-6), n, n, n*n)
		pre, post, res = parts[0], parts[1], parts[2]
	} else {
		gs := pHCCoeffs(b, xf, phi, alpha, bias, n, 1e-6)
		pre, post, res = gs[0], gs[1], gs[2]
	}
	res = b.Reshape(res, bt(n, n))
	var u, hRes *ir.Value
	if fused {
		hRes = fSinkhorn(b, res, 20)
		u = fRMSNorm(b, b.Apply(ir.OpHCRead, nil, pre, X), g, 1e-5)
	} else {
		hRes = pSinkhorn(b, res, 20)
		u = pRMSNorm(b, pHCRead(b, pre, X), g, 1e-5)
	}
	dh := C / H
	heads := func(p *ir.Value) *ir.Value { return b.Transpose(b.Reshape(p, bt(H, dh)), 0, 2, 1, 3) }
	var q, k, v *ir.Value
	if fused {
		qkv := splitLast(b, b.Apply(ir.OpMatmulConcat, nil, u, wq, wk, wv), C, C, C)
		q, k, v = heads(qkv[0]), heads(qkv[1]), heads(qkv[2])
	} else {
		q, k, v = heads(b.Matmul(u, wq, false)), heads(b.Matmul(u, wk, false)), heads(b.Matmul(u, wv, false))
	}
	q, k = b.Rope(q, 10000), b.Rope(k, 10000)
	var o *ir.Value
	if fused {
		o = fAttention(b, q, k, v, 1/math.Sqrt(float64(dh)), true)
	} else {
		o = pAttention(b, q, k, v, 1/math.Sqrt(float64(dh)), true)
	}
	y := b.Reshape(b.Transpose(o, 0, 2, 1, 3), bt(C))
	if fused {
		return b.Apply(ir.OpHCWrite, nil, hRes, X, post, y)
	}
	return pHCWrite(b, hRes, X, post, y)
}

// TestFusedSublayer compares a whole mHC sublayer (coefficients, Sinkhorn,
// read, RMSNorm, QKV, attention, write) and a cross-entropy head, fused vs
// primitive, for n ∈ {1, 2, 4}, with symbolic B and T.
func TestFusedSublayer(t *testing.T) {
	for _, n := range []int{1, 2, 4} {
		t.Run(fmt.Sprint("n", n), func(t *testing.T) {
			const C, H, V = 4, 2, 5
			binds := map[string]int{"B": 2, "T": 3}
			mk := func(fused bool) *ir.Module {
				b := ir.NewBuilder("sublayer.mhc", "B", "T")
				B, T := ir.S("B"), ir.S("T")
				X := b.Param("X", ir.Shape{B, T, ir.D(n), ir.D(C)}, normal1, false)
				X2 := hcSublayer(b, X, n, C, H, fused)
				h := b.Reshape(b.Sum(X2, 2), ir.Shape{B, T, ir.D(C)})
				logits := b.Matmul(h, b.Param("head", ir.Dims(C, V), normal1, true), false)
				tg := b.Input("t", ir.Type{DType: ir.I32, Shape: ir.Shape{B, T}})
				if fused {
					b.Output("loss", b.Apply(ir.OpCrossEntropy, nil, logits, tg))
				} else {
					b.Output("loss", pCrossEntropy(b, logits, tg))
				}
				if err := b.Err(); err != nil {
					t.Fatal(err)
				}
				return b.M
			}
			comparePrimitive(t, mk(false), mk(true), binds, map[string][]int{"t": {1, 4, 0, 2, 2, 3}})
		})
	}
}

// TestHCWriteOrientation pins the transpose trap (mhc.md §3): row i of
// H_res produces stream i, with a non-symmetric H_res.
func TestHCWriteOrientation(t *testing.T) {
	b := ir.NewBuilder("orient.mhc")
	R := b.Param("R", ir.Dims(1, 2, 2), normal1, false)
	X := b.Param("X", ir.Dims(1, 2, 1), normal1, false)
	p := b.Param("p", ir.Dims(1, 2), normal1, false)
	y := b.Param("y", ir.Dims(1, 1), normal1, false)
	out := b.Apply(ir.OpHCWrite, nil, R, X, p, y) // [1,2,1]
	// loss = out[stream 0]·1 + out[stream 1]·10
	w := b.Param("w", ir.Dims(1, 2, 1), normal1, false)
	b.Output("loss", b.Reshape(b.Sum(b.Mul(out, w), 0, 1, 2), ir.Shape{}))
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	g, err := Build(b.M, Options{DType: Float64, Grad: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	// H_res = [[0.9, 0.1], [0.3, 0.7]], X = [2, 5], H_post = [0, 0]
	setValues(t, g, map[string][]float64{"R": {0.9, 0.1, 0.3, 0.7}, "X": {2, 5}, "p": {0, 0}, "y": {1}, "w": {1, 10}})
	loss, err := g.Run()
	if err != nil {
		t.Fatal(err)
	}
	// stream 0 = 0.9·2 + 0.1·5 = 2.3; stream 1 = 0.3·2 + 0.7·5 = 4.1
	if want := 2.3 + 10*4.1; math.Abs(loss-want) > 1e-12 {
		t.Errorf("loss %v, want %v (H_res applied transposed gives %v)", loss, want, (0.9*2+0.3*5)+10*(0.1*2+0.7*5))
	}
	// dX_j = Σ_i H_res[i,j]·w_i: dX_0 = 0.9 + 3 = 3.9, dX_1 = 0.1 + 7 = 7.1
	if gx := g.Param("X").GradF64(); math.Abs(gx[0]-3.9) > 1e-12 || math.Abs(gx[1]-7.1) > 1e-12 {
		t.Errorf("dX %v, want [3.9 7.1]", gx)
	}
	// dH_res[i,j] = w_i·X_j
	if gr := g.Param("R").GradF64(); !slices.Equal(gr, []float64{2, 5, 20, 50}) {
		t.Errorf("dH_res %v, want [2 5 20 50]", gr)
	}
}
