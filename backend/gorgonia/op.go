package gorgonia

import (
	"fmt"
	"hash"
	"hash/fnv"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/chewxy/hm"
	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
)

// float is the element type of every custom kernel: the same generic code
// runs in float32 graphs (training) and float64 graphs (gradient checks).
type float = kernels.Float

// kernel computes one custom op. x holds the float inputs and idx the integer
// (token id) inputs, each in argument order; y is the freshly allocated,
// zeroed output. Kernels never write into their inputs.
type kernel interface {
	f32(x [][]float32, idx [][]int, y []float32) error
	f64(x [][]float64, idx [][]int, y []float64) error
}

// gradFn builds the gradient nodes of an op's inputs (nil for inputs that
// need none, i.e. where op.wrt is false).
type gradFn func(o *op, inputs G.Nodes, output, grad *G.Node) (G.Nodes, error)

// op is the one generic custom Gorgonia op used for every hand-written
// kernel. It always allocates its output in Do (ReturnsPtr false), never
// overwrites an input (OverwritesInput −1), and differentiates symbolically
// through grad, which builds other ops (their own backward is never needed).
type op struct {
	name      string       // unique description including attributes; used for hashing
	dt        tensor.Dtype // Float32 or Float64
	in        []hm.Type    // argument types
	isInt     []bool       // which arguments are tensor.Int index tensors
	out       tensor.Shape // output shape
	scalarOut bool         // output is a Gorgonia scalar (the loss)
	k         kernel
	ik        indexKernel // set instead of k for an op whose result is an index tensor
	grad      gradFn      // nil: not differentiable
	wrt       []bool      // which arguments receive a gradient

	// buf is the output buffer, reused by every run: the TapeMachine runs
	// each instruction once per RunAll, and Graph.Run copies out everything
	// it returns (loss, gradients) before the next run, so last run's
	// output is dead when Do is called again.
	buf any

	// dst, when set, is the output buffer instead of buf (a buffer shared
	// with other ops: see streams.go).
	dst *bufRef
	// acc, when set, is where the gradient of input accIdx goes: the
	// backward built by multiGrad accumulates into it (streams.go).
	acc    *bufRef
	accIdx int

	// backward marks an op of the backward pass (gradOp): its output and
	// its further gradients are placed by the buffer plan (pool.go).
	backward bool
	// seq is the op's position among the graph's ops in the order the
	// buffer plan assumes, checked by every run against order (nil: no
	// plan).
	seq   int
	order *int
	// placedOut and placedSides are the op's output and further
	// gradients as the buffer plan placed them (nil: its own).
	placedOut   *placed
	placedSides []*placed
}

var (
	_ G.Op   = (*op)(nil)
	_ G.SDOp = (*op)(nil)
)

func tensorType(dims int, of hm.Type) hm.Type {
	if dims == 0 {
		return of
	}
	return G.TensorType{Dims: dims, Of: of}
}

// newOp creates an op for the given children. wrt lists which children get
// gradients (nil: none).
func newOp(name string, dt tensor.Dtype, children []*G.Node, out tensor.Shape, k kernel, grad gradFn, wrt []bool) *op {
	a := hm.TypeVariable('a')
	o := &op{name: name, dt: dt, out: out.Clone(), k: k, grad: grad}
	for _, c := range children {
		isInt := c.Dtype() == tensor.Int
		of := hm.Type(a)
		if isInt {
			of = tensor.Int
		}
		o.in = append(o.in, tensorType(c.Dims(), of))
		o.isInt = append(o.isInt, isInt)
	}
	o.wrt = make([]bool, len(children))
	if grad != nil {
		copy(o.wrt, wrt)
	}
	return o
}

// apply creates the op's node.
func apply(o *op, children ...*G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(o, children...)
	if err != nil {
		return nil, errors.Wrapf(err, "applying %s", o.name)
	}
	return n, nil
}

func (o *op) Arity() int { return len(o.in) }

func (o *op) Type() hm.Type {
	ts := append([]hm.Type(nil), o.in...)
	// the result has the float inputs' type a, or, without one, the
	// graph's float type; an index result is a tensor.Int
	var of hm.Type = hm.TypeVariable('a')
	if !slices.Contains(o.isInt, false) {
		of = o.dt
	}
	if o.ik != nil {
		of = tensor.Int
	}
	if o.scalarOut {
		ts = append(ts, of)
	} else {
		ts = append(ts, tensorType(len(o.out), of))
	}
	return hm.NewFnType(ts...)
}

func (o *op) InferShape(...G.DimSizer) (tensor.Shape, error) {
	if o.scalarOut {
		return tensor.ScalarShape(), nil
	}
	return o.out.Clone(), nil
}

// opTimes, when non-nil, accumulates the time spent in each custom op kind
// (a test hook for profiling; not safe for concurrent graphs).
var opTimes map[string]time.Duration

// OpTimes runs f (which runs graphs) with per-op timing on and returns the
// wall time spent in the custom ops by kind: "matmul", "attention", ...,
// and "matmul (backward)" for the ops of the backward pass. A profiling aid
// (mhcc benchmarks use it): it is not safe while graphs run concurrently.
func OpTimes(f func()) map[string]time.Duration {
	opTimes = map[string]time.Duration{}
	defer func() { opTimes = nil }()
	f()
	kinds := map[string]time.Duration{}
	for name, d := range opTimes {
		k := opKind(name)
		if strings.Contains(name, "_grad") || strings.HasPrefix(name, "regrad") {
			k += " (backward)"
		}
		kinds[k] += d
	}
	return kinds
}

func opKind(name string) string {
	if i := strings.IndexAny(name, "[(0123456789"); i > 0 {
		name = name[:i]
	}
	return name
}

func (o *op) Do(vals ...G.Value) (v G.Value, err error) {
	// The TapeMachine runs instructions on its own goroutine: a panic here
	// would kill the process, so it becomes an error of Run.
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, errors.Errorf("%s panicked: %v\n%s", o.name, r, debug.Stack())
		}
	}()
	if opTimes != nil {
		start := time.Now()
		defer func() { opTimes[o.name] += time.Since(start) }()
	}
	if len(vals) != len(o.in) {
		return nil, errors.Errorf("%s: want %d inputs, got %d", o.name, len(o.in), len(vals))
	}
	if o.order != nil {
		if *o.order != o.seq {
			return nil, errors.Errorf("%s ran as op %d of the run, the buffer plan placed it at %d", o.name, *o.order, o.seq)
		}
		*o.order++
	}
	if o.ik != nil {
		switch o.dt {
		case tensor.Float32:
			return runIndex(o, vals, o.ik.index32)
		case tensor.Float64:
			return runIndex(o, vals, o.ik.index64)
		}
	}
	switch o.dt {
	case tensor.Float32:
		return run(o, vals, o.k.f32)
	case tensor.Float64:
		return run(o, vals, o.k.f64)
	}
	return nil, errors.Errorf("%s: unsupported dtype %v", o.name, o.dt)
}

// inputsOf returns the data of an op's float and index inputs, each in
// argument order.
func inputsOf[T float](o *op, vals []G.Value) (xs [][]T, idx [][]int, err error) {
	for i, v := range vals {
		if o.isInt[i] {
			d, err := intsOf(v)
			if err != nil {
				return nil, nil, errors.Wrapf(err, "%s input %d", o.name, i)
			}
			idx = append(idx, d)
			continue
		}
		d, err := floatsOf[T](v)
		if err != nil {
			return nil, nil, errors.Wrapf(err, "%s input %d", o.name, i)
		}
		xs = append(xs, d)
	}
	return xs, idx, nil
}

func run[T float](o *op, vals []G.Value, call func([][]T, [][]int, []T) error) (G.Value, error) {
	xs, idx, err := inputsOf[T](o, vals)
	if err != nil {
		return nil, err
	}
	if p, ok := o.k.(partK); ok {
		// a further output of a multi-gradient backward: its buffer was
		// filled by the backward node (this node's only input)
		y := gradDst[T](p.g, nil, p.i)
		return tensor.New(tensor.WithShape(o.out.Clone()...), tensor.WithBacking(y)), nil
	}
	var y []T
	if o.dst != nil {
		y = refBuf[T](o.dst, o.out.TotalSize())
	} else if y, _ = o.buf.([]T); len(y) != o.out.TotalSize() {
		n := o.out.TotalSize()
		y = make([]T, n)
		o.buf = y
	} else {
		if poisonPlaced {
			poison(o, y)
		}
		if z, ok := o.k.(interface{ needsZero() bool }); ok && z.needsZero() {
			clear(y)
		}
	}
	if err := call(xs, idx, y); err != nil {
		return nil, errors.Wrap(err, o.name)
	}
	if o.scalarOut {
		switch v := any(y[0]).(type) {
		case float32:
			return G.NewF32(v), nil
		case float64:
			return G.NewF64(v), nil
		}
	}
	return tensor.New(tensor.WithShape(o.out.Clone()...), tensor.WithBacking(y)), nil
}

// indexKernel computes an op whose result is an index tensor (ints) from
// float and index inputs, like kernel; y is the op's own reused buffer.
type indexKernel interface {
	index32(x [][]float32, idx [][]int, y []int) error
	index64(x [][]float64, idx [][]int, y []int) error
}

// runIndex runs an index kernel into the op's own int buffer.
func runIndex[T float](o *op, vals []G.Value, call func([][]T, [][]int, []int) error) (G.Value, error) {
	xs, idx, err := inputsOf[T](o, vals)
	if err != nil {
		return nil, err
	}
	y, _ := o.buf.([]int)
	if len(y) != o.out.TotalSize() {
		y = make([]int, o.out.TotalSize())
		o.buf = y
	}
	if err := call(xs, idx, y); err != nil {
		return nil, errors.Wrap(err, o.name)
	}
	return tensor.New(tensor.WithShape(o.out.Clone()...), tensor.WithBacking(y)), nil
}

// indexOp applies a non-differentiable op whose result is an index
// tensor (tensor.Int) of IR shape out.
func (b *builder) indexOp(name string, out []int, k indexKernel, children ...*G.Node) (*G.Node, error) {
	o := newOp(name, b.dt, children, gshape(out), nil, nil, nil)
	o.ik = k
	return apply(o, children...)
}

// floatsOf returns the contiguous data of a float tensor or scalar value.
func floatsOf[T float](v G.Value) ([]T, error) {
	switch t := v.(type) {
	case *tensor.Dense:
		if t.RequiresIterator() {
			t = t.Materialize().(*tensor.Dense)
		}
		switch d := t.Data().(type) {
		case []T:
			return d, nil
		case T:
			return []T{d}, nil
		}
		return nil, errors.Errorf("want %T data, got %v", []T(nil), t.Dtype())
	case *G.F32:
		return []T{T(*t)}, nil
	case *G.F64:
		return []T{T(*t)}, nil
	}
	return nil, errors.Errorf("unsupported value %T", v)
}

func intsOf(v G.Value) ([]int, error) {
	t, ok := v.(*tensor.Dense)
	if !ok {
		return nil, errors.Errorf("want an int tensor, got %T", v)
	}
	if t.RequiresIterator() {
		t = t.Materialize().(*tensor.Dense)
	}
	d, ok := t.Data().([]int)
	if !ok {
		return nil, errors.Errorf("want int data, got %v", t.Dtype())
	}
	return d, nil
}

func (o *op) ReturnsPtr() bool     { return false }
func (o *op) CallsExtern() bool    { return false }
func (o *op) OverwritesInput() int { return -1 }
func (o *op) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "mhcc.%s:%v", o.name, o.dt)
}
func (o *op) Hashcode() uint32 { h := fnv.New32a(); o.WriteHash(h); return h.Sum32() }
func (o *op) String() string   { return o.name }

func (o *op) DiffWRT(n int) []bool {
	w := make([]bool, n)
	copy(w, o.wrt)
	return w
}

func (o *op) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if o.grad == nil {
		return nil, errors.Errorf("%s is not differentiable", o.name)
	}
	gs, err := o.grad(o, inputs, output, grad)
	if err != nil {
		return nil, errors.Wrapf(err, "differentiating %s", o.name)
	}
	if len(gs) != len(inputs) {
		return nil, errors.Errorf("differentiating %s: %d gradients for %d inputs", o.name, len(gs), len(inputs))
	}
	return gs, nil
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
	o := newOp(name, b.dt, children, out, k, nil, nil)
	o.backward = true
	return apply(o, children...)
}

// passGrad returns g as the gradient of x when their Gorgonia shapes agree,
// else a copy of g with x's shape (Gorgonia sums gradients with stock Add,
// which needs equal shapes). Kernels ignore Gorgonia shapes, so a reshape
// of the IR never needs a node of its own.
func (b *builder) passGrad(g, x *G.Node) (*G.Node, error) {
	if slices.Equal(g.Shape(), x.Shape()) {
		return g, nil
	}
	n := g.Shape().TotalSize()
	return b.gradOp(fmt.Sprintf("regrad%v->%v", g.Shape(), x.Shape()), x.Shape(), copyK{p: kernels.NewPlan([]int{n}, [][]int{{1}, {1}}), scale: 1}, g)
}

// State that a backward needs from its forward (m, P, probabilities) lives
// in a side buffer (kernels.Side) shared by the two kernels: the backward op
// takes the forward's output node as an input, so it always runs after the
// forward of the same Run. Gradients beyond the first come out of the
// backward kernel through side buffers exposed by "part" nodes (see grads).

// grads describes the outputs of a backward kernel that computes the
// gradients of several inputs at once: gradient i goes to the kernel's own
// output if i == first, to side slot i (exposed by a part node) otherwise,
// and nowhere if !need[i].
type grads struct {
	need  []bool
	first int
	sizes []int
	kernels.Side
	// acc, when set, replaces the buffer of gradient accIdx (streams.go).
	acc    *bufRef
	accIdx int
}

// dst returns where gradient i goes (nil when it is not needed).
func gradDst[T float](g *grads, y []T, i int) []T {
	if !g.need[i] {
		return nil
	}
	if i == g.first {
		return y
	}
	if g.acc != nil && i == g.accIdx {
		return refBuf[T](g.acc, g.sizes[i])
	}
	return kernels.SideBuf[T](&g.Side, i, g.sizes[i])
}

// partK is the kernel of a part node: run (op.go) returns the side buffer
// the backward filled; the kernel itself does nothing.
type partK struct {
	g *grads
	i int
}

func (partK) f32([][]float32, [][]int, []float32) error { return nil }
func (partK) f64([][]float64, [][]int, []float64) error { return nil }

// multiGrad applies a backward kernel built by mk (given the output
// description) to children and returns one gradient node per input, nil
// where o.wrt is false.
func (b *builder) multiGrad(name string, o *op, inputs G.Nodes, mk func(*grads) kernel, children ...*G.Node) (G.Nodes, error) {
	res := make(G.Nodes, len(inputs))
	g := &grads{need: make([]bool, len(inputs)), first: -1, sizes: make([]int, len(inputs))}
	for i, in := range inputs {
		g.need[i] = o.wrt[i]
		g.sizes[i] = in.Shape().TotalSize()
		if g.need[i] && g.first < 0 {
			g.first = i
		}
	}
	if g.first < 0 {
		return res, nil
	}
	if o.acc != nil && g.need[o.accIdx] {
		g.acc, g.accIdx = o.acc, o.accIdx
	}
	main, err := b.gradOp(name, inputs[g.first].Shape(), mk(g), children...)
	if err != nil {
		return nil, err
	}
	if g.acc != nil && g.accIdx == g.first {
		main.Op().(*op).dst = g.acc
	}
	res[g.first] = main
	for i := g.first + 1; i < len(inputs); i++ {
		if !g.need[i] {
			continue
		}
		if res[i], err = b.gradOp(fmt.Sprintf("%s_part%d", name, i), inputs[i].Shape(), partK{g, i}, main); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// fusedName names a stateful fused op uniquely (Gorgonia merges nodes whose
// op hashes and children are equal; ops with side buffers must never be
// merged with another op's).
func (b *builder) fusedName(op string, shape []int) string {
	b.nfused++
	return fmt.Sprintf("%s%v#%d", op, shape, b.nfused)
}
