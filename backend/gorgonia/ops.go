package gorgonia

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
)

// This file builds the custom ops (forward kernels plus hand-written
// backward ops, from the kernels package). Shapes here are the IR's resolved shapes; gshape maps the
// rank-0 shape to Gorgonia's (1).

// gshape is the Gorgonia shape of a resolved IR shape: IR scalars are
// represented as 1-element vectors (the loss is converted to a real
// Gorgonia scalar at the very end).
func gshape(s []int) tensor.Shape {
	if len(s) == 0 {
		return tensor.Shape{1}
	}
	return tensor.Shape(append([]int(nil), s...))
}

func prod(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// custom applies a differentiable custom op; wrt flags follow which
// children depend on parameters.
func (b *builder) custom(name string, out []int, k kernel, grad gradFn, children ...*G.Node) (*G.Node, error) {
	wrt := make([]bool, len(children))
	dep := false
	for i, c := range children {
		wrt[i] = b.dep[c]
		dep = dep || wrt[i]
	}
	n, err := apply(newOp(name, b.dt, children, gshape(out), k, grad, wrt), children...)
	if err != nil {
		return nil, err
	}
	if dep {
		b.dep[n] = true
	}
	return n, nil
}

// gradOp applies a (non-differentiable) backward op whose output has the
// Gorgonia shape out (the shape of the node whose gradient it is).
func (b *builder) gradOp(name string, out tensor.Shape, k kernel, children ...*G.Node) (*G.Node, error) {
	return apply(newOp(name, b.dt, children, out, k, nil, nil), children...)
}

// passGrad returns g as the gradient of x when their Gorgonia shapes agree,
// else a copy of g with x's shape (Gorgonia sums gradients with stock Add,
// which needs equal shapes). Kernels ignore Gorgonia shapes, so a reshape
// of the IR never needs a node of its own.
func (b *builder) passGrad(g, x *G.Node) (*G.Node, error) {
	if sameShape(g.Shape(), x.Shape()) {
		return g, nil
	}
	n := g.Shape().TotalSize()
	return b.gradOp(fmt.Sprintf("regrad%v->%v", g.Shape(), x.Shape()), x.Shape(), copyK{p: kernels.NewPlan([]int{n}, [][]int{{1}, {1}}), scale: 1}, g)
}

// ---------------------------------------------------------------- binary with broadcasting

type binK struct {
	kind int
	p    *kernels.Plan
}

func (k binK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.BinFwd(k.kind, k.p, x[0], x[1], y)
	return nil
}
func (k binK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.BinFwd(k.kind, k.p, x[0], x[1], y)
	return nil
}

type binGradK struct {
	kind, w int
	p       *kernels.Plan
	ab      bool // inputs are (a, b, g) rather than (g)
	direct  bool // a, b and y have one shape: binGradDirect, no accumulation
}

func (k binGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	if k.direct {
		if k.ab {
			kernels.BinGradDirect(k.kind, k.w, x[0], x[1], x[2], y)
		} else {
			kernels.BinGradDirect(k.kind, k.w, nil, nil, x[0], y)
		}
		return nil
	}
	if k.ab {
		kernels.BinGrad(k.kind, k.w, k.p, x[0], x[1], x[2], y)
	} else {
		kernels.BinGrad(k.kind, k.w, k.p, nil, nil, x[0], y)
	}
	return nil
}
func (k binGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	if k.direct {
		if k.ab {
			kernels.BinGradDirect(k.kind, k.w, x[0], x[1], x[2], y)
		} else {
			kernels.BinGradDirect(k.kind, k.w, nil, nil, x[0], y)
		}
		return nil
	}
	if k.ab {
		kernels.BinGrad(k.kind, k.w, k.p, x[0], x[1], x[2], y)
	} else {
		kernels.BinGrad(k.kind, k.w, k.p, nil, nil, x[0], y)
	}
	return nil
}

// broadcastBinary is a ∘ b for any broadcast-compatible shapes and ranks.
func (b *builder) broadcastBinary(kind int, x, y *G.Node, xs, ys, out []int) (*G.Node, error) {
	p, err := kernels.BcastPlan(out, out, xs, ys)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("bcast_%s%v%v->%v", kernels.BinNames[kind], xs, ys, out)
	grad := func(o *op, in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		res := make(G.Nodes, 2)
		shapes := [2][]int{xs, ys}
		for w := 0; w < 2; w++ {
			if !o.wrt[w] {
				continue
			}
			if (kind == kernels.BinAdd || (kind == kernels.BinSub && w == 0)) && sameShape(shapes[w], out) {
				n, err := b.passGrad(g, in[w])
				if err != nil {
					return nil, err
				}
				res[w] = n
				continue
			}
			ab := kind == kernels.BinMul || kind == kernels.BinDiv
			children := G.Nodes{g}
			if ab {
				children = G.Nodes{in[0], in[1], g}
			}
			direct := sameShape(xs, out) && sameShape(ys, out)
			n, err := b.gradOp(fmt.Sprintf("%s_grad%d", name, w), in[w].Shape(), binGradK{kind, w, p, ab, direct}, children...)
			if err != nil {
				return nil, err
			}
			res[w] = n
		}
		return res, nil
	}
	return b.custom(name, out, binK{kind, p}, grad, x, y)
}

// ---------------------------------------------------------------- binary with a constant scalar

type scalarK struct {
	kind int
	c    float64
}

func (k scalarK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.ScalarFwd(k.kind, float32(k.c), x[0], y)
	return nil
}
func (k scalarK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.ScalarFwd(k.kind, k.c, x[0], y)
	return nil
}

type scalarGradK scalarK

func (k scalarGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	if k.kind == kernels.BinRDiv {
		kernels.ScalarGrad(k.kind, float32(k.c), x[0], x[1], y)
	} else {
		kernels.ScalarGrad(k.kind, float32(k.c), nil, x[0], y)
	}
	return nil
}
func (k scalarGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	if k.kind == kernels.BinRDiv {
		kernels.ScalarGrad(k.kind, k.c, x[0], x[1], y)
	} else {
		kernels.ScalarGrad(k.kind, k.c, nil, x[0], y)
	}
	return nil
}

// scalarOp is x ∘ c (or c ∘ x for kRSub/kRDiv) with c baked into the op.
func (b *builder) scalarOp(kind int, c float64, x *G.Node, shape []int) (*G.Node, error) {
	name := fmt.Sprintf("scalar_%s(%v)%v", kernels.BinNames[kind], c, shape)
	grad := func(o *op, in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		if kind == kernels.BinAdd || kind == kernels.BinSub {
			n, err := b.passGrad(g, in[0])
			return G.Nodes{n}, err
		}
		children := G.Nodes{g}
		if kind == kernels.BinRDiv {
			children = G.Nodes{in[0], g}
		}
		n, err := b.gradOp(name+"_grad", in[0].Shape(), scalarGradK{kind, c}, children...)
		return G.Nodes{n}, err
	}
	return b.custom(name, shape, scalarK{kind, c}, grad, x)
}

// ---------------------------------------------------------------- reductions (keeping dims)

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
func (reduceK) needsZero() bool     { return true }
func (maxGradK) needsZero() bool    { return true }
func (k binGradK) needsZero() bool  { return !k.direct }
func (gatherGradK) needsZero() bool { return true }
func (pickGradK) needsZero() bool   { return true }

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

// ---------------------------------------------------------------- strided copies: broadcast, transpose, slice, reshape

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

// ---------------------------------------------------------------- softmax / log-softmax over the last axis

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

// ---------------------------------------------------------------- gather (embedding rows) and pick (last axis)

type gatherK struct{ c int }

func (k gatherK) f32(x [][]float32, idx [][]int, y []float32) error {
	return kernels.GatherFwd(x[0], idx[0], y, k.c)
}
func (k gatherK) f64(x [][]float64, idx [][]int, y []float64) error {
	return kernels.GatherFwd(x[0], idx[0], y, k.c)
}

type gatherGradK gatherK

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

// ---------------------------------------------------------------- causal mask and rope

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

// ---------------------------------------------------------------- the loss: 1-element tensor → Gorgonia scalar

// toScalar converts a 1-element tensor into the Gorgonia scalar that G.Grad
// needs as its cost.
func (b *builder) toScalar(x *G.Node, shape []int) (*G.Node, error) {
	p := kernels.NewPlan([]int{1}, [][]int{{1}, {1}})
	grad := func(o *op, in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		r, err := b.gradOp(fmt.Sprintf("from_scalar%v", shape), in[0].Shape(), copyK{p: p, scale: 1}, g)
		return G.Nodes{r}, err
	}
	wrt := []bool{b.dep[x]}
	o := newOp(fmt.Sprintf("to_scalar%v", shape), b.dt, []*G.Node{x}, tensor.Shape{1}, copyK{p: p, scale: 1}, grad, wrt)
	o.scalarOut = true
	n, err := apply(o, x)
	if err != nil {
		return nil, err
	}
	b.dep[n] = b.dep[x]
	return n, nil
}

// ---------------------------------------------------------------- unary

type unaryK struct{ kind int }

func (k unaryK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.UnaryFwd(k.kind, x[0], y)
	return nil
}
func (k unaryK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.UnaryFwd(k.kind, x[0], y)
	return nil
}

type unaryGradK unaryK

func (k unaryGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.UnaryGrad(k.kind, x[0], x[1], y)
	return nil
}
func (k unaryGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.UnaryGrad(k.kind, x[0], x[1], y)
	return nil
}

func (b *builder) unaryOp(kind int, x *G.Node, shape []int) (*G.Node, error) {
	name := fmt.Sprintf("%s%v", kernels.UnaryNames[kind], shape)
	grad := func(o *op, in G.Nodes, output, g *G.Node) (G.Nodes, error) {
		xy := in[0]
		if kernels.UnaryGradUsesY[kind] {
			xy = output
		}
		r, err := b.gradOp(name+"_grad", in[0].Shape(), unaryGradK{kind}, xy, g)
		return G.Nodes{r}, err
	}
	return b.custom(name, shape, unaryK{kind}, grad, x)
}

// ---------------------------------------------------------------- matmul (BLAS)

type mmK struct{ p kernels.MatMul }

func (k mmK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.MatMulFwd(k.p, x[0], x[1], y)
	return nil
}
func (k mmK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.MatMulFwd(k.p, x[0], x[1], y)
	return nil
}

type mmGradXK mmK

func (k mmGradXK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.MatMulGradX(k.p, x[0], x[1], y)
	return nil
}
func (k mmGradXK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.MatMulGradX(k.p, x[0], x[1], y)
	return nil
}

type mmGradWK mmK

func (k mmGradWK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.MatMulGradW(k.p, x[0], x[1], y)
	return nil
}
func (k mmGradWK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.MatMulGradW(k.p, x[0], x[1], y)
	return nil
}

// matmul is x [..., M, K] times a shared w [K, N] ([N, K] with transB) or a
// batch w [..., K, N] ([..., N, K]), computed with BLAS GEMMs on the flat
// data (no reshapes needed).
func (b *builder) matmul(x, w *G.Node, xs, ws []int, transB bool) (*G.Node, error) {
	r := len(xs)
	p := kernels.MatMul{M: xs[r-2], K: xs[r-1], N: ws[len(ws)-1], TransB: transB}
	if transB {
		p.N = ws[len(ws)-2]
	}
	if len(ws) == 2 {
		p.M = prod(xs[:r-1]) // all rows at once
	} else {
		p.Batch = prod(xs[:r-2])
	}
	out := append(append([]int(nil), xs[:r-1]...), p.N)
	name := fmt.Sprintf("matmul%v%v(%v)", xs, ws, transB)
	grad := func(o *op, in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		res := make(G.Nodes, 2)
		var err error
		if o.wrt[0] {
			if res[0], err = b.gradOp(name+"_gradx", in[0].Shape(), mmGradXK{p}, in[1], g); err != nil {
				return nil, err
			}
		}
		if o.wrt[1] {
			if res[1], err = b.gradOp(name+"_gradw", in[1].Shape(), mmGradWK{p}, in[0], g); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	return b.custom(name, out, mmK{p}, grad, x, w)
}
