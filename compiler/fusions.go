package compiler

import (
	"github.com/mhcc/mhcc/ir"
)

// The -O2 fusions. Each is a pass of the pass table made of rewrite rules
// (patterns plus a builder, applied by Rewrite) that recognise exactly the
// primitive form the op table's decomposition of the fused op builds, which
// is what lowering emits; the tests hold every rule against its op's
// decomposition (a decomposition fuses back into the op) and every fused
// value against its primitive form in every backend.
type fusion struct {
	pass  string
	op    string // the fused op it creates
	doc   string
	rules []*Rule
}

var fusions = []fusion{
	{pass: "fuse-layernorm", op: ir.OpLayerNorm, doc: "(x − mean(x)) / sqrt(mean((x − mean(x))²) + eps) · g + b → layernorm", rules: layernormRules()},
	{pass: "fuse-rmsnorm", op: ir.OpRMSNorm, doc: "x / sqrt(mean(x²) + eps) · g → rmsnorm", rules: rmsnormRules()},
	{pass: "fuse-hc-coeffs", op: ir.OpHCCoeffs, doc: "mHC coefficient projection (RMS, matmul with phi, α, bias, σ, 2σ) → hc.coeffs + slices", rules: hcCoeffsRules()},
	{pass: "fuse-sinkhorn", op: ir.OpSinkhorn, doc: "exp and the unrolled Sinkhorn-Knopp iterations → sinkhorn", rules: sinkhornRules()},
	{pass: "fuse-hc-read", op: ir.OpHCRead, doc: "stream read Σ_j H_pre[j]·X_j → hc.read", rules: hcReadRules()},
	{pass: "fuse-hc-write", op: ir.OpHCWrite, doc: "stream mix and write H_res·X + H_postᵀ·y → hc.write", rules: hcWriteRules()},
	{pass: "fuse-qkv", op: ir.OpMatmulConcat, doc: "matmuls of one input by several 2-D weights → matmul.concat + slices", rules: qkvRules()},
	{pass: "fuse-attention", op: ir.OpAttention, doc: "softmax(causal_mask(q·kᵀ·scale))·v → attention", rules: attentionRules()},
	{pass: "fuse-cross-entropy", op: ir.OpCrossEntropy, doc: "−mean(pick(log_softmax(logits), targets)) → cross_entropy", rules: crossEntropyRules()},
	{pass: "fuse-moe", op: ir.OpMoEExperts, doc: "routed experts gathered per token (gather, matmul, activation, gates) → moe.experts", rules: moeRules()},
	{pass: "fuse-gelu", op: ir.OpGELU, doc: "0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) → gelu", rules: geluRules()},
	{pass: "fuse-silu", op: ir.OpSiLU, doc: "x·σ(x) → silu", rules: siluRules()},
}

// run makes the fusion a pass function.
func (f fusion) run(m *ir.Module) (bool, Counts) { return Rewrite(m, f.rules) }

// FusionRules returns the rules of the fusion pass that creates op (nil
// when no fusion creates it).
func FusionRules(op string) []*Rule {
	for _, f := range fusions {
		if f.op == op {
			return f.rules
		}
	}
	return nil
}

// rmsRoot is r = sqrt(mean(x², last axis) + eps) over the variable x.
func rmsRoot(x *Pat) *Pat {
	return Op(ir.OpSqrt, Op(ir.OpAdd, Op(ir.OpMean, Op(ir.OpSquare, x)).If(lastAxis), Const("eps")))
}

func rmsnormRules() []*Rule {
	x := Var("x")
	return []*Rule{{
		Name:  "rmsnorm",
		Roots: []*Pat{Op(ir.OpMul, Op(ir.OpDiv, x, rmsRoot(x)), Var("g"))},
		Build: func(m *Match) *ir.Value {
			return m.Fuse(ir.OpRMSNorm, ir.Attrs{{Key: "eps", Val: m.Float("eps")}}, m.V("x"), m.V("g"))
		},
		Stat: "fused",
	}}
}

// layernormRules: add(mul(div(d, sqrt(mean(d²) + eps)), g), b) with
// d = x − mean(x), both means over the last axis. It must run before
// fuse-rmsnorm, whose pattern matches the inner mul with x = d.
func layernormRules() []*Rule {
	x := Var("x")
	d := Op(ir.OpSub, x, Op(ir.OpMean, x).If(lastAxis)).As("d")
	return []*Rule{{
		Name:  "layernorm",
		Roots: []*Pat{Op(ir.OpAdd, Op(ir.OpMul, Op(ir.OpDiv, d, rmsRoot(d)), Var("g")), Var("b"))},
		Check: func(m *Match) bool {
			c := lastDim(m.V("x"))
			for _, p := range []string{"g", "b"} {
				if s := m.V(p).Type.Shape; s.Rank() != 1 || s[0] != c {
					return false
				}
			}
			return true
		},
		Build: func(m *Match) *ir.Value {
			return m.Fuse(ir.OpLayerNorm, ir.Attrs{{Key: "eps", Val: m.Float("eps")}}, m.V("x"), m.V("g"), m.V("b"))
		},
		Stat: "fused",
	}}
}

// geluPat is the decomposition of gelu applied to x.
func geluPat(x *Pat) *Pat {
	cube := Op(ir.OpMul, Op(ir.OpSquare, x), x)
	inner := Op(ir.OpMul, Op(ir.OpAdd, x, Op(ir.OpMul, cube, ConstIs(ir.GELUCubic))), ConstIs(ir.GELUScale))
	return Op(ir.OpMul, Op(ir.OpMul, x, ConstIs(0.5)), Op(ir.OpAdd, Op(ir.OpTanh, inner), ConstIs(1)))
}

// siluPat is the decomposition of silu applied to x.
func siluPat(x *Pat) *Pat { return Op(ir.OpMul, x, Op(ir.OpSigmoid, x)) }

func geluRules() []*Rule {
	return []*Rule{{
		Name:  "gelu",
		Roots: []*Pat{geluPat(Var("x"))},
		Build: func(m *Match) *ir.Value { return m.Fuse(ir.OpGELU, nil, m.V("x")) },
		Stat:  "fused",
	}}
}

func siluRules() []*Rule {
	return []*Rule{{
		Name:  "silu",
		Roots: []*Pat{siluPat(Var("x"))},
		Build: func(m *Match) *ir.Value { return m.Fuse(ir.OpSiLU, nil, m.V("x")) },
		Stat:  "fused",
	}}
}

// sinkhornRules fuse the first round (exp of the shifted logits, then
// columns and rows) into sinkhorn iters=1, and each further round on top
// of a sinkhorn into one more iteration, until no round is left; the
// rounds are a chain (Rule.Chain), so one sweep fuses them all.
func sinkhornRules() []*Rule {
	round := func(M *Pat) *Pat {
		cols := Op(ir.OpDiv, M, Op(ir.OpSum, M).If(reduces(2))).As("cols")
		return Op(ir.OpDiv, cols, Op(ir.OpSum, cols).If(reduces(1)))
	}
	L := Var("L")
	first := round(Op(ir.OpExp, Op(ir.OpSub, L, Op(ir.OpMax, L).If(reduces(2, 1)))).As("M"))
	more := round(Op(ir.OpSinkhorn, L).As("M"))
	iterate := func(m *Match) *ir.Value {
		iters := 1
		if prev := m.V("M"); prev.Op == ir.OpSinkhorn {
			iters += prev.Attrs.Int("iters")
		}
		m.Count("iterations", 1)
		return m.Fuse(ir.OpSinkhorn, ir.Attrs{{Key: "iters", Val: iters}}, m.V("L"))
	}
	return []*Rule{
		{Name: "sinkhorn", Roots: []*Pat{first}, Build: iterate, Stat: "fused"},
		{Name: "sinkhorn-round", Roots: []*Pat{more}, Build: iterate, Chain: true},
	}
}

// hcCoeffsRules: m = matmul(x, phi) / r, and the three groups
// slice(m)·slice(alpha) + slice(bias) → pre = σ(group 0),
// post = 2σ(group 1), res = group 2 (n, n and R columns; n is the width
// of the first group).
func hcCoeffsRules() []*Rule {
	x := Var("x")
	proj := Op(ir.OpDiv,
		Op(ir.OpMatmul, x, Var("phi")).If(noTransB).If(func(v *ir.Value, _ *Match) bool {
			w := v.Args[1].Type.Shape
			return w.Rank() == 2 && !w[1].IsSym()
		}),
		rmsRoot(x)).As("m")
	// bounds of group i in m's last axis: [0, n), [n, 2n), [2n, w)
	bounds := func(i int) func(v *ir.Value, m *Match) (int, int, bool) {
		return func(v *ir.Value, m *Match) (int, int, bool) {
			n, w := m.Int("n"), lastDim(m.V("m")).N
			switch i {
			case 0:
				end := v.Attrs.Int("end")
				if v.Attrs.Int("start") != 0 || end < 1 || 2*end >= w || !m.BindInt("n", end) {
					return 0, 0, false
				}
				return 0, end, true
			case 1:
				return n, 2 * n, true
			}
			return 2 * n, w, true
		}
	}
	group := func(i int) *Pat {
		return Op(ir.OpAdd,
			Op(ir.OpMul,
				Op(ir.OpSlice, proj).If(sliceOf(-1, bounds(i))),
				Op(ir.OpSlice, Var("alpha")).If(sliceOf(0, func(*ir.Value, *Match) (int, int, bool) { return i, i + 1, true }))),
			Op(ir.OpSlice, Var("bias")).If(sliceOf(0, bounds(i))))
	}
	return []*Rule{{
		Name: "hc.coeffs",
		Roots: []*Pat{
			Op(ir.OpSigmoid, group(0)),
			Op(ir.OpMul, Op(ir.OpSigmoid, group(1)), ConstIs(2)),
			group(2),
		},
		Check: func(m *Match) bool {
			w := lastDim(m.V("m")).N
			return m.V("alpha").Type.Shape.Equal(ir.Dims(3)) && m.V("bias").Type.Shape.Equal(ir.Dims(w))
		},
		Build: func(m *Match) *ir.Value {
			n := m.Int("n")
			attrs := ir.Attrs{{Key: "n", Val: n}, {Key: "eps", Val: m.Float("eps")}}
			if r := lastDim(m.V("m")).N - 2*n; r != n*n {
				attrs = append(attrs, ir.Attr{Key: "res", Val: r})
			}
			return m.Fuse(ir.OpHCCoeffs, attrs, m.V("x"), m.V("phi"), m.V("alpha"), m.V("bias"))
		},
		Stat: "fused",
	}}
}

// hcReadRules: reshape(sum(mul(X, reshape(hPre, [..., n, 1])), axis n), [..., C]).
func hcReadRules() []*Rule {
	return []*Rule{{
		Name: "hc.read",
		Roots: []*Pat{Op(ir.OpReshape, Op(ir.OpSum,
			Op(ir.OpMul, Var("X"), Op(ir.OpReshape, Var("h")).As("hr"))).If(reduces(2)))},
		Check: func(m *Match) bool {
			X, h, hr := m.V("X").Type.Shape, m.V("h").Type.Shape, m.V("hr").Type.Shape
			r := X.Rank()
			return r >= 2 && h.Equal(X[:r-1]) && hr.Equal(append(X[:r-1].Clone(), ir.D(1)))
		},
		Build: func(m *Match) *ir.Value { return m.Fuse(ir.OpHCRead, nil, m.V("h"), m.V("X")) },
		Stat:  "fused",
	}}
}

// hcWriteRules: add(matmul(hRes, X), mul(reshape(hPost, [..., n, 1]),
// reshape(y, [..., 1, C]))).
func hcWriteRules() []*Rule {
	return []*Rule{{
		Name: "hc.write",
		Roots: []*Pat{Op(ir.OpAdd,
			Op(ir.OpMatmul, Var("hRes"), Var("X")).If(noTransB),
			Op(ir.OpMul, Op(ir.OpReshape, Var("hPost")).As("hp"), Op(ir.OpReshape, Var("y")).As("yr")))},
		Check: func(m *Match) bool {
			X := m.V("X").Type.Shape
			r := X.Rank()
			return r >= 3 && m.V("hRes").Type.Shape.Rank() == r &&
				m.V("hp").Type.Shape.Equal(append(X[:r-1].Clone(), ir.D(1))) &&
				m.V("yr").Type.Shape.Equal(append(X[:r-2].Clone(), ir.D(1), X[r-1]))
		},
		Build: func(m *Match) *ir.Value {
			return m.Fuse(ir.OpHCWrite, nil, m.V("hRes"), m.V("X"), m.V("hPost"), m.V("y"))
		},
		Stat: "fused",
	}}
}

// qkvRules: two or more matmuls of one x by 2-D weights of constant width
// (no trans_b) → one matmul.concat(x, w₁, w₂, ...).
func qkvRules() []*Rule {
	return []*Rule{{
		Name: "matmul.concat",
		Roots: []*Pat{Op(ir.OpMatmul, Var("x"), Var("w")).If(noTransB).If(func(v *ir.Value, _ *Match) bool {
			w := v.Args[1].Type.Shape
			return w.Rank() == 2 && !w[1].IsSym()
		})},
		Group: "x",
		Build: func(m *Match) *ir.Value {
			args := []*ir.Value{m.V("x")}
			for _, g := range m.Group() {
				args = append(args, g.V("w"))
			}
			m.Count("matmuls", len(args)-1)
			return m.Fuse(ir.OpMatmulConcat, nil, args...)
		},
		Stat: "fused",
	}}
}

// attentionRules: matmul(softmax(causal_mask(matmul(q, k, trans_b)·scale)), v);
// the mask and the scale are optional.
func attentionRules() []*Rule {
	scores := Op(ir.OpMatmul, Var("q"), Var("k")).If(func(v *ir.Value, _ *Match) bool { return v.Attrs.Bool("trans_b") })
	scaled := Maybe("scaled", Op(ir.OpMul, scores, Const("scale")), 0)
	masked := Maybe("causal", Op(ir.OpCausalMask, scaled), 0)
	return []*Rule{{
		Name:  "attention",
		Roots: []*Pat{Op(ir.OpMatmul, Op(ir.OpSoftmax, masked), Var("v")).If(noTransB)},
		Build: func(m *Match) *ir.Value {
			scale := 1.0
			if m.Flag("scaled") {
				scale = m.Float("scale")
			}
			return m.Fuse(ir.OpAttention, ir.Attrs{{Key: "scale", Val: scale}, {Key: "causal", Val: m.Flag("causal")}},
				m.V("q"), m.V("k"), m.V("v"))
		},
		Stat: "fused",
	}}
}

// crossEntropyRules: neg(reshape(mean(pick(log_softmax(logits), targets),
// all axes), [])).
func crossEntropyRules() []*Rule {
	allAxes := func(v *ir.Value, _ *Match) bool {
		r := v.Type.Shape.Rank()
		axes := make([]int, r)
		for i := range axes {
			axes[i] = i
		}
		return r > 0 && axesAre(v, axes...)
	}
	return []*Rule{{
		Name: "cross_entropy",
		Roots: []*Pat{Op(ir.OpNeg, Op(ir.OpReshape,
			Op(ir.OpMean, Op(ir.OpPick, Op(ir.OpLogSoftmax, Var("logits")), Var("targets"))).If(allAxes)))},
		Build: func(m *Match) *ir.Value { return m.Fuse(ir.OpCrossEntropy, nil, m.V("logits"), m.V("targets")) },
		Stat:  "fused",
	}}
}
