package ir

import "fmt"

// Mixture of experts (DeepSeek-V3 routing; docs/moe.md): the selection of
// k experts per token, the load they receive, and the routed experts'
// gated feed-forward networks.
const (
	// OpMoETopK selects, in every row of x [..., E], the indices of its k
	// largest entries: i32[..., k], in descending order of value, ties to
	// the lower index, NaN below every number. Attrs: k (1 ≤ k ≤ E). The
	// result is an index tensor: no gradient flows through the selection
	// (the gates carry the gradient to the router). FLOPs: one comparison
	// per entry of x, as a max reduction counts.
	OpMoETopK = "moe.topk"
	// OpMoELoad is the share of the routing slots each expert received:
	// idx i32[..., k] with values in [0, E) → f32[E],
	// load[e] = #{entries of idx equal to e} / numel(idx), so the loads
	// sum to 1 and a balanced router gives 1/E each. Attrs: experts (E).
	// No gradient. FLOPs: one per index.
	OpMoELoad = "moe.load"
	// OpMoEExperts (fused) is the routed experts' output
	// y[t] = Σ_j gates[t, j] · FFN_{idx[t, j]}(x[t]) for x [..., C],
	// idx i32[..., k], gates [..., k] and the stacked expert weights
	// w1, w3, w2 [E, H, C]: FFN_e(u) = (act(u·W1_eᵀ) ⊙ (u·W3_eᵀ))·W2_e,
	// a gated FFN (SwiGLU for act=silu, GeGLU for act=gelu) whose input
	// projections W1_e, W3_e [H, C] act on the rows of u. Attrs: act
	// ("silu" or "gelu"). Its decomposition gathers each token's k
	// experts' weights (gather by idx) and multiplies per token, so it
	// computes, and counts, k experts per token and never E; a backend
	// groups the tokens of each expert into one product instead.
	OpMoEExperts = "moe.experts"
)

// MoEActs are the activations of a gated expert FFN (attribute act of
// moe.experts): the fused activation ops of the op table.
var MoEActs = []string{OpSiLU, OpGELU}

func init() {
	define("mixture of experts",
		&OpDef{Name: OpMoETopK, Doc: "indices of the k largest entries of each row",
			Args:  []ArgDef{f32("x")},
			Attrs: []AttrDef{attr("k", AttrInt, "how many indices per row, 1 ≤ k ≤ E")},
			Type: func(args []*Value, attrs Attrs) (Type, error) {
				s := args[0].Type.Shape
				k := attrs.Int("k")
				if s.Rank() == 0 || last(s).IsSym() || k < 1 || k > last(s).N {
					return Type{}, fmt.Errorf("moe.topk: want x [..., E] with constant E and 1 ≤ k ≤ E, got %s k=%d", s, k)
				}
				return Type{DType: I32, Shape: append(lead(s, 1), D(k))}, nil
			},
			FLOPs: func(in [][]int, _ []int, _ Attrs) int64 { return numel(in[0]) }},
		&OpDef{Name: OpMoELoad, Doc: "share of the routing slots each expert received",
			Args:  []ArgDef{{"idx", ArgI32}},
			Attrs: []AttrDef{attr("experts", AttrInt, "the number of experts E, ≥ 1")},
			Type: func(args []*Value, attrs Attrs) (Type, error) {
				if e := attrs.Int("experts"); e < 1 || args[0].Type.Shape.Rank() == 0 {
					return Type{}, fmt.Errorf("moe.load: want idx i32[..., k] and experts ≥ 1, got %s experts=%d", args[0].Type, e)
				}
				return Type{DType: F32, Shape: Dims(attrs.Int("experts"))}, nil
			},
			FLOPs: func(in [][]int, _ []int, _ Attrs) int64 { return numel(in[0]) }},
		&OpDef{Name: OpMoEExperts, Doc: "fused routed experts: gated FFNs of the k selected experts per token", Fused: true,
			Args:  []ArgDef{f32("x"), {"idx", ArgI32}, f32("gates"), f32("w1"), f32("w3"), f32("w2")},
			Attrs: []AttrDef{attr("act", AttrString, "the gate activation: silu (SwiGLU) or gelu (GeGLU)")},
			Type:  moeExpertsType,
			FLOPs: func(in [][]int, _ []int, attrs Attrs) int64 {
				slots := numel(in[1]) // tokens × k
				h, c := int64(in[3][1]), int64(in[3][2])
				// three products per slot, the activation, the product with
				// the up projection and the gate
				return slots * (6*c*h + (moeActFLOPs(attrs.String("act"))+2)*h)
			},
			// x·W1ᵀ and x·W3ᵀ of every slot, [tokens × k, H] each; the
			// activation, its product with x·W3ᵀ and each expert's output
			// are recomputed from them
			Activations: func(in [][]int, _ []int, _ Attrs) int64 {
				return 2 * numel(in[1]) * int64(in[3][1])
			},
			Decompose: moeExpertsDecompose},
	)
}

// moeActFLOPs is the per-element FLOPs rule of an expert activation.
func moeActFLOPs(act string) int64 {
	if act == OpGELU {
		return 9
	}
	return 2
}

func moeExpertsType(args []*Value, attrs Attrs) (Type, error) {
	x, idx, g := args[0].Type.Shape, args[1].Type.Shape, args[2].Type.Shape
	w1, w3, w2 := args[3].Type.Shape, args[4].Type.Shape, args[5].Type.Shape
	r := x.Rank()
	bad := func(why string) (Type, error) {
		return Type{}, fmt.Errorf("moe.experts: %s: want x [..., C], idx i32[..., k], gates [..., k], w1, w3, w2 [E, H, C], got %s %s %s %s %s %s",
			why, x, idx, g, w1, w3, w2)
	}
	act := attrs.String("act")
	if act != OpSiLU && act != OpGELU {
		return Type{}, fmt.Errorf("moe.experts: act must be %s or %s, got %q", OpSiLU, OpGELU, act)
	}
	switch {
	case r == 0 || idx.Rank() != r || !idx[:r-1].Equal(x[:r-1]) || last(idx).IsSym():
		return bad("idx does not match x")
	case !g.Equal(idx):
		return bad("gates do not match idx")
	case w1.Rank() != 3 || !w1.Equal(w3) || !w2.Equal(w1):
		return bad("the weights differ in shape")
	case w1[0].IsSym() || w1[1].IsSym() || w1[2] != last(x):
		return bad("the weights must be constant [E, H, C]")
	}
	return Type{DType: F32, Shape: x.Clone()}, nil
}

// moeExpertsDecompose is the per-token form of moe.experts: with L the
// leading dimensions of x, the k experts' weights of each token are
// gathered (rows of the flattened [E, H·C] weights by idx) into
// [L..., k·H, C]; one product with x [L..., 1, C] gives the k hidden
// layers side by side, [L..., 1, k·H]; each expert's block is scaled by
// its gate, and one product with the gathered output weights sums the k
// experts. A reshape that would be the identity (k = 1) is left out.
func moeExpertsDecompose(b *Builder, args []*Value, attrs Attrs) []*Value {
	x, idx, gates := args[0], args[1], args[2]
	xs := x.Type.Shape
	L := lead(xs, 1)
	C := last(xs)
	k := last(idx.Type.Shape).N
	E, H := args[3].Type.Shape[0], args[3].Type.Shape[1].N
	with := func(dims ...Dim) Shape { return append(L.Clone(), dims...) }
	gathered := func(w *Value) *Value {
		flat := b.Reshape(w, Shape{E, D(H * C.N)})
		return b.Reshape(b.Gather(flat, idx), with(D(k*H), C))
	}
	xr := b.Reshape(x, with(D(1), C))
	h1 := b.Matmul(xr, gathered(args[3]), true)
	h3 := b.Matmul(xr, gathered(args[4]), true)
	a := b.Mul(b.Expand(attrs.String("act"), nil, h1), h3) // [L..., 1, k·H]
	if k > 1 {
		a = b.Reshape(a, with(D(k), D(H)))
	}
	a = b.Mul(a, b.Reshape(gates, with(D(k), D(1))))
	if k > 1 {
		a = b.Reshape(a, with(D(1), D(k*H)))
	}
	y := b.Matmul(a, gathered(args[5]), false) // [L..., 1, C]
	return []*Value{b.Reshape(y, xs)}
}
