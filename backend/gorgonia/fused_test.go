package gorgonia

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/mhcc/mhcc/ir"
)

// Tests of the fused ops beyond the conformance test (backend/conformance,
// which holds every op alone against the reference, finite differences
// and its decomposition): a whole mHC sublayer fused against its primitive
// form, and the orientation of hc.write pinned by hand.

func attrs(kv ...any) ir.Attrs {
	var as ir.Attrs
	for i := 0; i < len(kv); i += 2 {
		as = append(as, ir.Attr{Key: kv[i].(string), Val: kv[i+1]})
	}
	return as
}

// form builds op with attrs as the fused op (fused) or as its
// decomposition from the op table, and returns the op's parts either way
// (the fused value sliced at the widths of the decomposition's parts).
func form(b *ir.Builder, fused bool, op string, attrs ir.Attrs, args ...*ir.Value) []*ir.Value {
	if !fused {
		parts, err := ir.Decompose(b, op, attrs, args...)
		if err != nil {
			panic(err)
		}
		return parts
	}
	v := b.Apply(op, attrs, args...)
	parts, err := ir.Decompose(ir.NewBuilder("widths", b.M.Symbols...), op, attrs, args...)
	if err != nil || len(parts) == 1 {
		return []*ir.Value{v}
	}
	var widths []int
	for _, p := range parts {
		widths = append(widths, p.Type.Shape[p.Type.Shape.Rank()-1].N)
	}
	return splitLast(b, v, widths...)
}

// form1 is form for an op of one part.
func form1(b *ir.Builder, fused bool, op string, attrs ir.Attrs, args ...*ir.Value) *ir.Value {
	return form(b, fused, op, attrs, args...)[0]
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

// hcSublayer builds one mHC sublayer (docs/hyperconnections.md §3) on
// X [B,T,n,C], with attention as F, fused or from the decompositions; it
// returns X'.
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
	co := form(b, fused, ir.OpHCCoeffs, attrs("n", n, "eps", 1e-6), xf, phi, alpha, bias)
	pre, post := co[0], co[1]
	hRes := form1(b, fused, ir.OpSinkhorn, attrs("iters", 20), b.Reshape(co[2], bt(n, n)))
	u := form1(b, fused, ir.OpRMSNorm, attrs("eps", 1e-5), form1(b, fused, ir.OpHCRead, nil, pre, X), g)
	dh := C / H
	heads := func(p *ir.Value) *ir.Value { return b.Transpose(b.Reshape(p, bt(H, dh)), 0, 2, 1, 3) }
	qkv := form(b, fused, ir.OpMatmulConcat, nil, u, wq, wk, wv)
	q, k, v := heads(qkv[0]), heads(qkv[1]), heads(qkv[2])
	q, k = b.Rope(q, 10000), b.Rope(k, 10000)
	o := form1(b, fused, ir.OpAttention, attrs("scale", 1/math.Sqrt(float64(dh)), "causal", true), q, k, v)
	y := b.Reshape(b.Transpose(o, 0, 2, 1, 3), bt(C))
	return form1(b, fused, ir.OpHCWrite, nil, hRes, X, post, y)
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
				b.Output("loss", form1(b, fused, ir.OpCrossEntropy, nil, logits, tg))
				if err := b.Err(); err != nil {
					t.Fatal(err)
				}
				return b.M
			}
			comparePrimitive(t, mk(false), mk(true), binds, map[string][]int{"t": {1, 4, 0, 2, 2, 3}})
		})
	}
}

// TestHCWriteOrientation pins the transpose trap (docs/hyperconnections.md
// §3): row i of
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
