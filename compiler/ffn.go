package compiler

import (
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// mlp is act(u·w1)·w2, or for a gated activation (swiglu, geglu)
// (act(u·w1) ⊙ (u·w3))·w2 with act SiLU or GELU: w1 and w3 [C, hidden],
// w2 [hidden, C]. The fused activations lower to their decompositions;
// at -O2 the two products of u become one matmul.concat (fuse-qkv).
func (l *lowerer) mlp(path string, m *lang.MLP, u *ir.Value) *ir.Value {
	b := l.b
	b.At(pos(m.Pos))
	C := l.p.Model.Embed.Dim
	h := b.Matmul(u, l.weight(path+".w1", C, m.Hidden), false)
	switch m.Act {
	case lang.ActReLU:
		h = b.Relu(h)
	case lang.ActSiLU, lang.ActSwiGLU:
		h = b.Expand(ir.OpSiLU, nil, h)
	default: // gelu, geglu
		h = b.Expand(ir.OpGELU, nil, h)
	}
	if m.Gated() {
		h = b.Mul(h, b.Matmul(u, l.weight(path+".w3", C, m.Hidden), false))
	}
	return b.Matmul(h, l.weight(path+".w2", m.Hidden, C), false)
}
