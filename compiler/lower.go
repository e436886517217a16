// Package compiler lowers a checked mhcc program into the IR and runs
// passes over it. It knows the language's resolved Program and the IR, and
// nothing about any backend.
package compiler

import (
	"fmt"
	"path/filepath"

	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// Symbolic dimensions of every lowered module.
const (
	SymBatch = "B" // sequences per step
	SymTime  = "T" // tokens per sequence
)

// Input and output names of every lowered module.
const (
	InputTokens  = "tokens"  // i32[B,T] token ids
	InputTargets = "targets" // i32[B,T] next-token ids
	OutputLoss   = "loss"    // f32[] mean next-token cross-entropy in nats
)

// rmsEpsHC is ε in the mHC coefficient RMS normalisation (docs/hyperconnections.md §3 step 1).
const rmsEpsHC = 1e-6

// Lower turns a checked program into a primitive-op IR module whose output
// "loss" is the mean next-token cross-entropy of a batch.
func Lower(p *lang.Program) (m *ir.Module, err error) {
	l, err := lower(p)
	if err != nil {
		return nil, err
	}
	return l.b.M, nil
}

// lower runs the lowering and returns the lowerer, whose coeffs record
// the hyper-connection coefficients.
func lower(p *lang.Program) (*lowerer, error) {
	l := &lowerer{p: p, b: ir.NewBuilder(filepath.Base(p.File), SymBatch, SymTime)}
	l.model()
	if err := l.b.Err(); err != nil {
		return nil, fmt.Errorf("internal compiler error while lowering %s: %w", p.File, err)
	}
	return l, nil
}

type lowerer struct {
	p *lang.Program
	b *ir.Builder
	// coeffs are the coefficients of the learned hyper-connected
	// sublayers, in order (for LowerDiagnostics).
	coeffs []hcCoeffs
	// decode, when set, lowers the decoding step instead of the loss
	// (LowerDecode).
	decode *decoding
	// loads and aux are the mixture-of-experts sublayers' load outputs
	// and auxiliary losses (moe.go).
	loads []ir.Output
	aux   []*ir.Value
}

func pos(p lang.Pos) ir.Pos { return ir.Pos{Line: p.Line, Col: p.Col} }

var (
	dB = ir.S(SymBatch)
	dT = ir.S(SymTime)
)

// shape builds [B, T, dims...].
func bt(dims ...int) ir.Shape {
	s := ir.Shape{dB, dT}
	for _, d := range dims {
		s = append(s, ir.D(d))
	}
	return s
}

func (l *lowerer) model() {
	md := &l.p.Model
	b := l.b
	C, V := md.Embed.Dim, md.Vocab

	b.At(pos(md.Pos))
	tokens := b.Input(InputTokens, ir.Type{DType: ir.I32, Shape: ir.Shape{dB, dT}})
	var targets *ir.Value
	if l.decode == nil {
		targets = b.Input(InputTargets, ir.Type{DType: ir.I32, Shape: ir.Shape{dB, dT}})
	} else {
		l.decode.pos = b.Input(InputDecodePos, ir.Type{DType: ir.I32})
	}

	b.At(pos(md.Embed.Pos))
	emb := b.Param("embed.weight", ir.Dims(V, C), ir.Init{Kind: "normal", Args: []float64{md.Embed.InitStd}}, true)
	h := b.Gather(emb, tokens)

	res := md.Residual
	if res.Kind == lang.ResidualPlain {
		for i := range md.Blocks {
			blk := &md.Blocks[i]
			y := l.sublayer(blk, h)
			b.At(pos(blk.Pos))
			h = b.Add(h, y)
		}
	} else {
		n := res.Streams
		b.At(pos(res.Pos))
		// Stem: replicate the embedding into every stream (docs/hyperconnections.md §2).
		X := b.Broadcast(b.Reshape(h, bt(1, C)), bt(n, C))
		for i := range md.Blocks {
			X = l.hyperSublayer(&md.Blocks[i], X)
		}
		h = l.collapse(X)
		if res.Recompute {
			b.M.RecomputeSegment = RecomputeSegment(len(md.Blocks))
		}
	}

	h = l.norm("norm", md.FinalNorm, h)
	b.At(pos(md.Head.Pos))
	var logits *ir.Value
	if md.Head.Tied {
		logits = b.Matmul(h, emb, true)
	} else {
		w := b.Param("head.weight", ir.Dims(C, V), ir.Init{Kind: "normal", Args: []float64{md.Head.InitStd}}, true)
		logits = b.Matmul(h, w, false)
	}
	if l.decode != nil {
		b.Output(OutputLogits, logits)
		for _, c := range l.decode.caches {
			b.Output(c.Out, c.out)
		}
		return
	}
	l.lossOutputs(b.Expand(ir.OpCrossEntropy, nil, logits, targets)) // moe.go
}

// sublayer lowers y = F(norm(x)) for one block; x is [B,T,C].
func (l *lowerer) sublayer(blk *lang.Block, x *ir.Value) *ir.Value {
	u := l.norm(blk.Path+".norm", blk.Norm, x)
	switch {
	case blk.Attention != nil && blk.Attention.MLA():
		return l.mla(blk, blk.Attention, u)
	case blk.Attention != nil:
		return l.attention(blk, blk.Attention, u)
	case blk.MoE != nil:
		return l.moe(blk, u)
	}
	return l.mlp(blk.Path, blk.MLP, u)
}

// norm normalises x over its last axis as the `norm` statement n says:
// RMSNorm, x / sqrt(mean(x²) + eps) · g, or LayerNorm,
// (x − mean(x)) / sqrt(var(x) + eps) · g + b, with a learned gain g named
// prefix+".weight" (init 1) and, for LayerNorm, a learned bias b named
// prefix+".bias" (init 0), neither decayed (the decompositions of rmsnorm
// and layernorm).
func (l *lowerer) norm(prefix string, n lang.Norm, x *ir.Value) *ir.Value {
	b := l.b
	b.At(pos(n.Pos))
	C := x.Type.Shape[x.Type.Shape.Rank()-1].N
	g := l.gain(prefix+".weight", C)
	eps := ir.Attrs{{Key: "eps", Val: n.Eps}}
	if n.Kind == lang.NormLayer {
		bias := b.Param(prefix+".bias", ir.Dims(C), ir.Init{Kind: "zeros"}, false)
		return b.Expand(ir.OpLayerNorm, eps, x, g, bias)
	}
	return b.Expand(ir.OpRMSNorm, eps, x, g)
}

func (l *lowerer) weight(name string, rows, cols int) *ir.Value {
	return l.b.Param(name, ir.Dims(rows, cols), ir.Init{Kind: "normal", Args: []float64{l.p.Model.Embed.InitStd}}, true)
}

// gain is a normalisation gain [n], initialised to 1 and not decayed.
func (l *lowerer) gain(name string, n int) *ir.Value {
	return l.b.Param(name, ir.Dims(n), ir.Init{Kind: "ones"}, false)
}
