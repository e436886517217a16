package compiler

import (
	"github.com/mhcc/mhcc/ir"
)

// moeRules recover moe.experts from its decomposition (ir/ops_moe.go),
// one rule per activation: with L the leading dimensions of x,
//
//	xr = reshape(x, [L..., 1, C]); Wg = reshape(gather(reshape(w, [E, H·C]), idx), [L..., k·H, C])
//	a  = act(matmul(xr, W1g, trans_b)) · matmul(xr, W3g, trans_b)
//	y  = reshape(matmul(reshape(reshape(a, [L..., k, H]) · reshape(gates, [L..., k, 1]), [L..., 1, k·H]), W2g), [L..., C])
//
// where the two reshapes of a are absent for k = 1 (they would be the
// identity). The check holds every intermediate shape to the
// decomposition's.
func moeRules() []*Rule {
	var rules []*Rule
	for _, act := range ir.MoEActs {
		rules = append(rules, moeRule(act))
	}
	return rules
}

func moeRule(act string) *Rule {
	transB := func(v *ir.Value, _ *Match) bool { return v.Attrs.Bool("trans_b") }
	gathered := func(w string) *Pat {
		return Op(ir.OpReshape, Op(ir.OpGather, Op(ir.OpReshape, Var(w)).As(w+".flat"), Var("idx"))).As(w + ".g")
	}
	xr := Op(ir.OpReshape, Var("x")).As("xr")
	h1 := Op(ir.OpMatmul, xr, gathered("w1")).If(transB).As("h1")
	h3 := Op(ir.OpMatmul, xr, gathered("w3")).If(transB)
	f := siluPat(h1)
	if act == ir.OpGELU {
		f = geluPat(h1)
	}
	split := Maybe("split", Op(ir.OpReshape, Op(ir.OpMul, f, h3)), 0)
	gated := Op(ir.OpMul, split, Op(ir.OpReshape, Var("gates")).As("gr")).As("ag")
	joined := Maybe("join", Op(ir.OpReshape, gated), 0)
	root := Op(ir.OpReshape, Op(ir.OpMatmul, joined, gathered("w2")).If(noTransB).As("y"))
	return &Rule{
		Name:  "moe.experts/" + act,
		Roots: []*Pat{root},
		Check: func(m *Match) bool {
			x, idx := m.V("x"), m.V("idx")
			xs, w := x.Type.Shape, m.V("w1").Type.Shape
			r := xs.Rank()
			if r == 0 || idx.Type.Shape.Rank() != r || w.Rank() != 3 || lastDim(idx).IsSym() || w[1].IsSym() || lastDim(x).IsSym() {
				return false
			}
			k, H, C := lastDim(idx).N, w[1].N, lastDim(x).N
			L := xs[:r-1]
			with := func(dims ...int) ir.Shape {
				s := L.Clone()
				for _, d := range dims {
					s = append(s, ir.D(d))
				}
				return s
			}
			for _, name := range []string{"w1", "w3", "w2"} {
				if !m.V(name+".flat").Type.Shape.Equal(ir.Shape{w[0], ir.D(H * C)}) || !m.V(name+".g").Type.Shape.Equal(with(k*H, C)) {
					return false
				}
			}
			return m.Flag("split") == (k > 1) && m.Flag("join") == (k > 1) &&
				m.V("xr").Type.Shape.Equal(with(1, C)) && m.V("gr").Type.Shape.Equal(with(k, 1)) &&
				m.V("ag").Type.Shape.Equal(with(k, H)) && m.V("y").Type.Shape.Equal(with(1, C))
		},
		Build: func(m *Match) *ir.Value {
			return m.Fuse(ir.OpMoEExperts, ir.Attrs{{Key: "act", Val: act}},
				m.V("x"), m.V("idx"), m.V("gates"), m.V("w1"), m.V("w3"), m.V("w2"))
		},
		Stat: "fused",
	}
}
