package gorgonia

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
)

// Sequence ops (ir/ops_attention.go): causal_mask, rope and the fused
// attention.

type maskK struct {
	t    int
	fill float64
}

func (k maskK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.CausalMask(x[0], y, k.t, float32(k.fill))
	return nil
}
func (k maskK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.CausalMask(x[0], y, k.t, k.fill)
	return nil
}

// MaskValue is what causal_mask writes above the diagonal.
const MaskValue = -1e9

func (b *builder) causalMask(x *G.Node, shape []int) (*G.Node, error) {
	t := shape[len(shape)-1]
	name := fmt.Sprintf("causal_mask%v", shape)
	grad := func(o *op, in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		r, err := b.gradOp(name+"_grad", in[0].Shape(), maskK{t, 0}, g)
		return G.Nodes{r}, err
	}
	return b.custom(name, shape, maskK{t, MaskValue}, grad, x)
}

type ropeK struct {
	t, d     int
	cos, sin []float64
	inverse  bool
}

func (k ropeK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.Rope(x[0], y, k.t, k.d, k.cos, k.sin, k.inverse)
	return nil
}
func (k ropeK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.Rope(x[0], y, k.t, k.d, k.cos, k.sin, k.inverse)
	return nil
}

func (b *builder) rope(x *G.Node, shape []int, base float64) (*G.Node, error) {
	t, d := shape[len(shape)-2], shape[len(shape)-1]
	cos, sin := kernels.RopeTables(t, d, base)
	name := fmt.Sprintf("rope(%v)%v", base, shape)
	grad := func(o *op, in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		r, err := b.gradOp(name+"_grad", in[0].Shape(), ropeK{t, d, cos, sin, true}, g)
		return G.Nodes{r}, err
	}
	return b.custom(name, shape, ropeK{t, d, cos, sin, false}, grad, x)
}

type attnK struct {
	kernels.Attention
	st *kernels.Side // slot 0: the probabilities P [..., T, T]
}

func (k attnK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.AttentionFwd(x[0], x[1], x[2], y, k.Attention, k.st)
	return nil
}
func (k attnK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.AttentionFwd(x[0], x[1], x[2], y, k.Attention, k.st)
	return nil
}

type attnGradK struct {
	attnK
	g   *grads
	tmp *kernels.Side
}

func (k attnGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.AttentionBwd(x[0], x[1], x[2], x[4], gradDst(k.g, y, 0), gradDst(k.g, y, 1), gradDst(k.g, y, 2), k.Attention, k.st, k.tmp)
	return nil
}
func (k attnGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.AttentionBwd(x[0], x[1], x[2], x[4], gradDst(k.g, y, 0), gradDst(k.g, y, 1), gradDst(k.g, y, 2), k.Attention, k.st, k.tmp)
	return nil
}

// attention: children q, k, v.
func (b *builder) attention(c []*G.Node, qs []int, dv int, scale float64, causal bool) (*G.Node, error) {
	r := len(qs)
	k := attnK{kernels.Attention{T: qs[r-2], D: qs[r-1], DV: dv, Scale: scale, Causal: causal}, &kernels.Side{}}
	out := append(append([]int(nil), qs[:r-1]...), dv)
	name := b.fusedName(fmt.Sprintf("attention(%v,%v)", scale, causal), out)
	grad := func(o *op, in G.Nodes, y, gy *G.Node) (G.Nodes, error) {
		tmp := &kernels.Side{}
		// y orders the backward after the forward that filled P
		return b.multiGrad(name+"_grad", o, in, func(g *grads) kernel { return attnGradK{k, g, tmp} },
			in[0], in[1], in[2], y, gy)
	}
	return b.custom(name, out, k, grad, c...)
}
