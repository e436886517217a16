package gorgonia

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
	"github.com/mhcc/mhcc/ir"
)

// tinyLM is a small causal LM: embedding, one attention head, tied
// output projection (matmul trans_b), cross-entropy.
func tinyLM(t testing.TB) *ir.Module {
	b := ir.NewBuilder("tiny.mhc", "B", "T")
	i32 := ir.Type{DType: ir.I32, Shape: ir.Shape{ir.S("B"), ir.S("T")}}
	tok := b.Input("tokens", i32)
	tgt := b.Input("targets", i32)
	emb := b.Param("emb", ir.Dims(11, 8), ir.Init{Kind: "normal", Args: []float64{0.5}}, true)
	wq := b.Param("wq", ir.Dims(8, 8), ir.Init{Kind: "normal", Args: []float64{0.3}}, true)
	wk := b.Param("wk", ir.Dims(8, 8), ir.Init{Kind: "normal", Args: []float64{0.3}}, true)
	gain := b.Param("gain", ir.Dims(8), ir.Init{Kind: "ones"}, false)
	x := b.Gather(emb, tok)
	q := b.Rope(b.Matmul(x, wq, false), 10000)
	k := b.Rope(b.Matmul(x, wk, false), 10000)
	p := b.Softmax(b.CausalMask(b.Scale(b.Matmul(q, k, true), 0.35)))
	h := b.Add(x, b.Matmul(p, x, false))
	h = b.Mul(b.Div(h, b.Sqrt(b.Add(b.Mean(b.Square(h), 2), b.Const(1e-5)))), gain)
	logits := b.Matmul(h, emb, true)
	nll := b.Neg(b.Pick(b.LogSoftmax(logits), tgt))
	b.Output("loss", b.Reshape(b.Mean(nll, 0, 1), ir.Shape{}))
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	return b.M
}

func tokens(n, v, seed int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = (i*7 + seed*3 + i*i) % v
	}
	return out
}

func TestRunRepeatable(t *testing.T) {
	m := tinyLM(t)
	g, err := Build(m, Options{Binds: map[string]int{"B": 2, "T": 5}, DType: Float32, Grad: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.NodeCount() == 0 {
		t.Fatal("no nodes")
	}
	g.InitParams(3)
	setInputs(t, g, map[string][]int{"tokens": tokens(10, 11, 1), "targets": tokens(10, 11, 2)})
	l1, err := g.Run()
	if err != nil {
		t.Fatal(err)
	}
	var g1 [][]float32
	for _, p := range g.Params() {
		g1 = append(g1, slices.Clone(p.GradF32()))
	}
	l2, err := g.Run()
	if err != nil {
		t.Fatal(err)
	}
	if l1 != l2 || math.IsNaN(l1) {
		t.Fatalf("losses differ: %v %v", l1, l2)
	}
	for i, p := range g.Params() {
		if !slices.Equal(g1[i], p.GradF32()) {
			t.Errorf("gradient of %s changed between runs", p.Name)
		}
		nz := false
		for _, v := range p.GradF32() {
			nz = nz || v != 0
		}
		if !nz {
			t.Errorf("gradient of %s is zero", p.Name)
		}
	}
	// new inputs → new loss; a param update is seen by the next run
	setInputs(t, g, map[string][]int{"tokens": tokens(10, 11, 5)})
	l3, _ := g.Run()
	if l3 == l1 {
		t.Errorf("loss did not change with new tokens")
	}
	g.Params()[0].F32()[0] += 0.5
	l4, _ := g.Run()
	if l4 == l3 {
		t.Errorf("loss did not change after a param write")
	}
}

func TestBuildShared(t *testing.T) {
	m := tinyLM(t)
	base, err := Build(m, Options{Binds: map[string]int{"B": 2, "T": 5}, DType: Float32, Grad: true})
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	base.InitParams(1)
	eval, err := BuildShared(m, Options{Binds: map[string]int{"B": 3, "T": 4}}, base)
	if err != nil {
		t.Fatal(err)
	}
	defer eval.Close()
	if eval.Params()[0].GradF32() != nil {
		t.Errorf("forward-only graph has gradients")
	}
	in := map[string][]int{"tokens": tokens(12, 11, 1), "targets": tokens(12, 11, 4)}
	setInputs(t, eval, in)
	before := slices.Clone(base.Params()[0].F32())
	l1, err := eval.Run()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, base.Params()[0].F32()) {
		t.Fatal("forward-only run modified a param")
	}
	// write into the base graph (as an optimizer would) and train a step
	setInputs(t, base, map[string][]int{"tokens": tokens(10, 11, 1), "targets": tokens(10, 11, 4)})
	if _, err := base.Run(); err != nil {
		t.Fatal(err)
	}
	for _, p := range base.Params() {
		for i, gv := range p.GradF32() {
			p.F32()[i] -= 0.5 * gv
		}
	}
	l2, err := eval.Run()
	if err != nil {
		t.Fatal(err)
	}
	if l2 == l1 {
		t.Fatalf("eval graph did not see the update: %v", l2)
	}
	// same as a fresh graph holding copies of the updated values
	fresh, err := Build(m, Options{Binds: map[string]int{"B": 3, "T": 4}})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	for i, p := range fresh.Params() {
		copy(p.F32(), base.Params()[i].F32())
	}
	setInputs(t, fresh, in)
	l3, err := fresh.Run()
	if err != nil {
		t.Fatal(err)
	}
	if l3 != l2 {
		t.Errorf("shared eval loss %v, fresh graph %v", l2, l3)
	}
	// a Float64 eval graph cannot share Float32 tensors
	if _, err := BuildShared(m, Options{Binds: map[string]int{"B": 1, "T": 2}, DType: Float64}, base); err == nil {
		t.Errorf("dtype mismatch accepted")
	}
}

func TestErrors(t *testing.T) {
	m := tinyLM(t)
	expect := func(what string, err error, sub string) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", what)
		} else if !strings.Contains(err.Error(), sub) {
			t.Errorf("%s: error %q does not mention %q", what, err, sub)
		}
	}
	_, err := Build(m, Options{Binds: map[string]int{"B": 2}})
	expect("unbound symbol", err, "T is not bound")
	expect("unbound symbol position", err, "%0 (input)")

	// unknown op, spliced in by hand
	b := ir.NewBuilder("bad.mhc")
	x := b.Param("x", ir.Dims(2), normal1, false)
	bad := &ir.Value{Op: "frobnicate", Args: []*ir.Value{x}, Type: x.Type, Pos: ir.Pos{Line: 3, Col: 7}}
	b.M.Values = append(b.M.Values, bad)
	b.Output("loss", b.Reshape(b.Sum(bad, 0), ir.Shape{}))
	_, err = Build(b.M, Options{Grad: true})
	expect("unknown op", err, `unknown op "frobnicate"`)
	expect("unknown op position", err, "bad.mhc:3:7")

	// dead code is skipped but checked
	b = ir.NewBuilder("dead.mhc")
	x = b.Param("x", ir.Dims(2), normal1, false)
	dead := &ir.Value{Op: "frobnicate", Args: []*ir.Value{x}, Type: x.Type, Pos: ir.Pos{Line: 4, Col: 1}}
	b.M.Values = append(b.M.Values, dead)
	b.Output("loss", b.Reshape(b.Sum(x, 0), ir.Shape{}))
	_, err = Build(b.M, Options{Grad: true})
	expect("unknown op in dead code", err, "dead.mhc:4:1")
	b = ir.NewBuilder("dead2.mhc")
	x = b.Param("x", ir.Dims(2), normal1, false)
	unused := b.Param("unused", ir.Dims(3), normal1, false)
	b.Exp(unused)
	b.Output("loss", b.Reshape(b.Sum(b.Square(x), 0), ir.Shape{}))
	g, err := Build(b.M, Options{Grad: true})
	if err != nil {
		t.Fatal(err)
	}
	g.InitParams(1)
	if _, err := g.Run(); err != nil {
		t.Fatal(err)
	}
	if gu := g.Param("unused").GradF32(); len(gu) != 3 || gu[0] != 0 {
		t.Errorf("unused param gradient %v", gu)
	}
	if gx := g.Param("x").GradF32(); gx[0] != 2*g.Param("x").F32()[0] {
		t.Errorf("x gradient %v", gx)
	}
	g.Close()

	// no loss output
	b = ir.NewBuilder("noloss.mhc")
	b.Param("x", ir.Dims(2), normal1, false)
	_, err = Build(b.M, Options{})
	expect("no loss", err, "no \"loss\" output")

	// non-scalar loss
	b = ir.NewBuilder("vecloss.mhc")
	b.Output("loss", b.Param("x", ir.Dims(2), normal1, false))
	_, err = Build(b.M, Options{})
	expect("vector loss", err, "1-element")

	// bad init
	b = ir.NewBuilder("init.mhc")
	b.Output("loss", b.Reshape(b.Param("x", ir.Dims(1), ir.Init{Kind: "hc_bias", Args: []float64{2, 0}}, false), ir.Shape{}))
	_, err = Build(b.M, Options{})
	expect("bad hc_bias", err, "needs 8 elements")

	// shape mismatch against the base graph
	b = ir.NewBuilder("other.mhc")
	b.Output("loss", b.Reshape(b.Sum(b.Param("emb", ir.Dims(3, 8), normal1, true), 0, 1), ir.Shape{}))
	base, err := Build(m, Options{Binds: map[string]int{"B": 1, "T": 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	_, err = BuildShared(b.M, Options{}, base)
	expect("shared shape", err, "base graph has [11 8]")

	// inputs
	expect("unknown input", base.SetInput("nope", []int{1}), "unknown input")
	expect("input length", base.SetInput("tokens", []int{1}), "got 1 values, want 2")
	// out-of-range token ids give an error from Run, and the graph stays usable
	setInputs(t, base, map[string][]int{"tokens": {1, 99}, "targets": {0, 1}})
	_, err = base.Run()
	expect("bad token", err, "out of range")
	setInputs(t, base, map[string][]int{"tokens": {1, 2}})
	if _, err := base.Run(); err != nil {
		t.Errorf("run after a failed run: %v", err)
	}
}

func TestInitParams(t *testing.T) {
	mk := func(extra bool) *ir.Module {
		b := ir.NewBuilder("init.mhc")
		var ps []*ir.Value
		if extra {
			ps = append(ps, b.Param("aaa", ir.Dims(5), ir.Init{Kind: "normal", Args: []float64{1}}, true))
		}
		ps = append(ps,
			b.Param("w", ir.Dims(100, 50), ir.Init{Kind: "normal", Args: []float64{0.02}}, true),
			b.Param("z", ir.Dims(3), ir.Init{Kind: "zeros"}, false),
			b.Param("o", ir.Dims(3), ir.Init{Kind: "ones"}, false),
			b.Param("f", ir.Dims(2), ir.Init{Kind: "fill", Args: []float64{0.25}}, false),
			b.Param("hc", ir.Dims(15), ir.Init{Kind: "hc_bias", Args: []float64{3, 2}}, false))
		s := b.Const(0)
		for _, p := range ps {
			axes := make([]int, p.Type.Shape.Rank())
			for i := range axes {
				axes[i] = i
			}
			s = b.Add(s, b.Reshape(b.Sum(p, axes...), ir.Shape{}))
		}
		b.Output("loss", s)
		if err := b.Err(); err != nil {
			t.Fatal(err)
		}
		return b.M
	}
	g1, err := Build(mk(false), Options{DType: Float64})
	if err != nil {
		t.Fatal(err)
	}
	g2, err := Build(mk(true), Options{})
	if err != nil {
		t.Fatal(err)
	}
	g1.InitParams(42)
	g2.InitParams(42)
	w1, w2 := g1.Param("w").F64(), g2.Param("w").F32()
	var ss float64
	for i := range w1 {
		if float32(w1[i]) != w2[i] {
			t.Fatalf("w differs at %d between graphs: %v vs %v", i, w1[i], w2[i])
		}
		ss += w1[i] * w1[i]
	}
	if std := math.Sqrt(ss / float64(len(w1))); math.Abs(std-0.02) > 0.002 {
		t.Errorf("normal(0.02) std = %v", std)
	}
	old := slices.Clone(w1)
	g1.InitParams(43)
	if g1.Param("w").F64()[0] == old[0] && g1.Param("w").F64()[1] == old[1] {
		t.Errorf("seed has no effect")
	}
	if got := g2.Param("z").F32(); !slices.Equal(got, []float32{0, 0, 0}) {
		t.Errorf("zeros: %v", got)
	}
	if got := g2.Param("o").F32(); !slices.Equal(got, []float32{1, 1, 1}) {
		t.Errorf("ones: %v", got)
	}
	if got := g2.Param("f").F32(); !slices.Equal(got, []float32{0.25, 0.25}) {
		t.Errorf("fill: %v", got)
	}
	want := []float32{-3, -3, 3, 0, 0, 0, 3, -3, -3, -3, 3, -3, -3, -3, 3}
	if got := g2.Param("hc").F32(); !slices.Equal(got, want) {
		t.Errorf("hc_bias(3,2): %v, want %v", got, want)
	}
	l, err := g2.Run()
	if err != nil || math.IsNaN(l) {
		t.Errorf("run: %v %v", l, err)
	}
}

// TestGemmBackends checks that the native float32 GEMM and Gorgonia's BLAS
// give the same training loss and gradients.
func TestGemmBackends(t *testing.T) {
	m := tinyLM(t)
	run := func(native bool) (float64, [][]float32) {
		kernels.UseNativeSgemm = native
		defer func() { kernels.UseNativeSgemm = true }()
		g, err := Build(m, Options{Binds: map[string]int{"B": 3, "T": 6}, Grad: true})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		g.InitParams(9)
		setInputs(t, g, map[string][]int{"tokens": tokens(18, 11, 1), "targets": tokens(18, 11, 3)})
		l, err := g.Run()
		if err != nil {
			t.Fatal(err)
		}
		var gs [][]float32
		for _, p := range g.Params() {
			gs = append(gs, slices.Clone(p.GradF32()))
		}
		return l, gs
	}
	l1, g1 := run(true)
	l2, g2 := run(false)
	if relErr(l1, l2) > 1e-6 {
		t.Errorf("loss native %v, BLAS %v", l1, l2)
	}
	for i := range g1 {
		for j := range g1[i] {
			if math.Abs(float64(g1[i][j]-g2[i][j])) > 1e-5*(1+math.Abs(float64(g2[i][j]))) {
				t.Fatalf("param %d grad %d: native %v, BLAS %v", i, j, g1[i][j], g2[i][j])
			}
		}
	}
}

func TestFloatInput(t *testing.T) {
	b := ir.NewBuilder("fin.mhc", "B")
	x := b.Input("x", ir.Type{DType: ir.F32, Shape: ir.Shape{ir.S("B"), ir.D(2)}})
	w := b.Param("w", ir.Dims(2), ir.Init{Kind: "fill", Args: []float64{2}}, false)
	b.Output("loss", b.Reshape(b.Sum(b.Mul(x, w), 0, 1), ir.Shape{}))
	for _, dt := range []DType{Float32, Float64} {
		g, err := Build(b.M, Options{Binds: map[string]int{"B": 2}, DType: dt, Grad: true})
		if err != nil {
			t.Fatal(err)
		}
		g.InitParams(0)
		if err := g.SetInputFloat("x", []float64{1, 2, 3, 4}); err != nil {
			t.Fatal(err)
		}
		if err := g.SetInput("x", []int{1, 2, 3, 4}); err == nil {
			t.Errorf("SetInput accepted an f32 input")
		}
		l, err := g.Run()
		if err != nil || l != 20 {
			t.Errorf("%v: loss %v (%v), want 20", dt, l, err)
		}
		var gw []float64
		if dt == Float32 {
			for _, v := range g.Param("w").GradF32() {
				gw = append(gw, float64(v))
			}
		} else {
			gw = g.Param("w").GradF64()
		}
		if !slices.Equal(gw, []float64{4, 6}) {
			t.Errorf("%v: grad %v, want [4 6]", dt, gw)
		}
		g.Close()
	}
}
