package gorgonia

import (
	"fmt"
	"math"
	"runtime/debug"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
	"github.com/mhcc/mhcc/ir"
)

// The mapping from IR ops to Gorgonia (one case per op in lowerValue).
// Every op is a custom op (op.go) whose kernels work on the flat row-major
// data with the IR's shapes, so a node's Gorgonia shape only matters for its
// size. That makes reshape free (it reuses its argument's node: no
// G.Reshape, no aliasing) and keeps all broadcasting, including rank 5, in
// one kernel. The only stock Gorgonia code that runs is G.Grad's own
// gradient accumulation (stock Add of same-shaped gradients).
//
//	param, input          input nodes over buffers the Graph owns (i32 → tensor.Int)
//	const                 folded: x∘c is one scalar op with c baked in; const∘const is evaluated
//	neg exp log sqrt square sigmoid tanh relu
//	                      custom unary op, fused backward (from x or from y)
//	add sub mul div       custom broadcasting op (any rank, same shapes included);
//	                      backward sums over the broadcast axes
//	sum mean max          custom keep-dims reductions (max: gradient to the first maximum)
//	reshape               no node: the IR shape changes, the data does not
//	transpose slice       custom strided copies (backward: inverse permutation / zero padding)
//	broadcast             custom strided copy, backward = sum over the repeated axes
//	matmul                custom op calling GEMMs (kernels/gemm.go) on the flat data:
//	                      shared [K,N] weight = one GEMM over all rows, batched = one
//	                      GEMM per matrix (batches split over CPUs); trans_b by flags
//	softmax log_softmax   custom, last axis
//	gather pick           custom (never ByIndices)
//	causal_mask rope      custom
//	rmsnorm sinkhorn hc.coeffs hc.read hc.write attention cross_entropy
//	matmul.concat         fused ops: one custom op each with one hand-written
//	                      backward kernel for all inputs (fused.go); a slice
//	                      that is one member's columns of a matmul.concat
//	                      differentiates straight to x and the member's weight
//
// Integer (i32) values derived from inputs by reshape/transpose/slice/
// broadcast are computed in Go at the start of every Run.

// entry is the lowered form of one IR value.
type entry struct {
	node    *G.Node
	shape   []int // resolved IR shape ([] for scalars)
	isConst bool  // every element equals c; node is created lazily
	c       float64
	ints    []int // backing buffer of an i32 value
}

type builder struct {
	g       *G.ExprGraph
	dt      tensor.Dtype
	opts    Options
	base    *Graph
	out     *Graph
	vals    map[*ir.Value]*entry
	dep     map[*G.Node]bool // node depends on a param (only when gradients are built)
	nconst  int
	nfused  int // stateful fused ops built so far (unique op names)
	current int
	mod     *ir.Module
	live    map[*ir.Value]bool
	mmcOK   map[*ir.Value]bool // matmul.concat values whose slices take mmcSlice (fused.go)
	streams *streamPlan        // nil without gradients (streams.go)
}

func build(m *ir.Module, opts Options, base *Graph) (gr *Graph, err error) {
	if m == nil {
		return nil, fmt.Errorf("gorgonia: nil module")
	}
	b := &builder{
		g:    G.NewGraph(),
		dt:   opts.DType.tensor(),
		opts: opts,
		base: base,
		vals: map[*ir.Value]*entry{},
		dep:  map[*G.Node]bool{},
		out: &Graph{
			dt:     opts.DType,
			grad:   opts.Grad,
			byName: map[string]*Param{},
			inputs: map[string]*input{},
		},
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gorgonia: Build panicked at IR value %%%d: %v\n%s", b.current, r, debug.Stack())
		}
	}()
	lv := m.Output(LossName)
	if lv == nil {
		return nil, fmt.Errorf("gorgonia: module has no %q output", LossName)
	}
	live := reaching(lv)
	liveOutputs(m, live) // outputs.go
	b.mod, b.live = m, live
	if opts.Grad {
		b.streams = planStreams(m, live)
	}
	for i, v := range m.Values {
		b.current = i
		if !live[v] && v.Op != ir.OpParam && v.Op != ir.OpInput {
			// dead code is not computed, but must still be valid IR
			if _, ok := ir.LookupOp(v.Op); !ok {
				return nil, fmt.Errorf("gorgonia: %s:%s: IR value %%%d (%s): unsupported op %q", m.Source, v.Pos, i, v.Op, v.Op)
			}
			continue
		}
		if err := b.lowerValue(v); err != nil {
			return nil, fmt.Errorf("gorgonia: %s:%s: IR value %%%d (%s): %w", m.Source, v.Pos, i, v.Op, err)
		}
	}
	le, ok := b.vals[lv]
	if !ok {
		return nil, fmt.Errorf("gorgonia: output %q is not a value of the module", LossName)
	}
	if lv.Type.DType != ir.F32 || prod(le.shape) != 1 {
		return nil, fmt.Errorf("gorgonia: output %q must be a 1-element f32 tensor, got %s", LossName, lv.Type)
	}
	ln, err := b.node(le)
	if err != nil {
		return nil, fmt.Errorf("gorgonia: output %q: %w", LossName, err)
	}
	if b.out.loss, err = b.toScalar(ln, le.shape); err != nil {
		return nil, fmt.Errorf("gorgonia: output %q: %w", LossName, err)
	}
	if err := b.collectOutputs(m); err != nil { // outputs.go
		return nil, err
	}
	gr = b.out
	gr.g = b.g
	if p := b.streams; p != nil {
		gr.streams = StreamStats{Chains: p.chains, Accumulated: p.accumulated, Recomputed: p.members}
		if p.members > 0 {
			gr.streams.Segment = m.RecomputeSegment
		}
	}
	if opts.Grad {
		var wrt G.Nodes
		var ps []*Param
		for _, p := range gr.params {
			pv := paramValue(m, p.Name)
			if pn := b.vals[pv].node; live[pv] {
				wrt = append(wrt, pn)
				ps = append(ps, p)
			}
		}
		if len(wrt) > 0 {
			grads, err := G.Grad(gr.loss, wrt...)
			if err != nil {
				return nil, fmt.Errorf("gorgonia: building the backward pass: %w", err)
			}
			for i, p := range ps {
				p.gradNode = grads[i]
			}
		}
	}
	gr.vm = G.NewTapeMachine(b.g)
	return gr, nil
}

func paramValue(m *ir.Module, name string) *ir.Value {
	for _, v := range m.Values {
		if v.Op == ir.OpParam && v.Param() == name {
			return v
		}
	}
	return nil
}

// reaching returns the values the output depends on.
func reaching(out *ir.Value) map[*ir.Value]bool {
	seen := map[*ir.Value]bool{}
	stack := []*ir.Value{out}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[v] {
			continue
		}
		seen[v] = true
		stack = append(stack, v.Args...)
	}
	return seen
}

// node returns the Gorgonia node of e, materialising constants.
func (b *builder) node(e *entry) (*G.Node, error) {
	if e.node != nil {
		return e.node, nil
	}
	if !e.isConst {
		return nil, fmt.Errorf("value has no node")
	}
	s := gshape(e.shape)
	t := tensor.New(tensor.Of(b.dt), tensor.WithShape(s...))
	switch d := t.Data().(type) {
	case []float32:
		for i := range d {
			d[i] = float32(e.c)
		}
	case []float64:
		for i := range d {
			d[i] = e.c
		}
	}
	b.nconst++
	e.node = G.NewTensor(b.g, b.dt, len(s), G.WithShape(s...), G.WithName(fmt.Sprintf("const%d", b.nconst)), G.WithValue(t))
	return e.node, nil
}

func (b *builder) lowerValue(v *ir.Value) error {
	shape, err := v.Type.Shape.Resolve(b.opts.Binds)
	if err != nil {
		return err
	}
	for _, d := range shape {
		if d <= 0 {
			return fmt.Errorf("non-positive dimension in %v (binds %v)", shape, b.opts.Binds)
		}
	}
	args := make([]*entry, len(v.Args))
	for i, a := range v.Args {
		e, ok := b.vals[a]
		if !ok {
			return fmt.Errorf("argument %d is not defined before use", i)
		}
		args[i] = e
	}
	if info, ok := ir.LookupOp(v.Op); ok {
		if err := info.CheckArity(len(args)); err != nil {
			return err
		}
	}
	if v.Type.DType == ir.I32 && v.Op != ir.OpInput {
		e, err := b.lowerInt(v, shape, args)
		if err != nil {
			return err
		}
		b.vals[v] = e
		return nil
	}
	for i, a := range v.Args {
		if a.Type.DType == ir.I32 && !(i == 1 && (v.Op == ir.OpGather || v.Op == ir.OpPick || v.Op == ir.OpCrossEntropy)) {
			return fmt.Errorf("argument %d of %s must be f32, got %s", i, v.Op, a.Type)
		}
	}
	e := &entry{shape: shape}
	switch v.Op {
	case ir.OpParam:
		err = b.param(v, e)
	case ir.OpInput:
		err = b.input(v, e)
	case ir.OpPermutations:
		err = b.permutations(v, e) // perm.go
	case ir.OpConst:
		val, ok := v.Attrs.Get("value").(float64)
		if !ok {
			return fmt.Errorf("const needs a float64 value attribute")
		}
		e.isConst, e.c = true, val
	case ir.OpNeg, ir.OpExp, ir.OpLog, ir.OpSqrt, ir.OpSquare, ir.OpSigmoid, ir.OpTanh, ir.OpRelu:
		err = b.unary(v.Op, args[0], e)
	case ir.OpAdd, ir.OpSub, ir.OpMul, ir.OpDiv:
		err = b.binary(v.Op, args[0], args[1], e)
	case ir.OpSum, ir.OpMean, ir.OpMax:
		kind := map[string]int{ir.OpSum: kernels.ReduceSum, ir.OpMean: kernels.ReduceMean, ir.OpMax: kernels.ReduceMax}[v.Op]
		err = b.reduction(kind, args[0], e)
	case ir.OpReshape:
		if prod(args[0].shape) != prod(shape) {
			return fmt.Errorf("reshape: cannot reshape %v to %v", args[0].shape, shape)
		}
		err = b.structural(args[0], e, true, nil)
	case ir.OpTranspose:
		perm := v.Attrs.Ints("perm")
		if err := checkPerm(perm, len(args[0].shape)); err != nil {
			return err
		}
		err = b.structural(args[0], e, isIdentityPerm(perm), func(x *G.Node) (*G.Node, error) { return b.transpose(x, args[0].shape, perm) })
	case ir.OpSlice:
		ax, start, end := v.Attrs.Int("axis"), v.Attrs.Int("start"), v.Attrs.Int("end")
		if err := checkSlice(args[0].shape, ax, start, end); err != nil {
			return err
		}
		if e.node, err = b.mmcSlice(v, args[0].shape, ax, start, end); e.node == nil && err == nil { // fused.go
			err = b.structural(args[0], e, start == 0 && end == args[0].shape[ax], func(x *G.Node) (*G.Node, error) { return b.slice(x, args[0].shape, ax, start, end) })
		}
	case ir.OpBroadcast:
		err = b.structural(args[0], e, sameShape(args[0].shape, shape), func(x *G.Node) (*G.Node, error) { return b.broadcast(x, args[0].shape, shape) })
	case ir.OpMatmul:
		err = b.lowerMatmul(args[0], args[1], v.Attrs.Bool("trans_b"), e)
	case ir.OpSoftmax, ir.OpLogSoftmax:
		err = b.withNode(args[0], e, func(x *G.Node) (*G.Node, error) { return b.softmax(x, shape, v.Op == ir.OpLogSoftmax) })
	case ir.OpGather:
		if len(args[0].shape) != 2 {
			return fmt.Errorf("gather: table must be 2-D, got %v", args[0].shape)
		}
		err = b.withNode(args[0], e, func(x *G.Node) (*G.Node, error) { return b.gather(x, args[1].node, args[0].shape, args[1].shape) })
	case ir.OpPick:
		err = b.withNode(args[0], e, func(x *G.Node) (*G.Node, error) { return b.pick(x, args[1].node, args[0].shape) })
	case ir.OpCausalMask:
		if r := len(shape); r < 2 || shape[r-1] != shape[r-2] {
			return fmt.Errorf("causal_mask: want [..., T, T], got %v", shape)
		}
		err = b.withNode(args[0], e, func(x *G.Node) (*G.Node, error) { return b.causalMask(x, shape) })
	case ir.OpRope:
		if r := len(shape); r < 2 || shape[r-1]%2 != 0 {
			return fmt.Errorf("rope: want [..., T, D] with even D, got %v", shape)
		}
		err = b.withNode(args[0], e, func(x *G.Node) (*G.Node, error) { return b.rope(x, shape, v.Attrs.Float("base")) })
	case ir.OpRMSNorm, ir.OpSinkhorn, ir.OpHCCoeffs, ir.OpHCRead, ir.OpHCWrite, ir.OpAttention, ir.OpCrossEntropy, ir.OpMatmulConcat, ir.OpGELU:
		err = b.lowerFused(v, args, e) // fused.go
	default:
		return fmt.Errorf("unsupported op %q", v.Op)
	}
	if err != nil {
		return err
	}
	if e.node != nil && !e.isConst {
		if got := e.node.Shape(); got.TotalSize() != prod(shape) {
			return fmt.Errorf("internal: lowered shape %v, IR type says %v", got, shape)
		}
	}
	b.vals[v] = e
	return nil
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

// withNode lowers an op with one float operand into e.
func (b *builder) withNode(a *entry, e *entry, f func(*G.Node) (*G.Node, error)) error {
	x, err := b.node(a)
	if err != nil {
		return err
	}
	n, err := f(x)
	if err != nil {
		return err
	}
	e.node = n
	return nil
}

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

func isIdentityPerm(perm []int) bool {
	for i, p := range perm {
		if i != p {
			return false
		}
	}
	return true
}

func (b *builder) param(v *ir.Value, e *entry) error {
	name := v.Param()
	if name == "" {
		return fmt.Errorf("param without a name")
	}
	if _, dup := b.out.byName[name]; dup {
		return fmt.Errorf("duplicate param %q", name)
	}
	if v.Type.DType != ir.F32 {
		return fmt.Errorf("param %q must be f32, got %s", name, v.Type)
	}
	init := v.Attrs.Init("init")
	if err := checkInit(init, e.shape); err != nil {
		return fmt.Errorf("param %q: %w", name, err)
	}
	p := &Param{Name: name, Shape: append([]int(nil), e.shape...), Init: init, Decay: v.Attrs.Bool("decay")}
	s := gshape(e.shape)
	if b.base != nil {
		bp := b.base.byName[name]
		if bp == nil {
			return fmt.Errorf("param %q does not exist in the base graph", name)
		}
		if !sameShape(bp.Shape, p.Shape) {
			return fmt.Errorf("param %q has shape %v, base graph has %v", name, p.Shape, bp.Shape)
		}
		p.t, p.f32, p.f64 = bp.t, bp.f32, bp.f64
	} else {
		p.t = tensor.New(tensor.Of(b.dt), tensor.WithShape(s...))
		switch d := p.t.Data().(type) {
		case []float32:
			p.f32 = d
		case []float64:
			p.f64 = d
		}
	}
	if b.opts.Grad {
		if p.f32 != nil {
			p.g32 = make([]float32, len(p.f32))
		} else {
			p.g64 = make([]float64, len(p.f64))
		}
	}
	e.node = G.NewTensor(b.g, b.dt, len(s), G.WithShape(s...), G.WithName(name), G.WithValue(p.t))
	if b.opts.Grad {
		b.dep[e.node] = true
	}
	b.out.params = append(b.out.params, p)
	b.out.byName[name] = p
	return nil
}

func (b *builder) input(v *ir.Value, e *entry) error {
	name := v.Attrs.String("name")
	if name == "" {
		return fmt.Errorf("input without a name")
	}
	if _, dup := b.out.inputs[name]; dup {
		return fmt.Errorf("duplicate input %q", name)
	}
	in := &input{name: name, shape: e.shape}
	s := gshape(e.shape)
	var t *tensor.Dense
	switch v.Type.DType {
	case ir.I32:
		in.ints = make([]int, prod(e.shape))
		e.ints = in.ints
		t = tensor.New(tensor.WithShape(s...), tensor.WithBacking(in.ints))
		e.node = G.NewTensor(b.g, tensor.Int, len(s), G.WithShape(s...), G.WithName(name), G.WithValue(t))
	case ir.F32:
		t = tensor.New(tensor.Of(b.dt), tensor.WithShape(s...))
		switch d := t.Data().(type) {
		case []float32:
			in.f32 = d
		case []float64:
			in.f64 = d
		}
		e.node = G.NewTensor(b.g, b.dt, len(s), G.WithShape(s...), G.WithName(name), G.WithValue(t))
	default:
		return fmt.Errorf("input %q has unsupported dtype %s", name, v.Type.DType)
	}
	b.out.inputs[name] = in
	return nil
}

// lowerInt handles i32 values derived from inputs: they are computed in Go
// before each run into a buffer bound to a fresh input node.
func (b *builder) lowerInt(v *ir.Value, shape []int, args []*entry) (*entry, error) {
	if len(args) != 1 || args[0].ints == nil {
		return nil, fmt.Errorf("unsupported i32 op %q (only reshape, transpose, slice and broadcast of i32 inputs)", v.Op)
	}
	src := args[0].ints
	in := args[0].shape
	if v.Op == ir.OpReshape { // free, as for floats
		if prod(in) != prod(shape) {
			return nil, fmt.Errorf("reshape: cannot reshape %v to %v", in, shape)
		}
		return &entry{node: args[0].node, shape: shape, ints: src}, nil
	}
	dst := make([]int, prod(shape))
	var p *kernels.Plan
	srcOff := 0
	switch v.Op {
	case ir.OpTranspose:
		perm := v.Attrs.Ints("perm")
		if err := checkPerm(perm, len(in)); err != nil {
			return nil, err
		}
		p, _ = kernels.TransposePlan(in, perm)
	case ir.OpSlice:
		ax, start, end := v.Attrs.Int("axis"), v.Attrs.Int("start"), v.Attrs.Int("end")
		if err := checkSlice(in, ax, start, end); err != nil {
			return nil, err
		}
		cs := kernels.Contiguous(in)
		srcOff = start * cs[ax]
		p = kernels.NewPlan(shape, [][]int{kernels.Contiguous(shape), cs})
	case ir.OpBroadcast:
		var err error
		if p, err = kernels.BcastPlan(shape, shape, in); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unsupported i32 op %q (only reshape, transpose, slice and broadcast of i32 inputs)", v.Op)
	}
	b.out.derived = append(b.out.derived, func() { kernels.StridedCopy(p, src[srcOff:], dst) })
	s := gshape(shape)
	t := tensor.New(tensor.WithShape(s...), tensor.WithBacking(dst))
	b.nconst++
	n := G.NewTensor(b.g, tensor.Int, len(s), G.WithShape(s...), G.WithName(fmt.Sprintf("i32_%d", b.nconst)), G.WithValue(t))
	return &entry{node: n, shape: shape, ints: dst}, nil
}

func foldUnary(op string, x float64) float64 {
	switch op {
	case ir.OpNeg:
		return -x
	case ir.OpExp:
		return math.Exp(x)
	case ir.OpLog:
		return math.Log(x)
	case ir.OpSqrt:
		return math.Sqrt(x)
	case ir.OpSquare:
		return x * x
	case ir.OpSigmoid:
		return 1 / (1 + math.Exp(-x))
	case ir.OpTanh:
		return math.Tanh(x)
	case ir.OpRelu:
		return math.Max(x, 0)
	}
	panic("foldUnary: " + op)
}

var unaryKinds = map[string]int{
	ir.OpNeg: kernels.UnaryNeg, ir.OpExp: kernels.UnaryExp, ir.OpLog: kernels.UnaryLog, ir.OpSqrt: kernels.UnarySqrt,
	ir.OpSquare: kernels.UnarySquare, ir.OpSigmoid: kernels.UnarySigmoid, ir.OpTanh: kernels.UnaryTanh, ir.OpRelu: kernels.UnaryRelu,
}

func (b *builder) unary(opName string, a, e *entry) error {
	if a.isConst {
		e.isConst, e.c = true, foldUnary(opName, a.c)
		return nil
	}
	var err error
	e.node, err = b.unaryOp(unaryKinds[opName], a.node, e.shape)
	return err
}

var binKinds = map[string]int{ir.OpAdd: kernels.BinAdd, ir.OpSub: kernels.BinSub, ir.OpMul: kernels.BinMul, ir.OpDiv: kernels.BinDiv}

func foldBinary(kind int, x, y float64) float64 {
	switch kind {
	case kernels.BinAdd:
		return x + y
	case kernels.BinSub:
		return x - y
	case kernels.BinMul:
		return x * y
	}
	return x / y
}

func (b *builder) binary(opName string, x, y, e *entry) error {
	kind := binKinds[opName]
	out := e.shape
	switch {
	case x.isConst && y.isConst:
		e.isConst, e.c = true, foldBinary(kind, x.c, y.c)
		return nil
	case y.isConst && sameShape(x.shape, out):
		n, err := b.scalarOp(kind, y.c, x.node, out)
		e.node = n
		return err
	case x.isConst && sameShape(y.shape, out):
		rk := map[int]int{kernels.BinAdd: kernels.BinAdd, kernels.BinMul: kernels.BinMul, kernels.BinSub: kernels.BinRSub, kernels.BinDiv: kernels.BinRDiv}[kind]
		n, err := b.scalarOp(rk, x.c, y.node, out)
		e.node = n
		return err
	}
	xn, err := b.node(x)
	if err != nil {
		return err
	}
	yn, err := b.node(y)
	if err != nil {
		return err
	}
	e.node, err = b.broadcastBinary(kind, xn, yn, x.shape, y.shape, out)
	return err
}

func (b *builder) reduction(kind int, a, e *entry) error {
	if sameShape(a.shape, e.shape) {
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

// lowerMatmul lowers x·w (shared or batched weight).
func (b *builder) lowerMatmul(xe, we *entry, transB bool, e *entry) error {
	x, err := b.node(xe)
	if err != nil {
		return err
	}
	w, err := b.node(we)
	if err != nil {
		return err
	}
	xs, ws := xe.shape, we.shape
	if len(xs) < 2 || len(ws) < 2 || (len(ws) != 2 && (len(ws) != len(xs) || !sameShape(xs[:len(xs)-2], ws[:len(ws)-2]))) {
		return fmt.Errorf("matmul: bad operand shapes %v and %v", xs, ws)
	}
	k := ws[len(ws)-2]
	if transB {
		k = ws[len(ws)-1]
	}
	if k != xs[len(xs)-1] {
		return fmt.Errorf("matmul: inner dimensions of %v and %v differ (trans_b=%v)", xs, ws, transB)
	}
	e.node, err = b.matmul(x, w, xs, ws, transB)
	return err
}
