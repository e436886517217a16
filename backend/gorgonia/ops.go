package gorgonia

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file builds the custom ops (forward kernels plus hand-written
// backward ops). Shapes here are the IR's resolved shapes; gshape maps the
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
	return b.gradOp(fmt.Sprintf("regrad%v->%v", g.Shape(), x.Shape()), x.Shape(), copyK{p: newPlan([]int{n}, [][]int{{1}, {1}}), scale: 1}, g)
}

// ---------------------------------------------------------------- binary with broadcasting

type binK struct {
	kind int
	p    *plan
}

func (k binK) f32(x [][]float32, _ [][]int, y []float32) error {
	binFwd(k.kind, k.p, x[0], x[1], y)
	return nil
}
func (k binK) f64(x [][]float64, _ [][]int, y []float64) error {
	binFwd(k.kind, k.p, x[0], x[1], y)
	return nil
}

type binGradK struct {
	kind, w int
	p       *plan
	ab      bool // inputs are (a, b, g) rather than (g)
	direct  bool // a, b and y have one shape: binGradDirect, no accumulation
}

func (k binGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	if k.direct {
		if k.ab {
			binGradDirect(k.kind, k.w, x[0], x[1], x[2], y)
		} else {
			binGradDirect(k.kind, k.w, nil, nil, x[0], y)
		}
		return nil
	}
	if k.ab {
		binGrad(k.kind, k.w, k.p, x[0], x[1], x[2], y)
	} else {
		binGrad(k.kind, k.w, k.p, nil, nil, x[0], y)
	}
	return nil
}
func (k binGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	if k.direct {
		if k.ab {
			binGradDirect(k.kind, k.w, x[0], x[1], x[2], y)
		} else {
			binGradDirect(k.kind, k.w, nil, nil, x[0], y)
		}
		return nil
	}
	if k.ab {
		binGrad(k.kind, k.w, k.p, x[0], x[1], x[2], y)
	} else {
		binGrad(k.kind, k.w, k.p, nil, nil, x[0], y)
	}
	return nil
}

// broadcastBinary is a ∘ b for any broadcast-compatible shapes and ranks.
func (b *builder) broadcastBinary(kind int, x, y *G.Node, xs, ys, out []int) (*G.Node, error) {
	p, err := bcastPlan(out, out, xs, ys)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("bcast_%s%v%v->%v", kindNames[kind], xs, ys, out)
	grad := func(o *op, in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		res := make(G.Nodes, 2)
		shapes := [2][]int{xs, ys}
		for w := 0; w < 2; w++ {
			if !o.wrt[w] {
				continue
			}
			if (kind == kAdd || (kind == kSub && w == 0)) && sameShape(shapes[w], out) {
				n, err := b.passGrad(g, in[w])
				if err != nil {
					return nil, err
				}
				res[w] = n
				continue
			}
			ab := kind == kMul || kind == kDiv
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
	scalarFwd(k.kind, float32(k.c), x[0], y)
	return nil
}
func (k scalarK) f64(x [][]float64, _ [][]int, y []float64) error {
	scalarFwd(k.kind, k.c, x[0], y)
	return nil
}

type scalarGradK scalarK

func (k scalarGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	if k.kind == kRDiv {
		scalarGrad(k.kind, float32(k.c), x[0], x[1], y)
	} else {
		scalarGrad(k.kind, float32(k.c), nil, x[0], y)
	}
	return nil
}
func (k scalarGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	if k.kind == kRDiv {
		scalarGrad(k.kind, k.c, x[0], x[1], y)
	} else {
		scalarGrad(k.kind, k.c, nil, x[0], y)
	}
	return nil
}

// scalarOp is x ∘ c (or c ∘ x for kRSub/kRDiv) with c baked into the op.
func (b *builder) scalarOp(kind int, c float64, x *G.Node, shape []int) (*G.Node, error) {
	name := fmt.Sprintf("scalar_%s(%v)%v", kindNames[kind], c, shape)
	grad := func(o *op, in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		if kind == kAdd || kind == kSub {
			n, err := b.passGrad(g, in[0])
			return G.Nodes{n}, err
		}
		children := G.Nodes{g}
		if kind == kRDiv {
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
	p     *plan
	scale float64
}

func (k reduceK) f32(x [][]float32, _ [][]int, y []float32) error {
	reduceFwd(k.kind, k.p, x[0], y, float32(k.scale))
	return nil
}
func (k reduceK) f64(x [][]float64, _ [][]int, y []float64) error {
	reduceFwd(k.kind, k.p, x[0], y, k.scale)
	return nil
}

type maxGradK struct{ p *plan }

// Kernels that accumulate into (or only partly write) their output say so;
// op.Do clears a reused output buffer for them.
func (reduceK) needsZero() bool     { return true }
func (maxGradK) needsZero() bool    { return true }
func (k binGradK) needsZero() bool  { return !k.direct }
func (gatherGradK) needsZero() bool { return true }
func (pickGradK) needsZero() bool   { return true }

func (k maxGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	maxGrad(k.p, x[0], x[1], x[2], y)
	return nil
}
func (k maxGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	maxGrad(k.p, x[0], x[1], x[2], y)
	return nil
}

// reduce reduces x (shape in) to shape out (same rank, 1 on reduced axes).
func (b *builder) reduce(kind int, x *G.Node, in, out []int) (*G.Node, error) {
	p, err := bcastPlan(in, in, out)
	if err != nil {
		return nil, err
	}
	scale := 1.0
	if kind == rMean {
		scale = float64(prod(out)) / float64(prod(in))
	}
	name := fmt.Sprintf("%s%v->%v", reduceNames[kind], in, out)
	grad := func(o *op, inputs G.Nodes, output, g *G.Node) (G.Nodes, error) {
		var n *G.Node
		var err error
		if kind == rMax {
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
	p              *plan
	scale          float64
	srcOff, dstOff int
	zero           bool // the copy does not cover the output: clear it first
}

func (k copyK) f32(x [][]float32, _ [][]int, y []float32) error {
	if k.zero {
		clear(y)
	}
	stridedCopy(k.p, x[0][k.srcOff:], y[k.dstOff:])
	scaleAll(y, float32(k.scale))
	return nil
}
func (k copyK) f64(x [][]float64, _ [][]int, y []float64) error {
	if k.zero {
		clear(y)
	}
	stridedCopy(k.p, x[0][k.srcOff:], y[k.dstOff:])
	scaleAll(y, k.scale)
	return nil
}

// expandOp is the (non-differentiable) broadcast of g from shape in to out,
// times scale, as a node of Gorgonia shape gs; it is the backward of sum and
// mean.
func (b *builder) expandOp(g *G.Node, gs tensor.Shape, in, out []int, scale float64) (*G.Node, error) {
	p, err := bcastPlan(out, out, in)
	if err != nil {
		return nil, err
	}
	return b.gradOp(fmt.Sprintf("expand%v->%v*%v", in, out, scale), gs, copyK{p: p, scale: scale}, g)
}

// broadcast repeats the size-1 axes of x (shape in) to shape out.
func (b *builder) broadcast(x *G.Node, in, out []int) (*G.Node, error) {
	p, err := bcastPlan(out, out, in)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("broadcast%v->%v", in, out)
	grad := func(o *op, inputs G.Nodes, _, g *G.Node) (G.Nodes, error) {
		n, err := b.gradOp(name+"_grad", inputs[0].Shape(), reduceK{rSum, p, 1}, g)
		return G.Nodes{n}, err
	}
	return b.custom(name, out, copyK{p: p, scale: 1}, grad, x)
}

func transposePlan(in, perm []int) (*plan, []int) {
	out := make([]int, len(perm))
	cs := contiguous(in)
	src := make([]int, len(perm))
	for i, p := range perm {
		out[i] = in[p]
		src[i] = cs[p]
	}
	return newPlan(out, [][]int{contiguous(out), src}), out
}

// transpose permutes the axes of x: result axis i is axis perm[i].
func (b *builder) transpose(x *G.Node, in, perm []int) (*G.Node, error) {
	p, out := transposePlan(in, perm)
	name := fmt.Sprintf("transpose%v%v", in, perm)
	grad := func(o *op, inputs G.Nodes, _, g *G.Node) (G.Nodes, error) {
		inv := make([]int, len(perm))
		for i, p := range perm {
			inv[p] = i
		}
		q, _ := transposePlan(out, inv)
		n, err := b.gradOp(name+"_grad", inputs[0].Shape(), copyK{p: q, scale: 1}, g)
		return G.Nodes{n}, err
	}
	return b.custom(name, out, copyK{p: p, scale: 1}, grad, x)
}

// slice keeps [start, end) of axis.
func (b *builder) slice(x *G.Node, in []int, axis, start, end int) (*G.Node, error) {
	out := append([]int(nil), in...)
	out[axis] = end - start
	cs := contiguous(in)
	off := start * cs[axis]
	p := newPlan(out, [][]int{contiguous(out), cs})
	name := fmt.Sprintf("slice%v[%d:%d:%d]", in, axis, start, end)
	grad := func(o *op, inputs G.Nodes, _, g *G.Node) (G.Nodes, error) {
		q := newPlan(out, [][]int{cs, contiguous(out)})
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
	softmaxFwd(x[0], y, k.n, k.log)
	return nil
}
func (k softmaxK) f64(x [][]float64, _ [][]int, y []float64) error {
	softmaxFwd(x[0], y, k.n, k.log)
	return nil
}

type softmaxGradK softmaxK

func (k softmaxGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	softmaxGrad(x[0], x[1], y, k.n, k.log)
	return nil
}
func (k softmaxGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	softmaxGrad(x[0], x[1], y, k.n, k.log)
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
	return gatherFwd(x[0], idx[0], y, k.c)
}
func (k gatherK) f64(x [][]float64, idx [][]int, y []float64) error {
	return gatherFwd(x[0], idx[0], y, k.c)
}

type gatherGradK gatherK

func (k gatherGradK) f32(x [][]float32, idx [][]int, y []float32) error {
	return gatherGrad(idx[0], x[0], y, k.c)
}
func (k gatherGradK) f64(x [][]float64, idx [][]int, y []float64) error {
	return gatherGrad(idx[0], x[0], y, k.c)
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
	return pickFwd(x[0], idx[0], y, k.v)
}
func (k pickK) f64(x [][]float64, idx [][]int, y []float64) error {
	return pickFwd(x[0], idx[0], y, k.v)
}

type pickGradK pickK

func (k pickGradK) f32(x [][]float32, idx [][]int, y []float32) error {
	return pickGrad(idx[0], x[0], y, k.v)
}
func (k pickGradK) f64(x [][]float64, idx [][]int, y []float64) error {
	return pickGrad(idx[0], x[0], y, k.v)
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
	causalMask(x[0], y, k.t, float32(k.fill))
	return nil
}
func (k maskK) f64(x [][]float64, _ [][]int, y []float64) error {
	causalMask(x[0], y, k.t, k.fill)
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
	rope(x[0], y, k.t, k.d, k.cos, k.sin, k.inverse)
	return nil
}
func (k ropeK) f64(x [][]float64, _ [][]int, y []float64) error {
	rope(x[0], y, k.t, k.d, k.cos, k.sin, k.inverse)
	return nil
}

// ropeTables returns cos and sin of t·base^(−2i/d) for t < T, i < d/2.
func ropeTables(t, d int, base float64) (cos, sin []float64) {
	h := d / 2
	cos = make([]float64, t*h)
	sin = make([]float64, t*h)
	for p := 0; p < t; p++ {
		for i := 0; i < h; i++ {
			a := float64(p) * math.Pow(base, -2*float64(i)/float64(d))
			cos[p*h+i], sin[p*h+i] = math.Cos(a), math.Sin(a)
		}
	}
	return cos, sin
}

func (b *builder) rope(x *G.Node, shape []int, base float64) (*G.Node, error) {
	t, d := shape[len(shape)-2], shape[len(shape)-1]
	cos, sin := ropeTables(t, d, base)
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
	p := newPlan([]int{1}, [][]int{{1}, {1}})
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
	unaryFwd(k.kind, x[0], y)
	return nil
}
func (k unaryK) f64(x [][]float64, _ [][]int, y []float64) error {
	unaryFwd(k.kind, x[0], y)
	return nil
}

type unaryGradK unaryK

func (k unaryGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	unaryGrad(k.kind, x[0], x[1], y)
	return nil
}
func (k unaryGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	unaryGrad(k.kind, x[0], x[1], y)
	return nil
}

func (b *builder) unaryOp(kind int, x *G.Node, shape []int) (*G.Node, error) {
	name := fmt.Sprintf("%s%v", unaryNames[kind], shape)
	grad := func(o *op, in G.Nodes, output, g *G.Node) (G.Nodes, error) {
		xy := in[0]
		if unaryGradUsesY[kind] {
			xy = output
		}
		r, err := b.gradOp(name+"_grad", in[0].Shape(), unaryGradK{kind}, xy, g)
		return G.Nodes{r}, err
	}
	return b.custom(name, shape, unaryK{kind}, grad, x)
}

// ---------------------------------------------------------------- matmul (BLAS)

type mmK struct{ p mm }

func (k mmK) f32(x [][]float32, _ [][]int, y []float32) error {
	mmFwd(k.p, x[0], x[1], y)
	return nil
}
func (k mmK) f64(x [][]float64, _ [][]int, y []float64) error {
	mmFwd(k.p, x[0], x[1], y)
	return nil
}

type mmGradXK mmK

func (k mmGradXK) f32(x [][]float32, _ [][]int, y []float32) error {
	mmGradX(k.p, x[0], x[1], y)
	return nil
}
func (k mmGradXK) f64(x [][]float64, _ [][]int, y []float64) error {
	mmGradX(k.p, x[0], x[1], y)
	return nil
}

type mmGradWK mmK

func (k mmGradWK) f32(x [][]float32, _ [][]int, y []float32) error {
	mmGradW(k.p, x[0], x[1], y)
	return nil
}
func (k mmGradWK) f64(x [][]float64, _ [][]int, y []float64) error {
	mmGradW(k.p, x[0], x[1], y)
	return nil
}

// matmul is x [..., M, K] times a shared w [K, N] ([N, K] with transB) or a
// batch w [..., K, N] ([..., N, K]), computed with BLAS GEMMs on the flat
// data (no reshapes needed).
func (b *builder) matmul(x, w *G.Node, xs, ws []int, transB bool) (*G.Node, error) {
	r := len(xs)
	p := mm{m: xs[r-2], k: xs[r-1], n: ws[len(ws)-1], transB: transB}
	if transB {
		p.n = ws[len(ws)-2]
	}
	if len(ws) == 2 {
		p.m = prod(xs[:r-1]) // all rows at once
	} else {
		p.batch = prod(xs[:r-2])
	}
	out := append(append([]int(nil), xs[:r-1]...), p.n)
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
