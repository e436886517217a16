package ir

// The primitive ops. Every backend implements each of them; the semantics
// below are the contract.
//
// Broadcasting (add, sub, mul, div): shapes are aligned on the right; the
// shorter one is padded with leading 1s; each pair of dimensions must be equal
// or one of them must be the constant 1. The result takes the larger of each
// pair. Reductions keep the reduced axes with size 1.
const (
	// OpParam is a trainable tensor. Attrs: name (string, the model path and
	// checkpoint name), init (Init), decay (bool: AdamW weight decay applies).
	OpParam = "param"
	// OpInput is a tensor fed each step. Attrs: name (string).
	OpInput = "input"
	// OpConst is a scalar constant f32[]. Attrs: value (float64).
	OpConst = "const"
	// OpPermutations is the constant table of the n! permutation matrices
	// of size n×n, f32[n!, n²]: row p is vec(P_p) (row-major), where
	// P_p[i, π_p(i)] = 1 and every other entry is 0, for the permutations
	// π_p of 0..n−1 in lexicographic order (row 0 is the identity; see
	// Permutations). Attrs: n (int, 1 ≤ n ≤ MaxPermutationsN). It has no
	// arguments and no gradient.
	OpPermutations = "permutations"

	// Unary elementwise ops; the result has the argument's type.
	OpNeg     = "neg"
	OpExp     = "exp"
	OpLog     = "log"
	OpSqrt    = "sqrt"
	OpSquare  = "square"
	OpSigmoid = "sigmoid"
	OpTanh    = "tanh"
	OpRelu    = "relu"

	// Binary elementwise ops with broadcasting.
	OpAdd = "add"
	OpSub = "sub"
	OpMul = "mul"
	OpDiv = "div"

	// Reductions over attr axes ([]int, non-negative, ascending), keeping
	// the reduced axes with size 1.
	OpSum  = "sum"
	OpMean = "mean"
	OpMax  = "max"

	// OpReshape reinterprets the row-major data with attr shape (Shape).
	OpReshape = "reshape"
	// OpTranspose permutes axes: result axis i is argument axis perm[i].
	OpTranspose = "transpose"
	// OpSlice keeps indices [start, end) of attr axis.
	OpSlice = "slice"
	// OpBroadcast repeats size-1 axes to attr shape (same rank).
	OpBroadcast = "broadcast"

	// OpMatmul multiplies a [..., M, K] by b: either a shared matrix
	// [K, N] or a batch [..., K, N] with the same leading dimensions as a.
	// With attr trans_b, b is given as [K...]-transposed: [N, K] or
	// [..., N, K]. The result is [..., M, N].
	OpMatmul = "matmul"

	// OpSoftmax and OpLogSoftmax normalise over the last axis.
	OpSoftmax    = "softmax"
	OpLogSoftmax = "log_softmax"

	// OpGather looks up rows: table [V, C], indices i32[...] → [..., C].
	OpGather = "gather"
	// OpPick selects along the last axis: x [..., V], indices i32[...] → [...],
	// result[...] = x[..., idx[...]].
	OpPick = "pick"
	// OpCausalMask keeps x[..., i, j] for j ≤ i and replaces the rest with
	// −1e9 (so a following softmax gives them weight 0); x is [..., T, T].
	OpCausalMask = "causal_mask"
	// OpRope applies rotary position embeddings to x [..., T, D] (D even),
	// half-split convention: for i < D/2 the pair (x_i, x_{i+D/2}) at
	// position t is rotated by angle t·base^(−2i/D). Attrs: base (float64).
	OpRope = "rope"
)

// Fused ops, created by the fusion passes at -O2 (never by lowering). Each
// is defined as exactly the primitive computation it replaces, so -O0 and
// -O2 agree up to floating-point rounding.
//
// A fused value made by a pass also carries the attr members (int): how
// many computing values of the primitive form it replaced (constants,
// params and inputs are not counted), e.g. sinkhorn iters=20 members=83
// (max, sub, exp and 4 values per iteration). It records the rewrite and
// has no effect on the semantics; backends ignore it.
const (
	// OpRMSNorm is x / sqrt(mean(x², last axis) + eps) · g: x [..., C],
	// g [C]. Attrs: eps (float64).
	OpRMSNorm = "rmsnorm"
	// OpSinkhorn is Sinkhorn-Knopp on logits L [..., n, n]:
	// M = exp(L − max over the last two axes), then iters times divide
	// every column by its sum, then every row by its sum. Attrs: iters (int).
	OpSinkhorn = "sinkhorn"
	// OpHCCoeffs computes all mHC coefficients of a sublayer in one pass
	// (mhc.md §3 steps 1–4 without Sinkhorn): x [..., K] (the flattened
	// token, K = n·C), phi [K, w], alpha [3], bias [w] with w = 2n + R. With
	// m = (x·phi)/sqrt(mean(x²) + eps), the result [..., w] is
	// [σ(α₀·m_pre + b_pre) | 2σ(α₁·m_post + b_post) | α₂·m_res + b_res]
	// (n, n and R columns). Attrs: n (int), eps (float64), res (int, R:
	// optional, n² when absent; n! for constraint=permutations).
	OpHCCoeffs = "hc.coeffs"
	// OpHCRead is u = Σ_j hPre[..., j]·X[..., j, :]: hPre [..., n],
	// X [..., n, C] → [..., C].
	OpHCRead = "hc.read"
	// OpHCWrite is X'[..., i, :] = Σ_j hRes[..., i, j]·X[..., j, :] +
	// hPost[..., i]·y: hRes [..., n, n], X [..., n, C], hPost [..., n],
	// y [..., C] → [..., n, C].
	OpHCWrite = "hc.write"
	// OpAttention is softmax(causal_mask(q·kᵀ·scale))·v for q, k, v
	// [..., T, d] (the mask only when causal). Attrs: scale (float64),
	// causal (bool).
	OpAttention = "attention"
	// OpCrossEntropy is the mean over every position of
	// −log_softmax(logits)[..., target]: logits [..., V], targets i32[...]
	// → f32[].
	OpCrossEntropy = "cross_entropy"
	// OpMatmulConcat is x·[w₁ | w₂ | ... ] for shared weights wᵢ [K, Nᵢ]:
	// x [..., K] → [..., ΣNᵢ] (one matmul for Q, K and V).
	OpMatmulConcat = "matmul.concat"
	// OpGELU is the tanh approximation of GELU, elementwise:
	// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), the result has the
	// argument's type.
	OpGELU = "gelu"
)

// OpInfo documents an op for tools and verifiers.
type OpInfo struct {
	Name  string
	Arity int // -1 for variadic
	Doc   string
}

// Ops lists every op, primitive and fused, with its arity, in a stable
// order.
var Ops = []OpInfo{
	{OpParam, 0, "trainable tensor"},
	{OpInput, 0, "tensor fed each step"},
	{OpConst, 0, "scalar constant"},
	{OpPermutations, 0, "constant table of the n! permutation matrices"},
	{OpNeg, 1, "−x"},
	{OpExp, 1, "eˣ"},
	{OpLog, 1, "ln x"},
	{OpSqrt, 1, "√x"},
	{OpSquare, 1, "x²"},
	{OpSigmoid, 1, "1/(1+e⁻ˣ)"},
	{OpTanh, 1, "tanh x"},
	{OpRelu, 1, "max(x, 0)"},
	{OpAdd, 2, "a + b (broadcasting)"},
	{OpSub, 2, "a − b (broadcasting)"},
	{OpMul, 2, "a · b elementwise (broadcasting)"},
	{OpDiv, 2, "a / b (broadcasting)"},
	{OpSum, 1, "sum over axes, keeping them as size 1"},
	{OpMean, 1, "mean over axes, keeping them as size 1"},
	{OpMax, 1, "max over axes, keeping them as size 1"},
	{OpReshape, 1, "row-major reshape"},
	{OpTranspose, 1, "axis permutation"},
	{OpSlice, 1, "[start, end) along one axis"},
	{OpBroadcast, 1, "repeat size-1 axes"},
	{OpMatmul, 2, "(batched) matrix product"},
	{OpSoftmax, 1, "softmax over the last axis"},
	{OpLogSoftmax, 1, "log-softmax over the last axis"},
	{OpGather, 2, "row lookup (embedding)"},
	{OpPick, 2, "select one entry of the last axis per position"},
	{OpCausalMask, 1, "mask j > i with −1e9"},
	{OpRope, 1, "rotary position embedding"},
	{OpRMSNorm, 2, "fused RMS normalisation with gain"},
	{OpSinkhorn, 1, "fused Sinkhorn-Knopp projection"},
	{OpHCCoeffs, 4, "fused mHC coefficient projection"},
	{OpHCRead, 2, "fused stream read H_pre·X"},
	{OpHCWrite, 4, "fused stream mix and write H_res·X + H_postᵀ·y"},
	{OpAttention, 3, "fused causal softmax attention"},
	{OpCrossEntropy, 2, "fused log-softmax, pick and mean"},
	{OpMatmulConcat, -1, "one matmul against concatenated weights"},
	{OpGELU, 1, "fused GELU (tanh approximation)"},
}

// IsFused reports whether op is created by a fusion pass.
func IsFused(op string) bool {
	switch op {
	case OpRMSNorm, OpSinkhorn, OpHCCoeffs, OpHCRead, OpHCWrite, OpAttention, OpCrossEntropy, OpMatmulConcat, OpGELU:
		return true
	}
	return false
}

// LookupOp returns the info of a named op.
func LookupOp(name string) (OpInfo, bool) {
	for _, o := range Ops {
		if o.Name == name {
			return o, true
		}
	}
	return OpInfo{}, false
}
