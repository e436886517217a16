package compiler

import (
	"math"

	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// mla is multi-head latent attention as DeepSeek-V2 and V3 define it
// (docs/language.md#architecture), for H heads, value and non-rotary
// query/key width dh, rotary width dr and latent width R = kv_rank, on
// u [B,T,C]:
//
//	q      = u·wq [C, H·(dh+dr)], or with q_rank Q:
//	         rmsnorm(u·wdq [C, Q], q_norm.weight)·wuq [Q, H·(dh+dr)]
//	         per head [q_nope (dh) ; q_rope (dr)]
//	c_kv   = u·wdkv [C, R+dr]
//	c      = rmsnorm(c_kv[:R], kv_norm.weight [R])      the latent
//	k_rope = RoPE(c_kv[R:])                             one per token
//	c·wukv [R, H·2dh], per head [k_nope (dh) ; v (dh)]
//	k      = [k_nope ; k_rope], q = [q_nope ; RoPE(q_rope)] per head
//	o      = softmax(causal(q·kᵀ / sqrt(dh+dr)))·v, then [B,T,H·dh]·wo
//
// The norms take the eps of the block's norm. Without RoPE dr = 0: no
// rotary part. When decoding, the attention runs in the latent space
// instead (decoding.mla); this form expands every head's key and value,
// as training does.
func (l *lowerer) mla(blk *lang.Block, a *lang.Attention, u *ir.Value) *ir.Value {
	b := l.b
	b.At(pos(a.Pos))
	path := blk.Path
	C := l.p.Model.Embed.Dim
	H, dh, dr, R := a.Heads, a.HeadDim, a.RopeDim, a.KVRank
	eps := ir.Attrs{{Key: "eps", Val: blk.Norm.Eps}}

	// The products of u first, in the order that fuse-qkv keeps them as
	// one matmul.concat, so that the parameters are declared in the same
	// order at every level.
	var q *ir.Value
	if a.QRank > 0 {
		q = b.Matmul(u, l.weight(path+".wdq", C, a.QRank), false)
	} else {
		q = b.Matmul(u, l.weight(path+".wq", C, H*(dh+dr)), false)
	}
	ckv := b.Matmul(u, l.weight(path+".wdkv", C, R+dr), false) // [B,T,R+dr]
	if a.QRank > 0 {
		q = b.Expand(ir.OpRMSNorm, eps, q, l.gain(path+".q_norm.weight", a.QRank))
		q = b.Matmul(q, l.weight(path+".wuq", a.QRank, H*(dh+dr)), false)
	}
	q = b.Transpose(b.Reshape(q, bt(H, dh+dr)), 0, 2, 1, 3) // [B,H,T,dh+dr]
	qNope, qRope := splitLast(b, q, dh)

	c, kRope := splitLast(b, ckv, R)
	c = b.Expand(ir.OpRMSNorm, eps, c, l.gain(path+".kv_norm.weight", R))
	if kRope != nil {
		kRope = b.Transpose(b.Reshape(kRope, bt(1, dr)), 0, 2, 1, 3) // [B,1,T,dr]
	}
	wukv := l.weight(path+".wukv", R, H*2*dh)
	scale := 1 / math.Sqrt(float64(dh+dr))

	var o *ir.Value // [B,H,T,dh]
	if l.decode != nil {
		o = l.decode.mla(b, path, a, qNope, qRope, c, kRope, wukv, scale)
	} else {
		kv := b.Transpose(b.Reshape(b.Matmul(c, wukv, false), bt(H, 2*dh)), 0, 2, 1, 3) // [B,H,T,2dh]
		k, v := splitLast(b, kv, dh)
		q = qNope
		if dr > 0 {
			qRope, kRope = b.Rope(qRope, a.RopeBase), b.Rope(kRope, a.RopeBase)
			s := k.Type.Shape
			q = concatLast(b, qNope, qRope)
			k = concatLast(b, k, b.Broadcast(kRope, ir.Shape{s[0], s[1], s[2], ir.D(dr)}))
		}
		o = b.Expand(ir.OpAttention, ir.Attrs{{Key: "scale", Val: scale}, {Key: "causal", Val: true}}, q, k, v)
	}
	o = b.Reshape(b.Transpose(o, 0, 2, 1, 3), bt(H*dh)) // [B,T,H·dh]
	return b.Matmul(o, l.weight(path+".wo", H*dh, C), false)
}

// mla is the decoding form of multi-head latent attention, with the
// up-projections absorbed: for head h with key and value up-projections
// W_uk,h and W_uv,h [R, dh] (the halves of wukv's columns of h),
//
//	q_nope·k_nopeᵀ = q_nope·(c·W_uk,h)ᵀ = (q_nope·W_uk,hᵀ)·cᵀ
//	Σ p·v          = Σ p·(c·W_uv,h)     = (Σ p·c)·W_uv,h
//
// so attention runs over the latents themselves: queries
// [q_nope·W_uk,hᵀ ; RoPE(q_rope)] [B,H,T,R+dr] against one key per
// position shared by every head, [c ; RoPE(k_rope)] [R+dr], whose first R
// entries are also its value; the result [B,H,T,R] is multiplied by
// W_uv,h. That key is all the cache holds: R + dr numbers per position
// (one DecodeCache, "latent"), not a key and a value per head.
func (d *decoding) mla(b *ir.Builder, path string, a *lang.Attention, qNope, qRope, c, kRope, wukv *ir.Value, scale float64) *ir.Value {
	H, dh, dr, R := a.Heads, a.HeadDim, a.RopeDim, a.KVRank
	// wukv [R, H·2dh] → per head [1,H,R,2dh] → W_uk, W_uv [B,H,R,dh]
	w := b.Reshape(b.Transpose(b.Reshape(wukv, ir.Dims(R, H, 2*dh)), 1, 0, 2), ir.Dims(1, H, R, 2*dh))
	perHead := func(start int) *ir.Value {
		return b.Broadcast(b.Slice(w, 3, start, start+dh), ir.Shape{dB, ir.D(H), ir.D(R), ir.D(dh)})
	}
	wuk, wuv := perHead(0), perHead(dh)
	q := b.Matmul(qNope, wuk, true)                        // [B,H,T,R]
	lat := b.Transpose(b.Reshape(c, bt(1, R)), 0, 2, 1, 3) // [B,1,T,R]
	key := lat
	if dr > 0 {
		at := ir.Attrs{{Key: "base", Val: a.RopeBase}}
		q = concatLast(b, q, b.Apply(ir.OpRopeAt, at, qRope, d.pos))
		key = concatLast(b, lat, b.Apply(ir.OpRopeAt, at, kRope, d.pos))
	}
	kc := d.cache(b, path, "latent", key)
	d.sublayers++
	vc := kc
	if dr > 0 {
		vc = b.Slice(kc, 3, 0, R)
	}
	share := func(x *ir.Value) *ir.Value { return shareHeads(b, x, H) }
	o := b.Apply(ir.OpAttentionCached, ir.Attrs{{Key: "scale", Val: scale}},
		groupHeads(b, q, 1), share(key), share(lat), share(kc), share(vc), d.pos)
	return b.Matmul(ungroupHeads(b, o), wuv, false) // [B,H,T,dh]
}

// splitLast splits x along its last axis into [:n] and [n:]; the second
// is nil when n is the whole axis.
func splitLast(b *ir.Builder, x *ir.Value, n int) (*ir.Value, *ir.Value) {
	r := x.Type.Shape.Rank()
	all := x.Type.Shape[r-1].N
	if n == all {
		return x, nil
	}
	return b.Slice(x, r-1, 0, n), b.Slice(x, r-1, n, all)
}

// concatLast joins x and y along their last axis.
func concatLast(b *ir.Builder, x, y *ir.Value) *ir.Value {
	return b.Apply(ir.OpConcat, ir.Attrs{{Key: "axis", Val: x.Type.Shape.Rank() - 1}}, x, y)
}
