package gorgonia

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
	"github.com/mhcc/mhcc/ir"
)

func init() {
	impls.Implement(func(b *builder, v *ir.Value, args []*entry, e *entry) error {
		if prod(args[0].shape) != prod(e.shape) {
			return fmt.Errorf("reshape: cannot reshape %v to %v", args[0].shape, e.shape)
		}
		return b.structural(args[0], e, true, nil)
	}, ir.OpReshape)
	impls.Implement(func(b *builder, v *ir.Value, args []*entry, e *entry) error {
		perm := v.Attrs.Ints("perm")
		if err := checkPerm(perm, len(args[0].shape)); err != nil {
			return err
		}
		return b.structural(args[0], e, isIdentityPerm(perm), func(x *G.Node) (*G.Node, error) { return b.transpose(x, args[0].shape, perm) })
	}, ir.OpTranspose)
	impls.Implement(func(b *builder, v *ir.Value, args []*entry, e *entry) error {
		ax, start, end := v.Attrs.Int("axis"), v.Attrs.Int("start"), v.Attrs.Int("end")
		if err := checkSlice(args[0].shape, ax, start, end); err != nil {
			return err
		}
		var err error
		if e.node, err = b.mmcSlice(v, args[0].shape, ax, start, end); e.node != nil || err != nil { // matmul.go
			return err
		}
		return b.structural(args[0], e, start == 0 && end == args[0].shape[ax], func(x *G.Node) (*G.Node, error) { return b.slice(x, args[0].shape, ax, start, end) })
	}, ir.OpSlice)
	impls.Implement(func(b *builder, _ *ir.Value, args []*entry, e *entry) error {
		return b.structural(args[0], e, slices.Equal(args[0].shape, e.shape), func(x *G.Node) (*G.Node, error) { return b.broadcast(x, args[0].shape, e.shape) })
	}, ir.OpBroadcast)
}

// Layout ops (ir/ops_layout.go). Kernels read flat row-major data with the
// IR's shapes, so reshape needs no node; transpose, slice and broadcast are
// strided copies, and so are their backward ops.

// structural lowers reshape/transpose/slice/broadcast: a constant stays a
// constant, and an identity (same shape reshape/broadcast, identity
// permutation, full slice) reuses the argument's node.
func (b *builder) structural(a *entry, e *entry, identity bool, f func(*G.Node) (*G.Node, error)) error {
	if a.isConst {
		e.isConst, e.c = true, a.c
		return nil
	}
	if identity {
		e.node = a.node
		return nil
	}
	return b.withNode(a, e, f)
}

func checkPerm(perm []int, r int) error {
	if len(perm) != r {
		return fmt.Errorf("transpose: perm %v does not match rank %d", perm, r)
	}
	seen := make([]bool, r)
	for _, p := range perm {
		if p < 0 || p >= r || seen[p] {
			return fmt.Errorf("transpose: %v is not a permutation", perm)
		}
		seen[p] = true
	}
	return nil
}

func checkSlice(in []int, ax, start, end int) error {
	if ax < 0 || ax >= len(in) || start < 0 || end > in[ax] || start >= end {
		return fmt.Errorf("slice: axis %d [%d, %d) out of range for %v", ax, start, end, in)
	}
	return nil
}

func isIdentityPerm(perm []int) bool {
	for i, p := range perm {
		if i != p {
			return false
		}
	}
	return true
}

type copyK struct {
	p              *kernels.Plan
	scale          float64
	srcOff, dstOff int
	zero           bool // the copy does not cover the output: clear it first
}

func (k copyK) f32(x [][]float32, _ [][]int, y []float32) error {
	if k.zero {
		clear(y)
	}
	kernels.StridedCopy(k.p, x[0][k.srcOff:], y[k.dstOff:])
	kernels.ScaleAll(y, float32(k.scale))
	return nil
}
func (k copyK) f64(x [][]float64, _ [][]int, y []float64) error {
	if k.zero {
		clear(y)
	}
	kernels.StridedCopy(k.p, x[0][k.srcOff:], y[k.dstOff:])
	kernels.ScaleAll(y, k.scale)
	return nil
}

// expandOp is the (non-differentiable) broadcast of g from shape in to out,
// times scale, as a node of Gorgonia shape gs; it is the backward of sum and
// mean.
func (b *builder) expandOp(g *G.Node, gs tensor.Shape, in, out []int, scale float64) (*G.Node, error) {
	p, err := kernels.BcastPlan(out, out, in)
	if err != nil {
		return nil, err
	}
	return b.gradOp(fmt.Sprintf("expand%v->%v*%v", in, out, scale), gs, copyK{p: p, scale: scale}, g)
}

// broadcast repeats the size-1 axes of x (shape in) to shape out.
func (b *builder) broadcast(x *G.Node, in, out []int) (*G.Node, error) {
	p, err := kernels.BcastPlan(out, out, in)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("broadcast%v->%v", in, out)
	grad := func(o *op, inputs G.Nodes, _, g *G.Node) (G.Nodes, error) {
		n, err := b.gradOp(name+"_grad", inputs[0].Shape(), reduceK{kernels.ReduceSum, p, 1}, g)
		return G.Nodes{n}, err
	}
	return b.custom(name, out, copyK{p: p, scale: 1}, grad, x)
}

// transpose permutes the axes of x: result axis i is axis perm[i].
func (b *builder) transpose(x *G.Node, in, perm []int) (*G.Node, error) {
	p, out := kernels.TransposePlan(in, perm)
	name := fmt.Sprintf("transpose%v%v", in, perm)
	grad := func(o *op, inputs G.Nodes, _, g *G.Node) (G.Nodes, error) {
		inv := make([]int, len(perm))
		for i, p := range perm {
			inv[p] = i
		}
		q, _ := kernels.TransposePlan(out, inv)
		n, err := b.gradOp(name+"_grad", inputs[0].Shape(), copyK{p: q, scale: 1}, g)
		return G.Nodes{n}, err
	}
	return b.custom(name, out, copyK{p: p, scale: 1}, grad, x)
}

// slice keeps [start, end) of axis.
func (b *builder) slice(x *G.Node, in []int, axis, start, end int) (*G.Node, error) {
	out := append([]int(nil), in...)
	out[axis] = end - start
	cs := kernels.Contiguous(in)
	off := start * cs[axis]
	p := kernels.NewPlan(out, [][]int{kernels.Contiguous(out), cs})
	name := fmt.Sprintf("slice%v[%d:%d:%d]", in, axis, start, end)
	grad := func(o *op, inputs G.Nodes, _, g *G.Node) (G.Nodes, error) {
		q := kernels.NewPlan(out, [][]int{cs, kernels.Contiguous(out)})
		n, err := b.gradOp(name+"_grad", inputs[0].Shape(), copyK{p: q, scale: 1, dstOff: off, zero: true}, g)
		return G.Nodes{n}, err
	}
	return b.custom(name, out, copyK{p: p, scale: 1, srcOff: off}, grad, x)
}

// ---------------------------------------------------------------- concat

// concatK copies each operand into its block of the output.
type concatK struct {
	plans []*kernels.Plan // operand i: its shape, output strides, operand strides
	offs  []int           // where operand i's block starts in the output
}

func (k concatK) f32(x [][]float32, _ [][]int, y []float32) error {
	for i, p := range k.plans {
		kernels.StridedCopy(p, x[i], y[k.offs[i]:])
	}
	return nil
}
func (k concatK) f64(x [][]float64, _ [][]int, y []float64) error {
	for i, p := range k.plans {
		kernels.StridedCopy(p, x[i], y[k.offs[i]:])
	}
	return nil
}

// concat joins the operands along axis; the gradient of operand i is its
// block of the output gradient (a strided copy, as slice's forward).
func (b *builder) concat(xs []*G.Node, shapes [][]int, axis int, out []int) (*G.Node, error) {
	os := kernels.Contiguous(out)
	k := concatK{}
	off := 0
	for _, s := range shapes {
		k.plans = append(k.plans, kernels.NewPlan(s, [][]int{os, kernels.Contiguous(s)}))
		k.offs = append(k.offs, off*os[axis])
		off += s[axis]
	}
	name := fmt.Sprintf("concat%v[%d]", shapes, axis)
	grad := func(o *op, inputs G.Nodes, _, g *G.Node) (G.Nodes, error) {
		res := make(G.Nodes, len(inputs))
		for i, s := range shapes {
			if !o.wrt[i] {
				continue
			}
			p := kernels.NewPlan(s, [][]int{kernels.Contiguous(s), os})
			var err error
			if res[i], err = b.gradOp(fmt.Sprintf("%s_grad%d", name, i), inputs[i].Shape(), copyK{p: p, scale: 1, srcOff: k.offs[i]}, g); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	return b.custom(name, out, k, grad, xs...)
}

func init() {
	impls.Implement(fused(func(b *builder, v *ir.Value, nodes []*G.Node, shapes [][]int, e *entry) error {
		var err error
		e.node, err = b.concat(nodes, shapes, v.Attrs.Int("axis"), e.shape)
		return err
	}), ir.OpConcat)
}
