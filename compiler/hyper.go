package compiler

import (
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// The hyper-connection variants (docs/hyperconnections.md §2–§4, docs/residual.md). Every
// learned variant computes, per token and sublayer, the coefficients
//
//	H_pre [B,T,n]   H_post [B,T,n]   H_res [B,T,n,n]
//
// and then shares the read, the sublayer and the write:
//
//	X' = H_res·X + H_postᵀ·F(norm(H_pre·X))
//
// with H_res applied from the left: row i of H_res produces stream i.
// Static coefficients (dynamic=false) are broadcast over the tokens, so
// the read, the write, the fusions and the diagnostics see the same
// shapes for every variant.

// hcCoeffs are the coefficients of one sublayer.
type hcCoeffs struct {
	pre, post, res *ir.Value
}

// hyperSublayer lowers one hyper-connected sublayer over the stream tensor
// X [B,T,n,C].
func (l *lowerer) hyperSublayer(blk *lang.Block, X *ir.Value) *ir.Value {
	res := l.p.Model.Residual
	switch res.Constraint {
	case lang.ConstraintIdentity:
		return l.identitySublayer(blk, X)
	case lang.ConstraintNone:
		return l.hcSublayer(blk, X)
	default:
		return l.mhcSublayer(blk, X)
	}
}

// identitySublayer is the fixed mixing H_pre = e_home, H_post = 1,
// H_res = I: stream `home` is read, and the output is added to every stream.
// With one stream this is exactly the plain pre-norm residual.
func (l *lowerer) identitySublayer(blk *lang.Block, X *ir.Value) *ir.Value {
	b := l.b
	res := l.p.Model.Residual
	n, C := res.Streams, l.p.Model.Embed.Dim
	home := blk.Index % n
	b.At(pos(blk.Pos))
	u := b.Reshape(b.Slice(X, 2, home, home+1), bt(C))
	y := l.sublayer(blk, u)
	b.At(pos(blk.Pos))
	return b.Add(X, b.Reshape(y, bt(1, C)))
}

// readWrite is the part every learned variant shares: u = Σ_j H_pre[j]·X_j,
// y = F(norm(u)), X'_i = Σ_j H_res[i,j]·X_j + H_post[i]·y. It records the
// coefficients for the diagnostics outputs.
func (l *lowerer) readWrite(blk *lang.Block, X *ir.Value, co hcCoeffs) *ir.Value {
	b := l.b
	l.coeffs = append(l.coeffs, co)
	y := l.sublayer(blk, b.Expand(ir.OpHCRead, nil, co.pre, X))
	b.At(pos(l.p.Model.Residual.Pos))
	return b.Expand(ir.OpHCWrite, nil, co.res, X, co.post, y)
}

// mhcSublayer is the mHC family (docs/hyperconnections.md §3): coefficients from the
// flattened, RMS-normalised token, H_pre = σ, H_post = 2σ, and H_res on
// the constraint's manifold — Sinkhorn-Knopp (birkhoff), a softmax over
// each row (stochastic) or a softmax-weighted sum of the n! permutation
// matrices (permutations, whose res block has n! columns instead of n²).
// With dynamic=false only the bias remains: H_pre = σ(b_pre),
// H_post = 2σ(b_post), H_res = SK(b_res) (or the row softmax, or the
// permutation mixture, of b_res).
func (l *lowerer) mhcSublayer(blk *lang.Block, X *ir.Value) *ir.Value {
	b := l.b
	res := l.p.Model.Residual
	n, C := res.Streams, l.p.Model.Embed.Dim
	nc := n * C
	nres := n * n
	biasKind := "hc_bias"
	if res.Constraint == lang.ConstraintPermutations {
		nres = ir.Factorial(n)
		biasKind = "hc_perm_bias"
	}
	width := 2*n + nres
	prefix := blk.Path + ".hc"
	b.At(pos(res.Pos))

	var phi, alpha *ir.Value
	if res.Dynamic {
		phi = b.Param(prefix+".phi", ir.Dims(nc, width), ir.Init{Kind: "normal", Args: []float64{res.PhiStd}}, true)
	}
	biasInit := ir.Init{Kind: "zeros"}
	if res.Init == lang.InitResidual {
		biasInit = ir.Init{Kind: biasKind, Args: []float64{float64(n), float64(blk.Index % n)}}
	}
	bias := b.Param(prefix+".bias", ir.Dims(width), biasInit, false)
	if res.Dynamic {
		alpha = b.Param(prefix+".alpha", ir.Dims(3), ir.Init{Kind: "fill", Args: []float64{res.Alpha}}, false)
	}

	// group(i, start, end) is coefficient group i (pre, post, res) before
	// its activation: α_i·m[start:end] + bias[start:end] per token, or the
	// bias alone as [1, 1, end−start].
	// Steps 1–4 without the projection of H_res: hPre = σ(h̃_pre) in
	// (0, 1), hPost = 2σ(h̃_post) in (0, 2), and the res logits h̃_res.
	var hPre, hPost, resLogits *ir.Value
	lead := ir.Dims(1, 1)
	if res.Dynamic {
		// The decomposition of hc.coeffs over the flattened token:
		// m = (x·phi) / r with r = sqrt(mean(x²) + ε) over all nC
		// entries, h̃ = α·m + bias per group [pre | post | res].
		attrs := ir.Attrs{{Key: "n", Val: n}, {Key: "eps", Val: rmsEpsHC}}
		if nres != n*n {
			attrs = append(attrs, ir.Attr{Key: "res", Val: nres})
		}
		if parts := b.ExpandParts(ir.OpHCCoeffs, attrs, b.Reshape(X, bt(nc)), phi, alpha, bias); parts != nil {
			hPre, hPost, resLogits = parts[0], parts[1], parts[2]
		}
		lead = ir.Shape{dB, dT}
	} else {
		group := func(start, end int) *ir.Value {
			return b.Reshape(b.Slice(bias, 0, start, end), ir.Dims(1, 1, end-start))
		}
		hPre = b.Sigmoid(group(0, n))
		hPost = b.Scale(b.Sigmoid(group(n, 2*n)), 2)
		resLogits = group(2*n, width)
	}
	mat := append(lead.Clone(), ir.D(n), ir.D(n)) // [.., n, n]
	var hRes *ir.Value
	switch res.Constraint {
	case lang.ConstraintStochastic:
		hRes = b.Softmax(b.Reshape(resLogits, mat))
	case lang.ConstraintPermutations:
		w := b.Softmax(resLogits) // [.., n!]
		hRes = b.Reshape(b.Matmul(w, b.Permutations(n), false), mat)
	default:
		hRes = b.Expand(ir.OpSinkhorn, ir.Attrs{{Key: "iters", Val: res.Sinkhorn}}, b.Reshape(resLogits, mat))
	}
	if !res.Dynamic {
		hPre, hPost, hRes = b.Broadcast(hPre, bt(n)), b.Broadcast(hPost, bt(n)), b.Broadcast(hRes, bt(n, n))
	}
	return l.readWrite(blk, X, hcCoeffs{pre: hPre, post: hPost, res: hRes})
}

// hcSublayer is the dynamic hyper-connection of the HC paper (docs/hyperconnections.md §4),
// computed from each stream's own normalised vector H̄_j = RMSNorm(X_j)
// (gain g [C], ε = 1e-6):
//
//	A_m = s_α·tanh(H̄ W_m) + A_m⁰   [n]      read weight of stream j
//	A_r = s_α·tanh(H̄ W_r) + A_r⁰   [n, n]   row j from stream j
//	B   = s_β·tanh(H̄ W_β) + B⁰     [n]      write weight of stream i
//
// and H_pre = A_mᵀ, H_res = A_rᵀ (so H_res[i, j] = A_r[j, i]: column j
// of H_res comes from stream j), H_post = B. With dynamic=false only
// A_m⁰, A_r⁰ and B⁰ remain.
func (l *lowerer) hcSublayer(blk *lang.Block, X *ir.Value) *ir.Value {
	b := l.b
	res := l.p.Model.Residual
	n, C := res.Streams, l.p.Model.Embed.Dim
	prefix := blk.Path + ".hc"
	b.At(pos(res.Pos))

	preInit := ir.Init{Kind: "one_hot", Args: []float64{float64(blk.Index % n)}}
	resInit := ir.Init{Kind: "identity"}
	if res.Init == lang.InitUniform {
		preInit = ir.Init{Kind: "fill", Args: []float64{1 / float64(n)}}
		resInit = preInit
	}
	am := b.Param(prefix+".a_m", ir.Dims(n), preInit, false)
	ar := b.Param(prefix+".a_r", ir.Dims(n, n), resInit, false)
	bw := b.Param(prefix+".b", ir.Dims(n), ir.Init{Kind: "ones"}, false)

	var co hcCoeffs
	if res.Dynamic {
		g := b.Param(prefix+".norm.weight", ir.Dims(C), ir.Init{Kind: "ones"}, false)
		wm := b.Param(prefix+".w_m", ir.Dims(C, 1), ir.Init{Kind: "zeros"}, true)
		wb := b.Param(prefix+".w_b", ir.Dims(C, 1), ir.Init{Kind: "zeros"}, true)
		wr := b.Param(prefix+".w_r", ir.Dims(C, n), ir.Init{Kind: "zeros"}, true)
		scale := b.Param(prefix+".alpha", ir.Dims(2), ir.Init{Kind: "fill", Args: []float64{res.Alpha}}, false)
		sa, sb := b.Slice(scale, 0, 0, 1), b.Slice(scale, 0, 1, 2)

		r := b.Sqrt(b.Add(b.Mean(b.Square(X), -1), b.Const(rmsEpsHC)))
		hn := b.Mul(b.Div(X, r), g) // H̄ [B,T,n,C]
		co.pre = b.Add(b.Mul(b.Tanh(b.Reshape(b.Matmul(hn, wm, false), bt(n))), sa), am)
		co.post = b.Add(b.Mul(b.Tanh(b.Reshape(b.Matmul(hn, wb, false), bt(n))), sb), bw)
		Ar := b.Add(b.Mul(b.Tanh(b.Matmul(hn, wr, false)), sa), ar) // [B,T,n(j),n(i)]
		co.res = b.Transpose(Ar, 0, 1, 3, 2)
	} else {
		co.pre = b.Broadcast(b.Reshape(am, ir.Dims(1, 1, n)), bt(n))
		co.post = b.Broadcast(b.Reshape(bw, ir.Dims(1, 1, n)), bt(n))
		co.res = b.Broadcast(b.Reshape(b.Transpose(ar, 1, 0), ir.Dims(1, 1, n, n)), bt(n, n))
	}
	return l.readWrite(blk, X, co)
}

// collapseEps keeps every weight of the learned collapse positive (docs/hyperconnections.md §2).
const collapseEps = 1e-6

// collapse combines the streams X [B,T,n,C] into h [B,T,C] before the
// final norm: Σ_i X_i (sum), (1/n)·Σ_i X_i (mean), or DeepSeek's pre-only
// head (learned, docs/hyperconnections.md §2):
//
//	h = Σ_i (σ(α_head·(x·φ_head)/r + b_head)_i + 1e-6)·X_i
//
// with x = vec(X) [nC], r = sqrt(mean(x²) + 1e-6), φ_head [nC, n].
func (l *lowerer) collapse(X *ir.Value) *ir.Value {
	b := l.b
	res := l.p.Model.Residual
	n, C := res.Streams, l.p.Model.Embed.Dim
	b.At(pos(res.Pos))
	if res.Collapse == lang.CollapseLearned {
		nc := n * C
		phi := b.Param("collapse.phi", ir.Dims(nc, n), ir.Init{Kind: "normal", Args: []float64{res.PhiStd}}, true)
		bias := b.Param("collapse.bias", ir.Dims(n), ir.Init{Kind: "zeros"}, false)
		alpha := b.Param("collapse.alpha", ir.Dims(1), ir.Init{Kind: "fill", Args: []float64{res.Alpha}}, false)
		xf := b.Reshape(X, bt(nc))
		r := b.Sqrt(b.Add(b.Mean(b.Square(xf), -1), b.Const(rmsEpsHC)))
		m := b.Div(b.Matmul(xf, phi, false), r)
		w := b.Add(b.Sigmoid(b.Add(b.Mul(m, alpha), bias)), b.Const(collapseEps))
		return b.Expand(ir.OpHCRead, nil, w, X)
	}
	h := b.Reshape(b.Sum(X, 2), bt(C))
	if res.Collapse == lang.CollapseMean {
		h = b.Scale(h, 1/float64(n))
	}
	return h
}
