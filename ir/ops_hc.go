package ir

import "fmt"

// The hyper-connection ops (docs/hyperconnections.md §3, §6), all fused.
const (
	// OpSinkhorn is Sinkhorn-Knopp on logits L [..., n, n]:
	// M = exp(L − max over the last two axes), then iters times divide
	// every column by its sum, then every row by its sum (rows sum to 1
	// exactly afterwards).
	OpSinkhorn = "sinkhorn"
	// OpHCCoeffs computes all mHC coefficients of a sublayer in one pass
	// (§3 steps 1–4 without Sinkhorn): x [..., K] (the flattened token,
	// K = n·C), phi [K, w], alpha [3], bias [w] with w = 2n + R. With
	// m = (x·phi)/sqrt(mean(x²) + eps), the result [..., w] is
	// [σ(α₀·m_pre + b_pre) | 2σ(α₁·m_post + b_post) | α₂·m_res + b_res]
	// (n, n and R columns: its three parts). Attrs: n, eps, res (R:
	// optional, n² when absent; n! for constraint=permutations).
	OpHCCoeffs = "hc.coeffs"
	// OpHCRead is u = Σ_j hPre[..., j]·X[..., j, :]: hPre [..., n],
	// X [..., n, C] → [..., C].
	OpHCRead = "hc.read"
	// OpHCWrite is X'[..., i, :] = Σ_j hRes[..., i, j]·X[..., j, :] +
	// hPost[..., i]·y: hRes [..., n, n], X [..., n, C], hPost [..., n],
	// y [..., C] → [..., n, C]. hRes acts from the left: row i makes
	// stream i.
	OpHCWrite = "hc.write"
)

// HCCoeffsWidth is the width 2n + R of an hc.coeffs result: R is the
// attribute res, or n² when it is absent.
func HCCoeffsWidth(n int, attrs Attrs) int {
	if r, ok := attrs.Get("res").(int); ok {
		return 2*n + r
	}
	return n*n + 2*n
}

func init() {
	define("hyper-connections",
		&OpDef{Name: OpSinkhorn, Doc: "fused Sinkhorn-Knopp projection", Fused: true,
			Args:  []ArgDef{f32("logits")},
			Attrs: []AttrDef{attr("iters", AttrInt, "column-then-row normalisation rounds, ≥ 1")},
			Type: func(args []*Value, attrs Attrs) (Type, error) {
				s := args[0].Type.Shape
				if s.Rank() < 2 || s[s.Rank()-1] != s[s.Rank()-2] || attrs.Int("iters") < 1 {
					return Type{}, fmt.Errorf("sinkhorn: want [..., n, n] and iters ≥ 1, got %s iters=%d", s, attrs.Int("iters"))
				}
				return Type{DType: F32, Shape: s.Clone()}, nil
			},
			// max, sub, exp; per round 2 sums and 2 divides
			FLOPs: func(_ [][]int, out []int, attrs Attrs) int64 {
				return (3 + 4*int64(attrs.Int("iters"))) * numel(out)
			},
			Decompose: func(b *Builder, args []*Value, attrs Attrs) []*Value {
				L := args[0]
				r := L.Type.Shape.Rank()
				M := b.Exp(b.Sub(L, b.Max(L, r-2, r-1)))
				for range attrs.Int("iters") {
					M = b.Div(M, b.Sum(M, r-2)) // column sums (over rows i)
					M = b.Div(M, b.Sum(M, r-1)) // row sums (over columns j)
				}
				return []*Value{M}
			}},
		&OpDef{Name: OpHCCoeffs, Doc: "fused mHC coefficient projection", Fused: true,
			Args: []ArgDef{f32("x"), f32("phi"), f32("alpha"), f32("bias")},
			Attrs: []AttrDef{
				attr("n", AttrInt, "streams: the width of the pre and post parts"),
				attr("eps", AttrFloat, "added to the mean square of x"),
				optAttr("res", AttrInt, "the width of the res part (n² when absent)"),
			},
			Type: func(args []*Value, attrs Attrs) (Type, error) {
				x, phi, alpha, bias := args[0].Type.Shape, args[1].Type.Shape, args[2].Type.Shape, args[3].Type.Shape
				n := attrs.Int("n")
				w := HCCoeffsWidth(n, attrs)
				if n < 1 || w <= 2*n || x.Rank() == 0 || phi.Rank() != 2 || phi[0] != last(x) || phi[1] != D(w) ||
					!alpha.Equal(Dims(3)) || !bias.Equal(Dims(w)) {
					return Type{}, fmt.Errorf("hc.coeffs n=%d: want x [..., K], phi [K, %d], alpha [3], bias [%d], got %s %s %s %s",
						n, w, w, x, phi, alpha, bias)
				}
				out := x.Clone()
				out[len(out)-1] = D(w)
				return Type{DType: F32, Shape: out}, nil
			},
			// square, mean: 2K; add, sqrt: 2; matmul: 2Kw; divide by r: w;
			// α·m + b: 2w; σ (pre), σ and ·2 (post): 3n — per row.
			FLOPs: func(in [][]int, out []int, attrs Attrs) int64 {
				k, n := lastInt(in[0]), int64(attrs.Int("n"))
				w := lastInt(out)
				rows := numel(out) / w
				return rows * (2*k + 2 + 2*k*w + 3*w + 3*n)
			},
			Decompose: func(b *Builder, args []*Value, attrs Attrs) []*Value {
				x, phi, alpha, bias := args[0], args[1], args[2], args[3]
				n := attrs.Int("n")
				w := HCCoeffsWidth(n, attrs)
				r := b.Sqrt(b.Add(b.Mean(b.Square(x), -1), b.Const(attrs.Float("eps"))))
				m := b.Div(b.Matmul(x, phi, false), r)
				// group i: α_i·m[start:end] + bias[start:end]
				group := func(i, start, end int) *Value {
					return b.Add(b.Mul(b.Slice(m, -1, start, end), b.Slice(alpha, 0, i, i+1)), b.Slice(bias, 0, start, end))
				}
				pre := b.Sigmoid(group(0, 0, n))
				post := b.Scale(b.Sigmoid(group(1, n, 2*n)), 2)
				return []*Value{pre, post, group(2, 2*n, w)}
			}},
		&OpDef{Name: OpHCRead, Doc: "fused stream read H_pre·X", Fused: true,
			Args: []ArgDef{f32("hPre"), f32("X")},
			Type: func(args []*Value, _ Attrs) (Type, error) {
				h, X := args[0].Type.Shape, args[1].Type.Shape
				if X.Rank() < 2 || !h.Equal(X[:X.Rank()-1]) {
					return Type{}, fmt.Errorf("hc.read: want hPre [..., n] and X [..., n, C], got %s and %s", h, X)
				}
				return Type{DType: F32, Shape: append(lead(X, 2), last(X))}, nil
			},
			// multiply and sum over the n·C stream values
			FLOPs: func(in [][]int, _ []int, _ Attrs) int64 { return 2 * numel(in[1]) },
			Decompose: func(b *Builder, args []*Value, _ Attrs) []*Value {
				h, X := args[0], args[1]
				r := X.Type.Shape.Rank()
				hr := b.Reshape(h, append(h.Type.Shape.Clone(), D(1)))
				return []*Value{b.Reshape(b.Sum(b.Mul(X, hr), r-2), append(lead(X.Type.Shape, 2), last(X.Type.Shape)))}
			}},
		&OpDef{Name: OpHCWrite, Doc: "fused stream mix and write H_res·X + H_postᵀ·y", Fused: true,
			Args: []ArgDef{f32("hRes"), f32("X"), f32("hPost"), f32("y")},
			Type: func(args []*Value, _ Attrs) (Type, error) {
				hRes, X, hPost, y := args[0].Type.Shape, args[1].Type.Shape, args[2].Type.Shape, args[3].Type.Shape
				r := X.Rank()
				if r < 2 || !hPost.Equal(X[:r-1]) || !hRes.Equal(append(X[:r-1].Clone(), X[r-2])) ||
					!y.Equal(append(X[:r-2].Clone(), X[r-1])) {
					return Type{}, fmt.Errorf("hc.write: want hRes [..., n, n], X [..., n, C], hPost [..., n], y [..., C], got %s %s %s %s",
						hRes, X, hPost, y)
				}
				return Type{DType: F32, Shape: X.Clone()}, nil
			},
			// H_res·X, then H_post·y multiplied and added
			FLOPs: func(in [][]int, out []int, _ Attrs) int64 {
				x := in[1]
				n := int64(x[len(x)-2])
				return 2*n*numel(out) + 2*numel(out)
			},
			Decompose: func(b *Builder, args []*Value, _ Attrs) []*Value {
				hRes, X, hPost, y := args[0], args[1], args[2], args[3]
				mix := b.Matmul(hRes, X, false)
				hp := b.Reshape(hPost, append(hPost.Type.Shape.Clone(), D(1)))
				yr := b.Reshape(y, append(lead(y.Type.Shape, 1), D(1), last(y.Type.Shape)))
				return []*Value{b.Add(mix, b.Mul(hp, yr))}
			}},
	)
}
