package compiler

import (
	"math"

	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// attention is causal self-attention with H query heads and K key/value
// heads of width dh (docs/language.md#attention): q = u·wq [C, H·dh],
// k = u·wk and v = u·wv [C, K·dh], each key/value head serving the G = H/K
// query heads h with h / G equal to its index (grouped-query attention;
// K = H is multi-head, K = 1 multi-query attention), then ·wo [H·dh, C].
// With qk_norm, q and k are RMS-normalised per head over dh (gains
// q_norm.weight and k_norm.weight [dh], the eps of the block's norm)
// before RoPE.
func (l *lowerer) attention(blk *lang.Block, a *lang.Attention, u *ir.Value) *ir.Value {
	b := l.b
	b.At(pos(a.Pos))
	path := blk.Path
	C := l.p.Model.Embed.Dim
	H, K, dh := a.Heads, a.KVHeads, a.HeadDim
	heads := func(name string, n int) *ir.Value {
		// [B,T,C] → [B,T,n·dh] → [B,T,n,dh] → [B,n,T,dh]
		p := b.Matmul(u, l.weight(path+"."+name, C, n*dh), false)
		return b.Transpose(b.Reshape(p, bt(n, dh)), 0, 2, 1, 3)
	}
	q, k, v := heads("wq", H), heads("wk", K), heads("wv", K)
	if a.QKNorm {
		eps := ir.Attrs{{Key: "eps", Val: blk.Norm.Eps}}
		q = b.Expand(ir.OpRMSNorm, eps, q, l.gain(path+".q_norm.weight", dh))
		k = b.Expand(ir.OpRMSNorm, eps, k, l.gain(path+".k_norm.weight", dh))
	}
	scale := 1 / math.Sqrt(float64(dh))
	var o *ir.Value // [B,H,T,dh]
	if l.decode != nil {
		o = l.decode.attention(b, path, a, q, k, v, scale)
	} else {
		if a.Rope {
			q, k = b.Rope(q, a.RopeBase), b.Rope(k, a.RopeBase)
		}
		q, k, v = groupHeads(b, q, K), shareHeads(b, k, H/K), shareHeads(b, v, H/K)
		o = b.Expand(ir.OpAttention, ir.Attrs{{Key: "scale", Val: scale}, {Key: "causal", Val: true}}, q, k, v)
		o = ungroupHeads(b, o)
	}
	o = b.Reshape(b.Transpose(o, 0, 2, 1, 3), bt(H*dh)) // [B,T,H·dh]
	return b.Matmul(o, l.weight(path+".wo", H*dh, C), false)
}

// groupHeads reshapes the query heads x [B,H,S,d] into [B,K,H/K,S,d]:
// group j holds the query heads that share key/value head j. With K = H
// (multi-head attention) it returns x.
func groupHeads(b *ir.Builder, x *ir.Value, K int) *ir.Value {
	s := x.Type.Shape
	if s[1].N == K {
		return x
	}
	return b.Reshape(x, ir.Shape{s[0], ir.D(K), ir.D(s[1].N / K), s[2], s[3]})
}

// shareHeads repeats each key/value head x [B,K,S,d] for the G query
// heads of its group: [B,K,G,S,d] (a broadcast; its gradient sums over
// the group). With G = 1 it returns x.
func shareHeads(b *ir.Builder, x *ir.Value, G int) *ir.Value {
	if G == 1 {
		return x
	}
	s := x.Type.Shape
	one := b.Reshape(x, ir.Shape{s[0], s[1], ir.D(1), s[2], s[3]})
	return b.Broadcast(one, ir.Shape{s[0], s[1], ir.D(G), s[2], s[3]})
}

// ungroupHeads undoes groupHeads: [B,K,G,S,d] → [B,K·G,S,d].
func ungroupHeads(b *ir.Builder, x *ir.Value) *ir.Value {
	s := x.Type.Shape
	if s.Rank() == 4 {
		return x
	}
	return b.Reshape(x, ir.Shape{s[0], ir.D(s[1].N * s[2].N), s[3], s[4]})
}
