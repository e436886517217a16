package compiler

import (
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// hyperSublayer lowers one hyper-connected sublayer over the stream tensor
// X [B,T,n,C] (mhc.md §1 eq. 3):
//
//	X' = H_res·X + H_postᵀ·F(norm(H_pre·X))
//
// with H_res applied from the left: row i of H_res produces stream i.
func (l *lowerer) hyperSublayer(blk *lang.Block, X *ir.Value) *ir.Value {
	res := l.p.Model.Residual
	switch res.Constraint {
	case lang.ConstraintIdentity:
		return l.identitySublayer(blk, X)
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

// mhcSublayer is mHC (mhc.md §3): dynamic coefficients from the flattened,
// RMS-normalised token, H_pre = σ, H_post = 2σ, H_res = Sinkhorn-Knopp.
func (l *lowerer) mhcSublayer(blk *lang.Block, X *ir.Value) *ir.Value {
	b := l.b
	res := l.p.Model.Residual
	n, C := res.Streams, l.p.Model.Embed.Dim
	nc := n * C
	width := n*n + 2*n
	prefix := blk.Path + ".hc"
	b.At(pos(res.Pos))

	phi := b.Param(prefix+".phi", ir.Dims(nc, width), ir.Init{Kind: "normal", Args: []float64{res.PhiStd}}, true)
	biasInit := ir.Init{Kind: "zeros"}
	if res.Init == "residual" {
		biasInit = ir.Init{Kind: "hc_bias", Args: []float64{float64(n), float64(blk.Index % n)}}
	}
	bias := b.Param(prefix+".bias", ir.Dims(width), biasInit, false)
	alpha := b.Param(prefix+".alpha", ir.Dims(3), ir.Init{Kind: "fill", Args: []float64{res.Alpha}}, false)

	// Steps 1–2: m = (x·phi) / r with r = sqrt(mean(x²) + ε) over all nC entries.
	xf := b.Reshape(X, bt(nc))
	r := b.Sqrt(b.Add(b.Mean(b.Square(xf), -1), b.Const(rmsEpsHC)))
	m := b.Div(b.Matmul(xf, phi, false), r)

	// Step 3: h̃ = α·m + bias, per coefficient group [pre | post | res].
	group := func(i, start, end int) *ir.Value {
		return b.Add(b.Mul(b.Slice(m, -1, start, end), b.Slice(alpha, 0, i, i+1)), b.Slice(bias, 0, start, end))
	}
	hPre := b.Sigmoid(group(0, 0, n))                // [B,T,n]
	hPost := b.Scale(b.Sigmoid(group(1, n, 2*n)), 2) // [B,T,n], range (0, 2)
	hRes := sinkhorn(b, b.Reshape(group(2, 2*n, width), bt(n, n)), res.Sinkhorn)

	// Step 6: u = Σ_j H_pre[j]·X_j, then y = F(norm(u)).
	y := l.sublayer(blk, hcRead(b, hPre, X))

	// Step 7: X'_i = Σ_j H_res[i,j]·X_j + H_post[i]·y.
	b.At(pos(res.Pos))
	return hcMixWrite(b, hRes, X, hPost, y)
}

// hcRead is u = Σ_j H_pre[j]·X_j: hPre [B,T,n], X [B,T,n,C] → [B,T,C].
func hcRead(b *ir.Builder, hPre, X *ir.Value) *ir.Value {
	s := X.Type.Shape
	n, C := s[2].N, s[3].N
	return b.Reshape(b.Sum(b.Mul(X, b.Reshape(hPre, bt(n, 1))), 2), bt(C))
}

// hcMixWrite is X'_i = Σ_j H_res[i,j]·X_j + H_post[i]·y with H_res applied
// from the left (row i of H_res produces stream i): hRes [B,T,n,n],
// X [B,T,n,C], hPost [B,T,n], y [B,T,C] → [B,T,n,C].
func hcMixWrite(b *ir.Builder, hRes, X, hPost, y *ir.Value) *ir.Value {
	s := X.Type.Shape
	n, C := s[2].N, s[3].N
	mix := b.Matmul(hRes, X, false)
	write := b.Mul(b.Reshape(hPost, bt(n, 1)), b.Reshape(y, bt(1, C)))
	return b.Add(mix, write)
}

// sinkhorn lowers Sinkhorn-Knopp on logits [B,T,n,n]: M = exp(L − max L),
// then t times divide every column by its sum and every row by its sum, so
// that rows sum to 1 exactly after the last step.
func sinkhorn(b *ir.Builder, logits *ir.Value, iters int) *ir.Value {
	M := b.Exp(b.Sub(logits, b.Max(logits, 2, 3)))
	for range iters {
		M = b.Div(M, b.Sum(M, 2)) // column sums (over rows i)
		M = b.Div(M, b.Sum(M, 3)) // row sums (over columns j)
	}
	return M
}
