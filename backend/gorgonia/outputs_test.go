package gorgonia

import (
	"math"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/backend/ref"
	"github.com/mhcc/mhcc/ir"
)

// permModule is H = reshape(softmax(x·W)·permutations(4), [B,T,4,4]) with
// the outputs h, w (the softmax weights) and loss = sum(H ⊙ R).
func permModule(b *ir.Builder) {
	x := param(b, "x", ir.S("B"), ir.S("T"), ir.D(3))
	W := param(b, "W", ir.D(3), ir.D(24))
	w := b.Softmax(b.Matmul(x, W, false))
	H := b.Reshape(b.Matmul(w, b.Permutations(4), false), ir.Shape{ir.S("B"), ir.S("T"), ir.D(4), ir.D(4)})
	b.Output("h", H)
	b.Output("w", w)
	sumLoss(b, H)
}

var permCase = gcase{name: "permutations", syms: []string{"B", "T"}, binds: map[string]int{"B": 2, "T": 3}, build: permModule}

// TestPermutationsGradient checks the permutations op inside a mixture:
// the float64 gradients of every parameter element against central
// differences of the reference interpreter's loss.
func TestPermutationsGradient(t *testing.T) {
	m := permCase.module(t)
	vals := testValues(m, permCase.binds, 2)
	g, err := Build(m, Options{Binds: permCase.binds, DType: Float64, Grad: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	setValues(t, g, vals)
	if _, err := g.Run(); err != nil {
		t.Fatal(err)
	}
	for _, p := range g.Params() {
		checkCentral(t, m, permCase.binds, vals, g, p.Name)
	}
}

// TestRunOutputsMatchesReference: RunOutputs returns every named output of
// a forward-only graph, equal to the reference interpreter's, in float64
// and float32, repeatably and interleaved with Run.
func TestRunOutputsMatchesReference(t *testing.T) {
	m := permCase.module(t)
	vals := testValues(m, permCase.binds, 3)
	want, err := ref.Eval(m, permCase.binds, vals, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, dt := range []DType{Float64, Float32} {
		g, err := Build(m, Options{Binds: permCase.binds, DType: dt})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		setValues(t, g, vals)
		if got := strings.Join(g.OutputNames(), " "); got != "h loss w" {
			t.Errorf("OutputNames = %q", got)
		}
		if s := g.OutputShape("h"); len(s) != 4 || s[0] != 2 || s[1] != 3 || s[2] != 4 || s[3] != 4 {
			t.Errorf("OutputShape(h) = %v", s)
		}
		if s := g.OutputShape("loss"); s == nil || len(s) != 0 {
			t.Errorf("OutputShape(loss) = %#v, want []", s)
		}
		if g.OutputShape("nope") != nil {
			t.Errorf("OutputShape of an unknown output is not nil")
		}
		tol := 1e-12
		if dt == Float32 {
			tol = 1e-5
		}
		for round := 0; round < 2; round++ {
			out, err := g.RunOutputs("h", "w", "loss")
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"h", "w", "loss"} {
				got, w := out[name], want[name].Data
				if len(got) != len(w) {
					t.Fatalf("%v %s: %d values, want %d", dt, name, len(got), len(w))
				}
				for i := range w {
					if math.Abs(got[i]-w[i]) > tol*math.Max(1, math.Abs(w[i])) {
						t.Fatalf("%v round %d %s[%d] = %.12g, reference %.12g", dt, round, name, i, got[i], w[i])
					}
				}
			}
			// Every H is doubly stochastic.
			H := out["h"]
			for k := 0; k < 6; k++ {
				for i := 0; i < 4; i++ {
					r, c := 0.0, 0.0
					for j := 0; j < 4; j++ {
						r += H[k*16+i*4+j]
						c += H[k*16+j*4+i]
					}
					if math.Abs(r-1) > 10*tol || math.Abs(c-1) > 10*tol {
						t.Fatalf("%v: H %d row/column %d sums %g %g", dt, k, i, r, c)
					}
				}
			}
			if l, err := g.Run(); err != nil || math.Abs(l-want["loss"].Data[0]) > tol*math.Max(1, math.Abs(l)) {
				t.Fatalf("%v: Run between RunOutputs = %v, %v", dt, l, err)
			}
		}
		if _, err := g.RunOutputs("h", "nope"); err == nil || !strings.Contains(err.Error(), `no output "nope" (outputs: h, loss, w)`) {
			t.Errorf("unknown output: %v", err)
		}
	}
	g, err := Build(m, Options{Binds: permCase.binds, DType: Float64, Grad: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.RunOutputs("h"); err == nil || !strings.Contains(err.Error(), "forward-only") {
		t.Errorf("RunOutputs on a gradient graph: %v", err)
	}
}

// TestRunOutputsSharedGraph: a forward-only graph sharing the parameters
// of a training graph reads the outputs of the current parameters.
func TestRunOutputsSharedGraph(t *testing.T) {
	m := permCase.module(t)
	vals := testValues(m, permCase.binds, 4)
	base, err := Build(m, Options{Binds: permCase.binds, DType: Float32, Grad: true})
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	setValues(t, base, vals)
	fwd, err := BuildShared(m, Options{Binds: permCase.binds, DType: Float32}, base)
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	before, err := fwd.RunOutputs("w")
	if err != nil {
		t.Fatal(err)
	}
	base.Param("W").F32()[0] += 1
	after, err := fwd.RunOutputs("w")
	if err != nil {
		t.Fatal(err)
	}
	if before["w"][0] == after["w"][0] {
		t.Errorf("the shared graph does not see the new parameter values")
	}
}

// TestHCInitKinds pins the init kinds of the hyper-connection variants.
func TestHCInitKinds(t *testing.T) {
	b := ir.NewBuilder("t.mhc")
	oh := b.Param("oh", ir.Dims(4), ir.Init{Kind: "one_hot", Args: []float64{2}}, false)
	id := b.Param("id", ir.Dims(3, 3), ir.Init{Kind: "identity"}, false)
	pb := b.Param("pb", ir.Dims(2*4+24), ir.Init{Kind: "hc_perm_bias", Args: []float64{4, 1}}, false)
	p1 := b.Param("p1", ir.Dims(3), ir.Init{Kind: "hc_perm_bias", Args: []float64{1, 0}}, false)
	s := b.Add(b.Add(b.Sum(oh, 0), b.Sum(b.Sum(id, 0, 1), 0)), b.Add(b.Sum(pb, 0), b.Sum(p1, 0)))
	b.Output("loss", b.Reshape(s, ir.Shape{}))
	g, err := Build(b.M, Options{DType: Float64})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.InitParams(1)
	eq := func(name string, want []float64) {
		t.Helper()
		got := g.Param(name).F64()
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-15 {
				t.Fatalf("%s = %v, want %v", name, got, want)
			}
		}
	}
	eq("oh", []float64{0, 0, 1, 0})
	eq("id", []float64{1, 0, 0, 0, 1, 0, 0, 0, 1})
	eq("p1", []float64{3, 0, 0})
	pbv := g.Param("pb").F64()
	eq("pb", []float64{-3, 3, -3, -3, 0, 0, 0, 0})
	// The identity permutation has softmax weight 0.99 among the 24.
	z := 0.0
	for _, x := range pbv[8:] {
		z += math.Exp(x)
	}
	if w := math.Exp(pbv[8]) / z; math.Abs(w-0.99) > 1e-12 {
		t.Errorf("identity weight %.15g, want 0.99", w)
	}
	for _, x := range pbv[9:] {
		if x != 0 {
			t.Fatalf("non-identity logits %v", pbv[9:])
		}
	}
	for _, c := range []struct {
		in    ir.Init
		shape []int
		err   string
	}{
		{ir.Init{Kind: "one_hot", Args: []float64{4}}, []int{4}, "out of range"},
		{ir.Init{Kind: "one_hot"}, []int{4}, "takes 1 arguments"},
		{ir.Init{Kind: "identity"}, []int{3, 2}, "square"},
		{ir.Init{Kind: "hc_perm_bias", Args: []float64{4, 1}}, []int{24}, "needs 32 elements"},
		{ir.Init{Kind: "hc_perm_bias", Args: []float64{6, 1}}, []int{732}, "bad hc_perm_bias"},
	} {
		if err := checkInit(c.in, c.shape); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("checkInit(%v, %v) = %v, want %q", c.in, c.shape, err, c.err)
		}
	}
}
