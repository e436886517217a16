package compiler

import (
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// The mixture-of-experts sublayer (`moe` in a block; docs/moe.md), with
// DeepSeek-V3's routing: for u = norm(x) [B,T,C],
//
//	s    = σ(u·W_router)                       affinities [B,T,E]
//	idx  = top-k(s + b)                        b: the selection bias (balance=bias), else 0
//	g    = scale · s[idx] / (Σ s[idx] + 1e-20) the gates [B,T,k]
//	y    = Σ_j g_j · FFN_{idx_j}(u) + FFN_shared(u)
//
// The routed experts are one moe.experts (lowered through its
// decomposition); the S shared experts are one gated FFN of hidden width
// S·H, which equals the sum of S experts of width H.

// Outputs of a training module with mixture-of-experts sublayers.
const (
	// OutputCE is the mean next-token cross-entropy when the loss also
	// holds auxiliary balance losses (balance=aux); the module's "loss"
	// is then OutputCE + OutputAuxLoss.
	OutputCE = "ce"
	// OutputAuxLoss is the sum of the sublayers' auxiliary balance losses.
	OutputAuxLoss = "aux_loss"
)

// MoELayer describes the mixture-of-experts sublayer of one block: what
// the runtime needs to balance and log it, and what the summary counts.
type MoELayer struct {
	// Path is the block's model path, e.g. "blocks.1.ffn".
	Path string
	// Experts (E), Active (k), Shared and Hidden are the statement's.
	Experts, Active, Shared, Hidden int
	// Balance is lang.BalanceBias, lang.BalanceAux or lang.BalanceNone,
	// and BiasRate the γ of BalanceBias.
	Balance  string
	BiasRate float64
	// Bias is the selection bias parameter (f32[E], trainable=false) of
	// BalanceBias, "" otherwise.
	Bias string
	// Load is the training module's output f32[E] holding each expert's
	// share of the step's routing slots (ir.OpMoELoad).
	Load string
	// Routed lists the routed experts' weights, each [E, Hidden, C].
	Routed []string
}

// MoELayers lists the mixture-of-experts sublayers of p in block order.
func MoELayers(p *lang.Program) []MoELayer {
	var out []MoELayer
	for _, blk := range p.Model.Blocks {
		m := blk.MoE
		if m == nil {
			continue
		}
		l := MoELayer{Path: blk.Path, Experts: m.Experts, Active: m.Active, Shared: m.Shared, Hidden: m.Hidden,
			Balance: m.Balance, BiasRate: m.BiasRate, Load: blk.Path + ".load"}
		if m.Balance == lang.BalanceBias {
			l.Bias = blk.Path + ".router_bias"
		}
		for _, w := range []string{"w1", "w3", "w2"} {
			l.Routed = append(l.Routed, blk.Path+".experts."+w)
		}
		out = append(out, l)
	}
	return out
}

// moe lowers the sublayer of block blk on u [B,T,C].
func (l *lowerer) moe(blk *lang.Block, u *ir.Value) *ir.Value {
	b := l.b
	m := blk.MoE
	b.At(pos(m.Pos))
	C, E, K, H := l.p.Model.Embed.Dim, m.Experts, m.Active, m.Hidden
	path := blk.Path
	s := b.Sigmoid(b.Matmul(u, l.weight(path+".router", C, E), false))
	sel := s
	if m.Balance == lang.BalanceBias {
		sel = b.Add(s, b.NonTrainable(path+".router_bias", ir.Dims(E), ir.Init{Kind: "zeros"}))
	}
	idx := b.Apply(ir.OpMoETopK, ir.Attrs{{Key: "k", Val: K}}, sel)
	if l.decode == nil {
		l.balance(blk, s, idx)
	}
	// the gates: the chosen affinities, normalised, times the scale
	sk := b.Reshape(s, bt(1, E))
	if K > 1 {
		sk = b.Broadcast(sk, bt(K, E))
	}
	picked := b.Pick(sk, idx)
	gates := b.Div(picked, b.Add(b.Sum(picked, 2), b.Const(1e-20)))
	if m.RouteScale != 1 {
		gates = b.Scale(gates, m.RouteScale)
	}
	act := ir.OpSiLU
	if m.Act == lang.ActGeGLU {
		act = ir.OpGELU
	}
	experts := func(name string) *ir.Value {
		return b.Param(path+".experts."+name, ir.Dims(E, H, C), ir.Init{Kind: "normal", Args: []float64{l.p.Model.Embed.InitStd}}, true)
	}
	y := b.Expand(ir.OpMoEExperts, ir.Attrs{{Key: "act", Val: act}}, u, idx, gates, experts("w1"), experts("w3"), experts("w2"))
	if m.Shared > 0 {
		SH := m.Shared * H
		h := b.Mul(b.Expand(act, nil, b.Matmul(u, l.weight(path+".shared.w1", C, SH), false)),
			b.Matmul(u, l.weight(path+".shared.w3", C, SH), false))
		y = b.Add(y, b.Matmul(h, l.weight(path+".shared.w2", SH, C), false))
	}
	return y
}

// balance records the load of a training module's sublayer (an output)
// and, for balance=aux, its auxiliary loss α·E·Σ_e f_e·P_e: f the load,
// P the mean normalised affinity.
func (l *lowerer) balance(blk *lang.Block, s, idx *ir.Value) {
	b, m := l.b, blk.MoE
	load := b.Apply(ir.OpMoELoad, ir.Attrs{{Key: "experts", Val: m.Experts}}, idx)
	l.loads = append(l.loads, ir.Output{Name: blk.Path + ".load", Value: load})
	if m.Balance == lang.BalanceAux {
		P := b.Mean(b.Div(s, b.Sum(s, 2)), 0, 1) // [1,1,E]
		aux := b.Sum(b.Mul(load, P), 0, 1, 2)
		l.aux = append(l.aux, b.Reshape(b.Scale(aux, m.AuxWeight*float64(m.Experts)), ir.Shape{}))
	}
}

// lossOutputs declares the training module's outputs: the loss (the
// cross-entropy plus the auxiliary balance losses, if any), the
// cross-entropy and the auxiliary loss on their own when there are
// auxiliary losses, and every mixture-of-experts sublayer's load.
func (l *lowerer) lossOutputs(ce *ir.Value) {
	b := l.b
	if len(l.aux) == 0 {
		b.Output(OutputLoss, ce)
	} else {
		aux := l.aux[0]
		for _, a := range l.aux[1:] {
			aux = b.Add(aux, a)
		}
		b.Output(OutputLoss, b.Add(ce, aux))
		b.Output(OutputCE, ce)
		b.Output(OutputAuxLoss, aux)
	}
	for _, o := range l.loads {
		b.Output(o.Name, o.Value)
	}
}
