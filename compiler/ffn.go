package compiler

import (
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// mlp is act(u·W1)·W2 (act: the fused activations lower to their
// decompositions).
func (l *lowerer) mlp(path string, m *lang.MLP, u *ir.Value) *ir.Value {
	b := l.b
	b.At(pos(m.Pos))
	C := l.p.Model.Embed.Dim
	h := b.Matmul(u, l.weight(path+".w1", C, m.Hidden), false)
	switch m.Act {
	case "relu":
		h = b.Relu(h)
	case "silu":
		h = b.Expand(ir.OpSiLU, nil, h)
	default:
		h = b.Expand(ir.OpGELU, nil, h)
	}
	return b.Matmul(h, l.weight(path+".w2", m.Hidden, C), false)
}
