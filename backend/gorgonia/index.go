package gorgonia

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
	"github.com/mhcc/mhcc/ir"
)

func init() {
	impls.Implement(func(b *builder, _ *ir.Value, args []*entry, e *entry) error {
		if len(args[0].shape) != 2 {
			return fmt.Errorf("gather: table must be 2-D, got %v", args[0].shape)
		}
		return b.withNode(args[0], e, func(x *G.Node) (*G.Node, error) { return b.gather(x, args[1].node, args[0].shape, args[1].shape) })
	}, ir.OpGather)
	impls.Implement(func(b *builder, _ *ir.Value, args []*entry, e *entry) error {
		return b.withNode(args[0], e, func(x *G.Node) (*G.Node, error) { return b.pick(x, args[1].node, args[0].shape) })
	}, ir.OpPick)
}

// Index ops (ir/ops_index.go): gather (embedding rows) and pick (along the
// last axis); never Gorgonia's ByIndices.

type gatherK struct{ c int }

func (k gatherK) f32(x [][]float32, idx [][]int, y []float32) error {
	return kernels.GatherFwd(x[0], idx[0], y, k.c)
}
func (k gatherK) f64(x [][]float64, idx [][]int, y []float64) error {
	return kernels.GatherFwd(x[0], idx[0], y, k.c)
}

type gatherGradK gatherK

// needsZero: the backward scatter-adds into its output (op.Do clears a
// reused buffer first).
func (gatherGradK) needsZero() bool { return true }

func (k gatherGradK) f32(x [][]float32, idx [][]int, y []float32) error {
	return kernels.GatherGrad(idx[0], x[0], y, k.c)
}
func (k gatherGradK) f64(x [][]float64, idx [][]int, y []float64) error {
	return kernels.GatherGrad(idx[0], x[0], y, k.c)
}

// gather looks up rows: table [V,C], idx (shape is) → [is..., C].
func (b *builder) gather(table, idx *G.Node, ts, is []int) (*G.Node, error) {
	out := append(append([]int(nil), is...), ts[1])
	name := fmt.Sprintf("gather%v%v", ts, is)
	grad := func(o *op, in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		r, err := b.gradOp(name+"_grad", in[0].Shape(), gatherGradK{ts[1]}, in[1], g)
		return G.Nodes{r, nil}, err
	}
	return b.custom(name, out, gatherK{ts[1]}, grad, table, idx)
}

type pickK struct{ v int }

func (k pickK) f32(x [][]float32, idx [][]int, y []float32) error {
	return kernels.PickFwd(x[0], idx[0], y, k.v)
}
func (k pickK) f64(x [][]float64, idx [][]int, y []float64) error {
	return kernels.PickFwd(x[0], idx[0], y, k.v)
}

type pickGradK pickK

// needsZero: as gatherGradK.
func (pickGradK) needsZero() bool { return true }

func (k pickGradK) f32(x [][]float32, idx [][]int, y []float32) error {
	return kernels.PickGrad(idx[0], x[0], y, k.v)
}
func (k pickGradK) f64(x [][]float64, idx [][]int, y []float64) error {
	return kernels.PickGrad(idx[0], x[0], y, k.v)
}

// pick selects x[..., idx[...]] along the last axis.
func (b *builder) pick(x, idx *G.Node, xs []int) (*G.Node, error) {
	v := xs[len(xs)-1]
	out := xs[:len(xs)-1]
	name := fmt.Sprintf("pick%v", xs)
	grad := func(o *op, in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		r, err := b.gradOp(name+"_grad", in[0].Shape(), pickGradK{v}, in[1], g)
		return G.Nodes{r, nil}, err
	}
	return b.custom(name, out, pickK{v}, grad, x, idx)
}
