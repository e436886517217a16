package gorgonia

import (
	"math"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/backend/ref"
	"github.com/mhcc/mhcc/ir"
)

// routerModule is a router with a selection bias: s = σ(x·W),
// idx = top-2(s + b), gates = s[idx] / Σ s[idx], y = gates·V[idx] summed
// over the two choices, loss = sum(y ⊙ R); outputs the load of the 4
// experts (no path to the loss) and the gates (on the loss's path).
func routerModule(b *ir.Builder) {
	x := param(b, "x", d(6, 3)...)
	s := b.Sigmoid(b.Matmul(x, param(b, "W", d(3, 4)...), false))
	bias := b.NonTrainable("bias", ir.Dims(4), ir.Init{Kind: "zeros"})
	idx := b.Apply(ir.OpMoETopK, ir.Attrs{{Key: "k", Val: 2}}, b.Add(s, bias))
	picked := b.Pick(b.Broadcast(b.Reshape(s, ir.Dims(6, 1, 4)), ir.Dims(6, 2, 4)), idx)
	gates := b.Div(picked, b.Sum(picked, 1))
	V := param(b, "V", d(4, 5)...)
	y := b.Sum(b.Mul(b.Gather(V, idx), b.Reshape(gates, ir.Dims(6, 2, 1))), 1)
	sumLoss(b, y)
	b.Output("load", b.Apply(ir.OpMoELoad, ir.Attrs{{Key: "experts", Val: 4}}, idx))
	b.Output("gates", gates)
}

var routerCase = gcase{name: "router", build: routerModule}

// TestTrainingRunKeepsOutputs: after a Run with gradients, Output returns
// every output besides the loss as the run computed it: an output off the
// loss's path (the load) and one on it (the gates, whose register the
// backward pass may reuse), equal to the reference, in both precisions;
// the selection bias gets no gradient and the router's gradient agrees
// with central differences.
func TestTrainingRunKeepsOutputs(t *testing.T) {
	m := routerCase.module(t)
	vals := testValues(m, nil, 5)
	vals["bias"] = []float64{0.3, -0.2, 0, 0.1}
	want, err := ref.Eval(m, nil, vals, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, dt := range []DType{Float64, Float32} {
		g, err := Build(m, Options{DType: dt, Grad: true})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		setValues(t, g, vals)
		if _, err := g.Output("load"); err == nil || !strings.Contains(err.Error(), "has not run") {
			t.Errorf("Output before a run: %v", err)
		}
		if g.Param("bias").Trainable || !g.Param("W").Trainable {
			t.Errorf("Trainable: bias %v, W %v", g.Param("bias").Trainable, g.Param("W").Trainable)
		}
		tol := 1e-12
		if dt == Float32 {
			tol = 1e-5
		}
		for round := 0; round < 2; round++ {
			if _, err := g.Run(); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"load", "gates"} {
				got, err := g.Output(name)
				if err != nil {
					t.Fatal(err)
				}
				w := want[name].Data
				for i := range w {
					if len(got) != len(w) || math.Abs(got[i]-w[i]) > tol {
						t.Fatalf("%v %s = %v, reference %v", dt, name, got, w)
					}
				}
			}
		}
		if dt == Float64 {
			for _, x := range g.Param("bias").GradF64() {
				if x != 0 {
					t.Errorf("the selection bias has a gradient %v", g.Param("bias").GradF64())
				}
			}
			checkCentral(t, m, nil, vals, g, "W")
		}
		if _, err := g.Output("loss"); err == nil {
			t.Error("Output(loss) did not refuse")
		}
		if _, err := g.Output("nope"); err == nil || !strings.Contains(err.Error(), "no output") {
			t.Errorf("Output(nope): %v", err)
		}
	}
	fwd, err := Build(m, Options{DType: Float64})
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	if _, err := fwd.Output("load"); err == nil || !strings.Contains(err.Error(), "RunOutputs") {
		t.Errorf("Output on a forward-only graph: %v", err)
	}
}

// checkCentral compares the float64 gradient of param name in g with
// central differences of the reference interpreter's loss.
func checkCentral(t *testing.T, m *ir.Module, binds map[string]int, vals map[string][]float64, g *Graph, name string) {
	t.Helper()
	loss := func() float64 {
		out, err := ref.Eval(m, binds, vals, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out["loss"].Data[0]
	}
	const eps = 1e-6
	v := vals[name]
	for i := range v {
		x := v[i]
		v[i] = x + eps
		lp := loss()
		v[i] = x - eps
		lm := loss()
		v[i] = x
		num := (lp - lm) / (2 * eps)
		if got := g.Param(name).GradF64()[i]; math.Abs(num-got) > 1e-7*math.Max(1, math.Abs(num)) {
			t.Fatalf("d loss / d %s[%d] = %.12g, central difference %.12g", name, i, got, num)
		}
	}
}

// TestMoEKeepsWhatTheTheoryCounts: with a backward, moe.experts keeps
// exactly the hidden activations the op table declares
// (ir.OpDef.Activations, which compiler.Analyze counts as activations):
// x·W1ᵀ and x·W3ᵀ of every routed row; without one it keeps nothing.
func TestMoEKeepsWhatTheTheoryCounts(t *testing.T) {
	def, _ := ir.LookupOp(ir.OpMoEExperts)
	keep := memRules[ir.OpMoEExperts]
	for _, c := range []struct{ N, K, C, H, E int }{{6, 2, 3, 5, 4}, {256, 3, 16, 48, 8}, {4096, 1, 64, 128, 2}} {
		in := [][]int{{c.N, c.C}, {c.N, c.K}, {c.N, c.K}, {c.E, c.H, c.C}, {c.E, c.H, c.C}, {c.E, c.H, c.C}}
		out := []int{c.N, c.C}
		for _, act := range ir.MoEActs {
			attrs := ir.Attrs{{Key: "act", Val: act}}
			theory := def.Activations(in, out, attrs)
			if want := int64(2 * c.N * c.K * c.H); theory != want {
				t.Errorf("%+v %s: the op table declares %d hidden elements, want 2·N·K·H = %d", c, act, theory, want)
			}
			if kept, f64s := keep(in, out, attrs, true); kept != float64(theory) || f64s != 0 {
				t.Errorf("%+v %s: the backend keeps %g floats (and %g float64s), the op table declares %d", c, act, kept, f64s, theory)
			}
			if kept, f64s := keep(in, out, attrs, false); kept != 0 || f64s != 0 {
				t.Errorf("%+v %s: without a backward the backend keeps %g floats and %g float64s, want none", c, act, kept, f64s)
			}
		}
	}
}
