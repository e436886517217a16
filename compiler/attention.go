package compiler

import (
	"math"

	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// attention is causal multi-head self-attention with optional RoPE.
func (l *lowerer) attention(path string, a *lang.Attention, u *ir.Value) *ir.Value {
	b := l.b
	b.At(pos(a.Pos))
	C := l.p.Model.Embed.Dim
	H := a.Heads
	dh := C / H
	heads := func(name string) *ir.Value {
		// [B,T,C] → [B,T,H,dh] → [B,H,T,dh]
		p := b.Matmul(u, l.weight(path+"."+name, C, C), false)
		return b.Transpose(b.Reshape(p, bt(H, dh)), 0, 2, 1, 3)
	}
	q, k, v := heads("wq"), heads("wk"), heads("wv")
	scale := 1 / math.Sqrt(float64(dh))
	var o *ir.Value // [B,H,T,dh]
	if l.decode != nil {
		o = l.decode.attention(b, path, a, q, k, v, scale)
	} else {
		if a.Rope {
			q, k = b.Rope(q, a.RopeBase), b.Rope(k, a.RopeBase)
		}
		o = b.Expand(ir.OpAttention, ir.Attrs{{Key: "scale", Val: scale}, {Key: "causal", Val: true}}, q, k, v)
	}
	o = b.Reshape(b.Transpose(o, 0, 2, 1, 3), bt(C)) // [B,T,C]
	return b.Matmul(o, l.weight(path+".wo", C, C), false)
}
