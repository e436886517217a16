package ir

import "fmt"

// Sequence ops: the ones that relate positions along the time axis.
const (
	// OpCausalMask keeps x[..., i, j] for j ≤ i and replaces the rest with
	// CausalMaskValue (so a following softmax gives them weight 0); x is
	// [..., T, T].
	OpCausalMask = "causal_mask"
	// OpRope applies rotary position embeddings to x [..., T, D] (D even),
	// half-split convention: for i < D/2 the pair (x_i, x_{i+D/2}) at
	// position t is rotated by angle t·base^(−2i/D). Attrs: base. FLOPs: 3
	// per element.
	OpRope = "rope"
	// OpAttention (fused) is softmax(causal_mask(q·kᵀ·scale))·v for q, k
	// [..., T, d] and v [..., T, dv] (the mask only when causal; the
	// product by scale only when scale ≠ 1).
	OpAttention = "attention"

	// OpRopeAt is rope at positions shifted by pos (i32[]): x [..., T, D]
	// at time index t is rotated as rope rotates position pos + t. It is
	// how a decoding step places its tokens after the cached ones.
	OpRopeAt = "rope.at"
	// OpAttentionCached is one decoding step of causal attention over a
	// key/value cache: q, k [..., T, d] and v [..., T, dv] are the new
	// positions len … len+T−1, kCache [..., S, d] and vCache [..., S, dv]
	// hold the earlier ones in their first len rows (len i32[], 0 ≤ len ≤
	// S). Query i attends to the cached keys 0 … len−1 and to the new keys
	// 0 … i, with weights softmax(scale·q·kᵀ); the result is [..., T, dv].
	// With len = 0 it is attention causal=true. Forward only: the runtime
	// appends k and v to the cache after each step. FLOPs are counted for a
	// full cache (len = S).
	OpAttentionCached = "attention.cached"
)

// CausalMaskValue is what causal_mask writes above the diagonal.
const CausalMaskValue = -1e9

func init() {
	define("sequence",
		&OpDef{Name: OpCausalMask, Doc: "mask j > i with −1e9", Args: []ArgDef{f32("x")},
			Type: func(args []*Value, _ Attrs) (Type, error) {
				s := args[0].Type.Shape
				if s.Rank() < 2 || s[s.Rank()-1] != s[s.Rank()-2] {
					return Type{}, fmt.Errorf("causal_mask: want [..., T, T], got %s", s)
				}
				return args[0].Type, nil
			},
			FLOPs: zeroFLOPs},
		&OpDef{Name: OpRope, Doc: "rotary position embedding", Args: []ArgDef{f32("x")},
			Attrs: []AttrDef{attr("base", AttrFloat, "the base of the rotation frequencies")},
			Type:  ropeType,
			FLOPs: perOutput(3)},
		&OpDef{Name: OpAttention, Doc: "fused causal softmax attention", Fused: true,
			Args: []ArgDef{f32("q"), f32("k"), f32("v")},
			Attrs: []AttrDef{
				attr("scale", AttrFloat, "the factor of q·kᵀ"),
				attr("causal", AttrBool, "mask the future"),
			},
			Type: func(args []*Value, _ Attrs) (Type, error) {
				q, k, v := args[0].Type.Shape, args[1].Type.Shape, args[2].Type.Shape
				if q.Rank() < 2 || !q.Equal(k) || v.Rank() != q.Rank() || !q[:q.Rank()-1].Equal(v[:v.Rank()-1]) {
					return Type{}, fmt.Errorf("attention: want q, k [..., T, d] and v [..., T, dv], got %s %s %s", q, k, v)
				}
				return Type{DType: F32, Shape: v.Clone()}, nil
			},
			FLOPs: func(in [][]int, out []int, attrs Attrs) int64 {
				q := in[0]
				d := int64(q[len(q)-1])
				tq := int64(q[len(q)-2])
				scores := numel(q[:len(q)-1]) * tq // [..., T, T]
				f := 2*scores*d + 5*scores + 2*numel(out)*tq
				if attrs.Float("scale") != 1 {
					f += scores
				}
				return f
			},
			Decompose: func(b *Builder, args []*Value, attrs Attrs) []*Value {
				s := b.Matmul(args[0], args[1], true)
				if c := attrs.Float("scale"); c != 1 {
					s = b.Scale(s, c)
				}
				if attrs.Bool("causal") {
					s = b.CausalMask(s)
				}
				return []*Value{b.Matmul(b.Softmax(s), args[2], false)}
			}},
		&OpDef{Name: OpRopeAt, Doc: "rotary position embedding from a position offset",
			Args:  []ArgDef{f32("x"), {"pos", ArgI32}},
			Attrs: []AttrDef{attr("base", AttrFloat, "the base of the rotation frequencies")},
			Type: func(args []*Value, attrs Attrs) (Type, error) {
				if p := args[1].Type.Shape; p.Rank() != 0 {
					return Type{}, fmt.Errorf("rope.at: pos must be i32[], got %s", args[1].Type)
				}
				return ropeType(args, attrs)
			},
			FLOPs: perOutput(3)},
		&OpDef{Name: OpAttentionCached, Doc: "causal attention of new positions over a key/value cache",
			Args:  []ArgDef{f32("q"), f32("k"), f32("v"), f32("kCache"), f32("vCache"), {"len", ArgI32}},
			Attrs: []AttrDef{attr("scale", AttrFloat, "the factor of q·kᵀ")},
			Type: func(args []*Value, _ Attrs) (Type, error) {
				q, k, v := args[0].Type.Shape, args[1].Type.Shape, args[2].Type.Shape
				kc, vc, n := args[3].Type.Shape, args[4].Type.Shape, args[5].Type.Shape
				r := q.Rank()
				if r < 2 || !q.Equal(k) || v.Rank() != r || !v[:r-1].Equal(q[:r-1]) || kc.Rank() != r || vc.Rank() != r ||
					!kc[:r-2].Equal(q[:r-2]) || kc[r-1] != q[r-1] || !vc[:r-1].Equal(kc[:r-1]) || vc[r-1] != v[r-1] || n.Rank() != 0 {
					return Type{}, fmt.Errorf("attention.cached: want q, k [..., T, d], v [..., T, dv], kCache [..., S, d], vCache [..., S, dv], len i32[], got %s %s %s %s %s %s",
						q, k, v, kc, vc, n)
				}
				return Type{DType: F32, Shape: v.Clone()}, nil
			},
			FLOPs: func(in [][]int, out []int, _ Attrs) int64 {
				q, kc := in[0], in[3]
				d, t := int64(q[len(q)-1]), int64(q[len(q)-2])
				keys := int64(kc[len(kc)-2]) + t
				queries := numel(q) / d
				dv := lastInt(out)
				return queries * keys * (2*d + 5 + 2*dv)
			},
			ForwardOnly: true},
	)
}

func ropeType(args []*Value, _ Attrs) (Type, error) {
	s := args[0].Type.Shape
	if s.Rank() < 2 || s[s.Rank()-1].IsSym() || s[s.Rank()-1].N%2 != 0 {
		return Type{}, fmt.Errorf("rope: want [..., T, D] with even constant D, got %s", s)
	}
	return args[0].Type, nil
}
