package gorgonia

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
	"github.com/mhcc/mhcc/ir"
)

func init() {
	// rmsnorm's backward sums dg in per-chunk partials; layernorm keeps the
	// mean and 1/std of every row, and its backward sums dg and db in
	// per-chunk partials; silu keeps one value per element (gelu's
	// backward recomputes its tanh instead of keeping it);
	// cross_entropy keeps the probabilities [N, V] and a float64 partial
	// loss per chunk
	scratches(func(in [][]int, _ []int, _ ir.Attrs) float64 { return workers() * float64(lastDim(in[0])) }, ir.OpRMSNorm)
	keeps(func(in [][]int, _ []int, _ ir.Attrs, _ bool) (float64, float64) {
		return 2 * elems(in[0]) / float64(lastDim(in[0])), 0
	}, ir.OpLayerNorm)
	scratches(func(in [][]int, _ []int, _ ir.Attrs) float64 { return 2 * workers() * float64(lastDim(in[0])) }, ir.OpLayerNorm)
	keeps(func(_ [][]int, out []int, _ ir.Attrs, _ bool) (float64, float64) { return elems(out), 0 }, ir.OpSiLU)
	keeps(func(in [][]int, _ []int, _ ir.Attrs, _ bool) (float64, float64) { return elems(in[0]), workers() }, ir.OpCrossEntropy)
	impls.Implement(fused(func(b *builder, v *ir.Value, nodes []*G.Node, shapes [][]int, e *entry) error {
		c := lastDim(shapes[0])
		if len(shapes[0]) == 0 || prod(shapes[1]) != c {
			return fmt.Errorf("rmsnorm: want x [..., C] and g [C], got %v and %v", shapes[0], shapes[1])
		}
		var err error
		e.node, err = b.rmsnorm(nodes[0], nodes[1], shapes[0], v.Attrs.Float("eps"), b.streams.role(v))
		return err
	}), ir.OpRMSNorm)
	impls.Implement(fused(func(b *builder, v *ir.Value, nodes []*G.Node, shapes [][]int, e *entry) error {
		c := lastDim(shapes[0])
		if len(shapes[0]) == 0 || prod(shapes[1]) != c || prod(shapes[2]) != c {
			return fmt.Errorf("layernorm: want x [..., C], g [C] and b [C], got %v, %v and %v", shapes[0], shapes[1], shapes[2])
		}
		var err error
		e.node, err = b.layernorm(nodes[0], nodes[1], nodes[2], shapes[0], v.Attrs.Float("eps"))
		return err
	}), ir.OpLayerNorm)
	implementActivation(ir.OpGELU, activation{kernels.GELUFwd[float32], kernels.GELUFwd[float64], kernels.GELUBwd[float32], kernels.GELUBwd[float64], false})
	implementActivation(ir.OpSiLU, activation{kernels.SiLUFwd[float32], kernels.SiLUFwd[float64], kernels.SiLUBwd[float32], kernels.SiLUBwd[float64], true})
	impls.Implement(func(b *builder, _ *ir.Value, args []*entry, e *entry) error {
		x := args[0].shape
		if len(x) == 0 || args[1].ints == nil || prod(args[1].shape) != prod(x[:len(x)-1]) {
			return fmt.Errorf("cross_entropy: want logits [..., V] and i32 targets [...], got %v and %v", x, args[1].shape)
		}
		return b.withNode(args[0], e, func(n *G.Node) (*G.Node, error) { return b.crossEntropy(n, args[1].node, x) })
	}, ir.OpCrossEntropy)
}

// Normalisation, activations and the loss (ir/ops_norm.go), all fused:
// rmsnorm, layernorm, the activations gelu and silu, and cross_entropy.

type rmsK struct {
	c   int
	eps float64
}

func (k rmsK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.RMSNormFwd(x[0], x[1], y, k.c, k.eps)
	return nil
}
func (k rmsK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.RMSNormFwd(x[0], x[1], y, k.c, k.eps)
	return nil
}

type rmsGradK struct {
	rmsK
	g  *grads
	s  *kernels.Side
	in *member // set: x is a recomputed stream tensor (streams.go)
}

func rmsGrad[T float](k rmsGradK, x [][]T, y []T) {
	kernels.RMSNormBwd(streamX(k.in, x[0]), x[1], x[2], gradDst(k.g, y, 0), gradDst(k.g, y, 1), k.s, k.c, k.eps)
}

func (k rmsGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	rmsGrad(k, x, y)
	return nil
}
func (k rmsGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	rmsGrad(k, x, y)
	return nil
}

// rmsnorm: role from the stream plan (set when x is a stream tensor).
func (b *builder) rmsnorm(x, g *G.Node, shape []int, eps float64, role *hcRole) (*G.Node, error) {
	c := shape[len(shape)-1]
	name := fmt.Sprintf("rmsnorm(%v)%v", eps, shape)
	k := rmsK{c, eps}
	in := role.inputOf()
	grad := func(o *op, inputs G.Nodes, _, gy *G.Node) (G.Nodes, error) {
		s := b.scratch
		return b.multiGrad(name+"_grad", o, inputs, func(g *grads) kernel { return rmsGradK{k, g, s, in} }, inputs[0], inputs[1], gy)
	}
	return b.custom(name, shape, k, grad, x, g)
}

// lnK is the forward of layernorm; st slot 0 keeps each row's mean and
// 1/sqrt(var + eps) for the backward.
type lnK struct {
	rmsK
	st *kernels.Side
}

func (k lnK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.LayerNormFwd(x[0], x[1], x[2], y, kernels.SideBuf[float32](k.st, 0, 2*len(y)/k.c), k.c, k.eps)
	return nil
}
func (k lnK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.LayerNormFwd(x[0], x[1], x[2], y, kernels.SideBuf[float64](k.st, 0, 2*len(y)/k.c), k.c, k.eps)
	return nil
}

// lnGradK's inputs are x, g, the forward's output (only so that it runs
// after the forward that filled the statistics) and the output gradient;
// its gradients those of x, g and b.
type lnGradK struct {
	lnK
	g *grads
	s *kernels.Side
}

func lnGrad[T float](k lnGradK, x [][]T, y []T) {
	stats := kernels.SideBuf[T](k.st, 0, 2*len(x[0])/k.c)
	kernels.LayerNormBwd(x[0], x[1], x[3], stats, gradDst(k.g, y, 0), gradDst(k.g, y, 1), gradDst(k.g, y, 2), k.s, k.c, k.eps)
}

func (k lnGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	lnGrad(k, x, y)
	return nil
}
func (k lnGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	lnGrad(k, x, y)
	return nil
}

// layernorm: x [..., C], gain g and bias bias [C]; the backward reads the
// row statistics the forward kept.
func (b *builder) layernorm(x, g, bias *G.Node, shape []int, eps float64) (*G.Node, error) {
	c := shape[len(shape)-1]
	name := fmt.Sprintf("layernorm(%v)%v", eps, shape)
	k := lnK{rmsK{c, eps}, &kernels.Side{}}
	grad := func(o *op, inputs G.Nodes, y, gy *G.Node) (G.Nodes, error) {
		s := b.scratch
		return b.multiGrad(name+"_grad", o, inputs, func(g *grads) kernel { return lnGradK{k, g, s} }, inputs[0], inputs[1], y, gy)
	}
	return b.custom(name, shape, k, grad, x, g, bias)
}

type ceK struct {
	v  int
	st *kernels.Side // slot 0: the probabilities [N, V]; slot 1: per-chunk losses
}

func (k ceK) f32(x [][]float32, idx [][]int, y []float32) error {
	return kernels.CrossEntropyFwd(x[0], idx[0], y, k.v, k.st)
}
func (k ceK) f64(x [][]float64, idx [][]int, y []float64) error {
	return kernels.CrossEntropyFwd(x[0], idx[0], y, k.v, k.st)
}

type ceGradK ceK

// inputs: targets (int), the loss (orders the backward after the forward),
// the incoming gradient
func (k ceGradK) f32(x [][]float32, idx [][]int, y []float32) error {
	kernels.CrossEntropyBwd(idx[0], x[1][0], y, k.v, k.st)
	return nil
}
func (k ceGradK) f64(x [][]float64, idx [][]int, y []float64) error {
	kernels.CrossEntropyBwd(idx[0], x[1][0], y, k.v, k.st)
	return nil
}

func (b *builder) crossEntropy(x, tgt *G.Node, xs []int) (*G.Node, error) {
	k := ceK{v: xs[len(xs)-1], st: &kernels.Side{}}
	name := b.fusedName("cross_entropy", xs)
	grad := func(o *op, in G.Nodes, y, gy *G.Node) (G.Nodes, error) {
		r, err := b.gradOp(name+"_grad", in[0].Shape(), ceGradK(k), in[1], y, gy)
		return G.Nodes{r, nil}, err
	}
	return b.custom(name, nil, k, grad, x, tgt)
}

// ---------------------------------------------------------------- activations

// activation is the kernels of a fused elementwise activation that may
// keep one value per element for its backward (silu keeps σ(x); gelu's
// backward recomputes its tanh u, bit for bit, instead: a pass over x
// costs less than [B, T, 4C] floats kept per layer): fwd(x, y, kept) and
// bwd(x, kept, gy, dx), in both precisions, kept nil unless keeps.
type activation struct {
	fwd32 func(x, y, kept []float32)
	fwd64 func(x, y, kept []float64)
	bwd32 func(x, kept, gy, dx []float32)
	bwd64 func(x, kept, gy, dx []float64)
	keeps bool
}

// implementActivation registers op as the activation act.
func implementActivation(op string, act activation) {
	impls.Implement(fused(func(b *builder, _ *ir.Value, nodes []*G.Node, shapes [][]int, e *entry) error {
		var err error
		e.node, err = b.activation(op, act, nodes[0], shapes[0])
		return err
	}), op)
}

// actK is the forward of an activation; st slot 0 holds what it keeps.
type actK struct {
	act activation
	st  *kernels.Side
}

func (k actK) f32(x [][]float32, _ [][]int, y []float32) error {
	k.act.fwd32(x[0], y, kept[float32](k, len(y)))
	return nil
}
func (k actK) f64(x [][]float64, _ [][]int, y []float64) error {
	k.act.fwd64(x[0], y, kept[float64](k, len(y)))
	return nil
}

// kept is the buffer of what k keeps (nil when it keeps nothing).
func kept[T float](k actK, n int) []T {
	if !k.act.keeps {
		return nil
	}
	return kernels.SideBuf[T](k.st, 0, n)
}

// actGradK's inputs are x, the forward's output (only so that it runs
// after the forward that filled st) and the output gradient.
type actGradK actK

func (k actGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	k.act.bwd32(x[0], kept[float32](actK(k), len(y)), x[2], y)
	return nil
}
func (k actGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	k.act.bwd64(x[0], kept[float64](actK(k), len(y)), x[2], y)
	return nil
}

// activation applies a fused activation; the backward reads what the
// forward kept instead of recomputing it.
func (b *builder) activation(opName string, act activation, x *G.Node, shape []int) (*G.Node, error) {
	k := actK{act: act, st: &kernels.Side{}}
	name := b.fusedName(opName, shape)
	grad := func(o *op, in G.Nodes, y, gy *G.Node) (G.Nodes, error) {
		r, err := b.gradOp(name+"_grad", in[0].Shape(), actGradK(k), in[0], y, gy)
		return G.Nodes{r}, err
	}
	return b.custom(name, shape, k, grad, x)
}
