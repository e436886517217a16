package ir

import "fmt"

// Matrix products.
const (
	// OpMatmul multiplies a [..., M, K] by b: either a shared matrix
	// [K, N] or a batch [..., K, N] with the same leading dimensions as a.
	// With attr trans_b, b is given transposed: [N, K] or [..., N, K]. The
	// result is [..., M, N]. FLOPs: 2·M·K·N per leading index.
	OpMatmul = "matmul"
	// OpMatmulConcat (fused) is x·[w₁ | w₂ | ... ] for shared weights
	// wᵢ [K, Nᵢ]: x [..., K] → [..., ΣNᵢ] (one product for Q, K and V).
	// Its parts are the products x·wᵢ.
	OpMatmulConcat = "matmul.concat"
)

func init() {
	define("products",
		&OpDef{Name: OpMatmul, Doc: "(batched) matrix product", Args: []ArgDef{f32("a"), f32("b")},
			Attrs: []AttrDef{attr("trans_b", AttrBool, "b is given transposed")},
			Type: func(args []*Value, attrs Attrs) (Type, error) {
				return inferMatmul(args[0].Type.Shape, args[1].Type.Shape, attrs.Bool("trans_b"))
			},
			FLOPs: func(in [][]int, out []int, _ Attrs) int64 { return 2 * numel(out) * lastInt(in[0]) }},
		&OpDef{Name: OpMatmulConcat, Doc: "one matmul against concatenated shared weights",
			Args: []ArgDef{f32("x"), f32("w")}, Variadic: true, Fused: true,
			Type: func(args []*Value, _ Attrs) (Type, error) {
				x := args[0].Type.Shape
				if x.Rank() < 2 {
					return Type{}, fmt.Errorf("matmul.concat: x must have rank ≥ 2, got %s", x)
				}
				total := 0
				for _, w := range args[1:] {
					ws := w.Type.Shape
					if ws.Rank() != 2 || ws[0] != last(x) || ws[1].IsSym() {
						return Type{}, fmt.Errorf("matmul.concat: weight %s does not match x %s", ws, x)
					}
					total += ws[1].N
				}
				out := x.Clone()
				out[len(out)-1] = D(total)
				return Type{DType: F32, Shape: out}, nil
			},
			FLOPs: func(in [][]int, out []int, _ Attrs) int64 { return 2 * numel(out) * lastInt(in[0]) },
			Decompose: func(b *Builder, args []*Value, _ Attrs) []*Value {
				parts := make([]*Value, len(args)-1)
				for i, w := range args[1:] {
					parts[i] = b.Matmul(args[0], w, false)
				}
				return parts
			}},
	)
}

func inferMatmul(a, b Shape, transB bool) (Type, error) {
	if a.Rank() < 2 || b.Rank() < 2 {
		return Type{}, fmt.Errorf("matmul: operands must have rank ≥ 2, got %s and %s", a, b)
	}
	m, k := a[a.Rank()-2], a[a.Rank()-1]
	kb, n := b[b.Rank()-2], b[b.Rank()-1]
	if transB {
		kb, n = n, kb
	}
	if k != kb {
		return Type{}, fmt.Errorf("matmul: inner dimensions differ: %s × %s (trans_b=%v)", a, b, transB)
	}
	if b.Rank() != 2 && !a[:a.Rank()-2].Equal(b[:b.Rank()-2]) {
		return Type{}, fmt.Errorf("matmul: batch dimensions differ: %s × %s", a, b)
	}
	out := append(a[:a.Rank()-2].Clone(), m, n)
	return Type{DType: F32, Shape: out}, nil
}
