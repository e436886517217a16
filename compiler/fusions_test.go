package compiler

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/backend/conformance"
	"github.com/mhcc/mhcc/ir"
)

// TestFusionsRecoverDecompositions: for every fused op of the table and
// every conformance case of it, the op's decomposition compiled at -O2
// becomes the op again, with the same attributes. So the fusion rules and
// the decompositions (which lowering emits) cannot drift apart.
func TestFusionsRecoverDecompositions(t *testing.T) {
	fusedOps := 0
	for _, d := range ir.Ops {
		if !d.Fused {
			continue
		}
		fusedOps++
		if FusionRules(d.Name) == nil {
			t.Errorf("no fusion creates %s", d.Name)
		}
	}
	if fusedOps == 0 {
		t.Fatal("no fused op in the table")
	}
	for _, c := range conformance.Cases() {
		if !ir.IsFused(c.Op) {
			continue
		}
		if c.Op == ir.OpMatmulConcat && distinctWeights(c) < 2 {
			continue // one product is left alone: matmul.concat needs two
		}
		t.Run(c.Name, func(t *testing.T) {
			built, err := c.Build(true, 1)
			if err != nil {
				t.Fatal(err)
			}
			m := built.Module
			if _, err := RunPasses(m, Options{Level: O2}); err != nil {
				t.Fatal(err)
			}
			var fused []*ir.Value
			for _, v := range m.Values {
				if ir.IsFused(v.Op) {
					fused = append(fused, v)
				}
			}
			if len(fused) != 1 || fused[0].Op != c.Op {
				t.Fatalf("the decomposition of %s fused into %v:\n%s", c.Op, ops(fused), m)
			}
			if got, want := attrText(fused[0].Attrs), attrText(c.Attrs); got != want {
				t.Errorf("attributes %s, want %s", got, want)
			}
		})
	}
}

func distinctWeights(c conformance.Case) int {
	n := 0
	for _, a := range c.Args[1:] {
		if a.Kind != conformance.Same {
			n++
		}
	}
	return n
}

func ops(vs []*ir.Value) []string {
	var s []string
	for _, v := range vs {
		s = append(s, v.Op)
	}
	return s
}

// attrText prints attributes sorted by key, without members.
func attrText(as ir.Attrs) string {
	var parts []string
	for _, a := range as {
		if a.Key != ir.MembersAttr {
			parts = append(parts, fmt.Sprintf("%s=%v", a.Key, a.Val))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// ---------------------------------------------------------------- the driver

// driverModule builds a module with build and outputs "out".
func driverModule(t *testing.T, build func(b *ir.Builder) *ir.Value) *ir.Module {
	t.Helper()
	b := ir.NewBuilder("d.mhc")
	b.Output("out", build(b))
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	return b.M
}

func p(b *ir.Builder, name string, dims ...int) *ir.Value {
	return b.Param(name, ir.Dims(dims...), ir.Init{Kind: "zeros"}, true)
}

// rms builds x / sqrt(mean(x²) + eps) · g with the commutative operands
// in the order the flags say.
func rms(b *ir.Builder, x, g *ir.Value, swapMul, swapAdd bool) *ir.Value {
	mean := b.Mean(b.Square(x), -1)
	eps := b.Const(1e-5)
	var ad *ir.Value
	if swapAdd {
		ad = b.Add(eps, mean)
	} else {
		ad = b.Add(mean, eps)
	}
	d := b.Div(x, b.Sqrt(ad))
	if swapMul {
		return b.Mul(g, d)
	}
	return b.Mul(d, g)
}

func TestRewriteCommutativeOperands(t *testing.T) {
	for _, swap := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		m := driverModule(t, func(b *ir.Builder) *ir.Value {
			return rms(b, p(b, "x", 2, 3), p(b, "g", 3), swap[0], swap[1])
		})
		changed, st := Rewrite(m, rmsnormRules())
		if !changed || st.Get("fused") != 1 || m.Output("out").Op != ir.OpRMSNorm {
			t.Errorf("swap %v: not fused (%s):\n%s", swap, st, m)
		}
		if got := m.Output("out").Attrs.Int(ir.MembersAttr); got != 6 {
			t.Errorf("members = %d, want 6", got)
		}
	}
}

func TestRewriteNeedsPrivateIntermediates(t *testing.T) {
	// The mean square is also an output: fusing would compute it twice.
	b := ir.NewBuilder("d.mhc")
	x, g := p(b, "x", 2, 3), p(b, "g", 3)
	y := rms(b, x, g, false, false)
	b.Output("out", y)
	b.Output("ms", y.Args[0].Args[1].Args[0]) // sqrt(add(...))
	if changed, _ := Rewrite(b.M, rmsnormRules()); changed {
		t.Errorf("fused although an intermediate is used outside:\n%s", b.M)
	}
}

func TestRewriteVariablesMustAgree(t *testing.T) {
	// x / sqrt(mean(z²) + eps) · g with z ≠ x is not an RMS norm.
	m := driverModule(t, func(b *ir.Builder) *ir.Value {
		x, z, g := p(b, "x", 2, 3), p(b, "z", 2, 3), p(b, "g", 3)
		r := b.Sqrt(b.Add(b.Mean(b.Square(z), -1), b.Const(1e-5)))
		return b.Mul(b.Div(x, r), g)
	})
	if changed, _ := Rewrite(m, rmsnormRules()); changed {
		t.Errorf("fused different x and z:\n%s", m)
	}
}

func TestRewritePositionAndOrder(t *testing.T) {
	b := ir.NewBuilder("d.mhc")
	b.At(ir.Pos{Line: 3, Col: 1})
	x, g := p(b, "x", 2, 3), p(b, "g", 3)
	b.At(ir.Pos{Line: 4, Col: 2})
	mean := b.Mean(b.Square(x), -1)
	b.At(ir.Pos{Line: 5, Col: 7})
	d := b.Div(x, b.Sqrt(b.Add(mean, b.Const(1e-5))))
	b.At(ir.Pos{Line: 9, Col: 9})
	y := b.Mul(d, g)
	b.Output("out", b.Exp(y))
	if _, st := Rewrite(b.M, rmsnormRules()); st.Get("fused") != 1 {
		t.Fatalf("not fused:\n%s", b.M)
	}
	want := "mhcc.ir v1\nsource \"d.mhc\"\n" +
		"%0 = param name=\"x\" init=zeros decay=true : f32[2,3] @3:1\n" +
		"%1 = param name=\"g\" init=zeros decay=true : f32[3] @3:1\n" +
		"%2 = rmsnorm %0, %1 eps=1e-05 members=6 : f32[2,3] @9:9\n" +
		"%3 = exp %2 : f32[2,3] @9:9\n" +
		"output out = %3\n"
	if got := b.M.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestRewriteGroupsAndSlices(t *testing.T) {
	b := ir.NewBuilder("d.mhc")
	x := p(b, "x", 2, 4)
	w1, w2, w3 := p(b, "w1", 4, 3), p(b, "w2", 4, 2), p(b, "w3", 5, 4)
	y1 := b.Matmul(x, w1, false)
	yt := b.Matmul(x, w3, true) // trans_b: not in the group
	y2 := b.Matmul(x, w2, false)
	b.Output("a", y1)
	b.Output("b", y2)
	b.Output("c", yt)
	changed, st := Rewrite(b.M, qkvRules())
	if !changed || st.String() != "1 fused, 2 matmuls" {
		t.Fatalf("stats %s:\n%s", st, b.M)
	}
	a, bb := b.M.Output("a"), b.M.Output("b")
	if a.Op != ir.OpSlice || bb.Op != ir.OpSlice || a.Args[0] != bb.Args[0] || a.Args[0].Op != ir.OpMatmulConcat ||
		a.Attrs.Int("start") != 0 || a.Attrs.Int("end") != 3 || bb.Attrs.Int("start") != 3 || bb.Attrs.Int("end") != 5 {
		t.Errorf("outputs not replaced by the slices of one matmul.concat:\n%s", b.M)
	}
	if b.M.Output("c").Op != ir.OpMatmul {
		t.Errorf("the trans_b product was taken into the group")
	}
}

func TestRewriteIteratesToFixedPoint(t *testing.T) {
	for _, iters := range []int{1, 2, 7} {
		m := driverModule(t, func(b *ir.Builder) *ir.Value {
			return b.Expand(ir.OpSinkhorn, ir.Attrs{{Key: "iters", Val: iters}}, p(b, "L", 2, 3, 3))
		})
		_, st := Rewrite(m, sinkhornRules())
		out := m.Output("out")
		if st.Get("fused") != 1 || st.Get("iterations") != iters || out.Op != ir.OpSinkhorn ||
			out.Attrs.Int("iters") != iters || out.Attrs.Int(ir.MembersAttr) != 3+4*iters {
			t.Errorf("iters %d: %s, %s", iters, st, out.Attrs)
		}
	}
}

// TestRewriteChainsInOneSweep: the Sinkhorn rounds are a chain
// (Rule.Chain), so one sweep fuses every round of two independent
// unrolled iterations, the result is the fixed point (a second sweep
// finds nothing) and equals what one round per sweep gave: one sinkhorn
// per input with all its iterations and members.
func TestRewriteChainsInOneSweep(t *testing.T) {
	const iters = 7
	m := driverModule(t, func(b *ir.Builder) *ir.Value {
		a := b.Expand(ir.OpSinkhorn, ir.Attrs{{Key: "iters", Val: iters}}, p(b, "L", 2, 3, 3))
		c := b.Expand(ir.OpSinkhorn, ir.Attrs{{Key: "iters", Val: iters}}, p(b, "K", 2, 3, 3))
		return b.Add(a, c)
	})
	var c Counts
	if !sweep(m, sinkhornRules(), &c) {
		t.Fatal("the first sweep fused nothing")
	}
	if c.Get("fused") != 2 || c.Get("iterations") != 2*iters {
		t.Errorf("one sweep: %s, want 2 fused, %d iterations", c, 2*iters)
	}
	if sweep(m, sinkhornRules(), &c) {
		t.Errorf("a second sweep still fused: %s", c)
	}
	if err := ir.Verify(m); err != nil {
		t.Fatal(err)
	}
	out := m.Output("out")
	for _, s := range out.Args {
		if s.Op != ir.OpSinkhorn || s.Attrs.Int("iters") != iters || s.Attrs.Int(ir.MembersAttr) != 3+4*iters {
			t.Errorf("%s %s, want sinkhorn iters=%d of %d members", s.Op, s.Attrs, iters, 3+4*iters)
		}
	}
	if n := len(m.Values); n != 2+2+1 {
		t.Errorf("%d values left, want the two inputs, two sinkhorns and the sum:\n%s", n, m)
	}
}

func TestRewriteOptionalNodes(t *testing.T) {
	for _, c := range []struct {
		scale  float64
		causal bool
	}{{1, false}, {0.5, false}, {1, true}, {0.25, true}} {
		m := driverModule(t, func(b *ir.Builder) *ir.Value {
			q, k, v := p(b, "q", 2, 4, 3), p(b, "k", 2, 4, 3), p(b, "v", 2, 4, 5)
			return b.Expand(ir.OpAttention, ir.Attrs{{Key: "scale", Val: c.scale}, {Key: "causal", Val: c.causal}}, q, k, v)
		})
		Rewrite(m, attentionRules())
		out := m.Output("out")
		if out.Op != ir.OpAttention || out.Attrs.Float("scale") != c.scale || out.Attrs.Bool("causal") != c.causal {
			t.Errorf("%+v: %s %v", c, out.Op, out.Attrs)
		}
	}
}
