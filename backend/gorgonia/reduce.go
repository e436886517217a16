package gorgonia

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
	"github.com/mhcc/mhcc/ir"
)

func init() {
	kinds := map[string]int{ir.OpSum: kernels.ReduceSum, ir.OpMean: kernels.ReduceMean, ir.OpMax: kernels.ReduceMax}
	impls.Implement(func(b *builder, v *ir.Value, args []*entry, e *entry) error {
		return b.reduction(kinds[v.Op], args[0], e)
	}, ir.OpSum, ir.OpMean, ir.OpMax)
	impls.Implement(func(b *builder, v *ir.Value, args []*entry, e *entry) error {
		return b.withNode(args[0], e, func(x *G.Node) (*G.Node, error) { return b.softmax(x, e.shape, v.Op == ir.OpLogSoftmax) })
	}, ir.OpSoftmax, ir.OpLogSoftmax)
}

// Reductions and the normalisations over the last axis (ir/ops_reduce.go):
// sum, mean and max keeping the reduced axes, softmax and log_softmax.

func (b *builder) reduction(kind int, a, e *entry) error {
	if slices.Equal(a.shape, e.shape) {
		if a.isConst {
			e.isConst, e.c = true, a.c
		}
		e.node = a.node
		return nil
	}
	x, err := b.node(a)
	if err != nil {
		return err
	}
	e.node, err = b.reduce(kind, x, a.shape, e.shape)
	return err
}

type reduceK struct {
	kind  int
	p     *kernels.Plan
	scale float64
}

func (k reduceK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.ReduceFwd(k.kind, k.p, x[0], y, float32(k.scale))
	return nil
}
func (k reduceK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.ReduceFwd(k.kind, k.p, x[0], y, k.scale)
	return nil
}

type maxGradK struct{ p *kernels.Plan }

// Kernels that accumulate into (or only partly write) their output say so;
// op.Do clears a reused output buffer for them.
func (reduceK) needsZero() bool  { return true }
func (maxGradK) needsZero() bool { return true }

func (k maxGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.MaxGrad(k.p, x[0], x[1], x[2], y)
	return nil
}
func (k maxGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.MaxGrad(k.p, x[0], x[1], x[2], y)
	return nil
}

// reduce reduces x (shape in) to shape out (same rank, 1 on reduced axes).
func (b *builder) reduce(kind int, x *G.Node, in, out []int) (*G.Node, error) {
	p, err := kernels.BcastPlan(in, in, out)
	if err != nil {
		return nil, err
	}
	scale := 1.0
	if kind == kernels.ReduceMean {
		scale = float64(prod(out)) / float64(prod(in))
	}
	name := fmt.Sprintf("%s%v->%v", kernels.ReduceNames[kind], in, out)
	grad := func(o *op, inputs G.Nodes, output, g *G.Node) (G.Nodes, error) {
		var n *G.Node
		var err error
		if kind == kernels.ReduceMax {
			n, err = b.gradOp(name+"_grad", inputs[0].Shape(), maxGradK{p}, inputs[0], output, g)
		} else {
			n, err = b.expandOp(g, inputs[0].Shape(), out, in, scale)
		}
		return G.Nodes{n}, err
	}
	return b.custom(name, out, reduceK{kind, p, scale}, grad, x)
}

type softmaxK struct {
	n   int
	log bool
}

func (k softmaxK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.SoftmaxFwd(x[0], y, k.n, k.log)
	return nil
}
func (k softmaxK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.SoftmaxFwd(x[0], y, k.n, k.log)
	return nil
}

type softmaxGradK softmaxK

func (k softmaxGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.SoftmaxGrad(x[0], x[1], y, k.n, k.log)
	return nil
}
func (k softmaxGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.SoftmaxGrad(x[0], x[1], y, k.n, k.log)
	return nil
}

func (b *builder) softmax(x *G.Node, shape []int, log bool) (*G.Node, error) {
	n := shape[len(shape)-1]
	name := fmt.Sprintf("softmax%v", shape)
	if log {
		name = "log_" + name
	}
	grad := func(o *op, in G.Nodes, output, g *G.Node) (G.Nodes, error) {
		r, err := b.gradOp(name+"_grad", in[0].Shape(), softmaxGradK{n, log}, output, g)
		return G.Nodes{r}, err
	}
	return b.custom(name, shape, softmaxK{n, log}, grad, x)
}
