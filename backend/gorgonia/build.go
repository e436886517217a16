package gorgonia

import (
	"fmt"
	"runtime/debug"
	"slices"

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
//	moe.topk              custom op with an index (tensor.Int) result, no gradient
//	moe.load              custom op from indices, no gradient
//	rmsnorm sinkhorn hc.coeffs hc.read hc.write attention cross_entropy
//	matmul.concat moe.experts
//	                      fused ops: one custom op each with one hand-written
//	                      backward kernel for all inputs (below); a slice
//	                      that is one member's columns of a matmul.concat
//	                      differentiates straight to x and the member's weight
//
// Integer (i32) values derived from inputs by reshape/transpose/slice/
// broadcast are computed in Go at the start of every Run; an i32 value
// computed from floats (moe.topk) is an index op's node.
//
// The fused ops (created by the -O2 fusion passes; built in norm.go, hc.go,
// attention.go, matmul.go and moe.go). Each is one custom op whose forward kernel
// does the whole computation and whose backward is one hand-written kernel
// computing the gradients of all its inputs at once (package kernels, one
// file per op; float32 runs its AVX2 code where the build and the CPU
// allow):
//
//	rmsnorm        x [..., C], g [C]; backward recomputes 1/r per row
//	sinkhorn       L [..., n, n]; backward recomputes the 2t+1 iterates per
//	               matrix (the paper's approach) and backpropagates through
//	               every half-step
//	hc.coeffs      one product x·phi, RMS divide, α, bias, σ / 2σ epilogue;
//	               keeps m = x·phi/r and 1/r ([N, n²+2n] + [N]) for the
//	               backward (two products: dphi = xᵀ·dz, dx = dz·phiᵀ + RMS
//	               term). The products are thin (n²+2n = 24 columns at n=4):
//	               x·phi and dz·phiᵀ run the packed GEMM (2–3× faster there
//	               than the register-blocked thin kernel), dphi vHCDphi
//	hc.read        one pass over the streams, forward and backward
//	hc.write       one pass over the streams: reads X and y once per token
//	attention      per (batch, head): S = q·kᵀ (GEMM), masked softmax, P·v
//	               (GEMM). The forward keeps P ([..., T, T] floats, which the
//	               unfused graph keeps too) and nothing else; the backward
//	               reads P instead of recomputing it: dv = Pᵀ·G, dP = G·vᵀ,
//	               dS = P⊙(dP − rowsum(P⊙dP))·scale, dq = dS·k, dk = dSᵀ·q.
//	               Causal with T ≥ 64: every GEMM skips the masked blocks
//	               (row blocks of 32; ~60% of the work at T = 128)
//	cross_entropy  log-softmax + pick + mean; keeps the probabilities
//	moe.experts    the token slots sorted by expert (counting sort), each
//	               expert's tokens gathered into one block, one GEMM per
//	               expert and weight (experts spread over the CPUs); keeps
//	               the gathered tokens, both hidden layers, the activation
//	               and each row's ungated output for the backward
//	matmul.concat  x·[w₁|w₂|…] as one GEMM against the packed weights;
//	               backward: one GEMM for dx, one for d[w₁|w₂|…], split
//	gelu           one elementwise pass (float32: AVX2 blocks, else the
//	               fast tanh of kernels/fastmath.go); keeps tanh u for the backward

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
	mmcOK   map[*ir.Value]bool // matmul.concat values whose slices take mmcSlice (matmul.go)
	streams *streamPlan        // nil without gradients (streams.go)
	// dry builds the graph without allocating any tensor, to plan its
	// buffers (EstimateMemory): leaves get no values, nothing runs.
	dry bool
	// scratch is the scratch space of every backward kernel: the
	// TapeMachine runs one op at a time, so they can share it.
	scratch *kernels.Side
}

func build(m *ir.Module, opts Options, base *Graph) (gr *Graph, err error) {
	return buildGraph(m, opts, base, false)
}

// buildGraph is build; dry builds without allocating (builder.dry), for
// the buffer plan alone.
func buildGraph(m *ir.Module, opts Options, base *Graph, dry bool) (gr *Graph, err error) {
	if m == nil {
		return nil, fmt.Errorf("gorgonia: nil module")
	}
	b := &builder{
		dry:     dry,
		scratch: &kernels.Side{},
		g:       G.NewGraph(),
		dt:      opts.DType.tensor(),
		opts:    opts,
		base:    base,
		vals:    map[*ir.Value]*entry{},
		dep:     map[*G.Node]bool{},
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
	if lv == nil && (opts.Grad || len(m.Outputs) == 0) {
		return nil, fmt.Errorf("gorgonia: module has no %q output", LossName)
	}
	live := map[*ir.Value]bool{}
	if lv != nil {
		live = reaching(lv)
	}
	liveOutputs(m, live) // outputs.go
	if opts.Grad {
		for i, v := range m.Values {
			if def, ok := ir.LookupOp(v.Op); ok && def.ForwardOnly && live[v] {
				return nil, fmt.Errorf("gorgonia: %s:%s: IR value %%%d (%s): the op has no derivative; a module using it runs forward only (Options.Grad false)",
					m.Source, v.Pos, i, v.Op)
			}
		}
	}
	b.mod, b.live = m, live
	if opts.Grad {
		b.streams = planStreams(m, live)
	}
	for i, v := range m.Values {
		b.current = i
		if !live[v] && v.Op != ir.OpParam && v.Op != ir.OpInput {
			// dead code is not computed, but must still be valid IR
			if _, ok := ir.LookupOp(v.Op); !ok {
				return nil, fmt.Errorf("gorgonia: %s:%s: IR value %%%d (%s): unknown op %q", m.Source, v.Pos, i, v.Op, v.Op)
			}
			continue
		}
		if err := b.lowerValue(v); err != nil {
			return nil, fmt.Errorf("gorgonia: %s:%s: IR value %%%d (%s): %w", m.Source, v.Pos, i, v.Op, err)
		}
	}
	if lv != nil {
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
		diff := differentiable(lv)
		for _, p := range gr.params {
			pv := paramValue(m, p.Name)
			if pn := b.vals[pv].node; diff[pv] && p.Trainable {
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
	if err := planBuffers(gr, b.dry); err != nil { // pool.go
		return nil, err
	}
	if !b.dry {
		gr.vm = G.NewTapeMachine(b.g)
	}
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
	return walkArgs(out, func(*ir.Value) bool { return true })
}

// differentiable returns the values the loss depends on through a
// differentiable path: the operands of an index (i32) value, such as the
// scores of moe.topk, get no gradient from it. A parameter only those
// reach (a router's selection bias) gets none at all (its gradient stays
// 0): G.Grad refuses to differentiate with respect to it.
func differentiable(out *ir.Value) map[*ir.Value]bool {
	return walkArgs(out, isFloat)
}

// walkArgs returns out and the values reached from it through the
// operands of the values for which follow holds.
func walkArgs(out *ir.Value, follow func(*ir.Value) bool) map[*ir.Value]bool {
	seen := map[*ir.Value]bool{}
	stack := []*ir.Value{out}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[v] {
			continue
		}
		seen[v] = true
		if follow(v) {
			stack = append(stack, v.Args...)
		}
	}
	return seen
}

func isFloat(v *ir.Value) bool { return v.Type.DType == ir.F32 }

// node returns the Gorgonia node of e, materialising constants.
func (b *builder) node(e *entry) (*G.Node, error) {
	if e.node != nil {
		return e.node, nil
	}
	if !e.isConst {
		return nil, fmt.Errorf("value has no node")
	}
	s := gshape(e.shape)
	b.nconst++
	e.node = b.leaf(b.dt, s, fmt.Sprintf("const%d", b.nconst), func() *tensor.Dense {
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
		return t
	})
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
	def, ok := ir.LookupOp(v.Op)
	if !ok {
		return fmt.Errorf("unknown op %q", v.Op)
	}
	if err := def.CheckArity(len(args)); err != nil {
		return err
	}
	if v.Type.DType == ir.I32 && v.Op != ir.OpInput && !slices.ContainsFunc(v.Args, isFloat) {
		e, err := b.lowerInt(v, shape, args)
		if err != nil {
			return err
		}
		b.vals[v] = e
		return nil
	}
	for i, a := range v.Args {
		if a.Type.DType == ir.I32 && def.Arg(i).Kind != ir.ArgI32 {
			return fmt.Errorf("argument %d of %s must be f32, got %s", i, v.Op, a.Type)
		}
	}
	e := &entry{shape: shape}
	f, ok := impls.Lookup(v.Op)
	if !ok {
		return fmt.Errorf("the gorgonia backend does not implement op %q", v.Op)
	}
	err = f(b, v, args, e)
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
	p := &Param{Name: name, Shape: append([]int(nil), e.shape...), Init: init, Decay: v.Attrs.Bool("decay"), Trainable: ir.ParamTrainable(v)}
	s := gshape(e.shape)
	if b.base != nil {
		bp := b.base.byName[name]
		if bp == nil {
			return fmt.Errorf("param %q does not exist in the base graph", name)
		}
		if !slices.Equal(bp.Shape, p.Shape) {
			return fmt.Errorf("param %q has shape %v, base graph has %v", name, p.Shape, bp.Shape)
		}
		p.t, p.f32, p.f64 = bp.t, bp.f32, bp.f64
	} else if !b.dry {
		p.t = tensor.New(tensor.Of(b.dt), tensor.WithShape(s...))
		switch d := p.t.Data().(type) {
		case []float32:
			p.f32 = d
		case []float64:
			p.f64 = d
		}
	}
	if b.opts.Grad && !b.dry {
		if p.f32 != nil {
			p.g32 = make([]float32, len(p.f32))
		} else {
			p.g64 = make([]float64, len(p.f64))
		}
	}
	e.node = b.leaf(b.dt, s, name, func() *tensor.Dense { return p.t })
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
	switch v.Type.DType {
	case ir.I32:
		in.ints = b.ints(prod(e.shape))
		e.ints = in.ints
		e.node = b.leaf(tensor.Int, s, name, func() *tensor.Dense { return tensor.New(tensor.WithShape(s...), tensor.WithBacking(in.ints)) })
	case ir.F32:
		e.node = b.leaf(b.dt, s, name, func() *tensor.Dense {
			t := tensor.New(tensor.Of(b.dt), tensor.WithShape(s...))
			switch d := t.Data().(type) {
			case []float32:
				in.f32 = d
			case []float64:
				in.f64 = d
			}
			return t
		})
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
	dst := b.ints(prod(shape))
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
	b.nconst++
	n := b.leaf(tensor.Int, s, fmt.Sprintf("i32_%d", b.nconst), func() *tensor.Dense { return tensor.New(tensor.WithShape(s...), tensor.WithBacking(dst)) })
	return &entry{node: n, shape: shape, ints: dst}, nil
}

// leaf creates an input node of shape s over the tensor mk makes, or,
// when the builder is dry, without a value (mk is not called).
func (b *builder) leaf(dt tensor.Dtype, s tensor.Shape, name string, mk func() *tensor.Dense) *G.Node {
	if b.dry {
		return G.NewTensor(b.g, dt, len(s), G.WithShape(s...), G.WithName(name))
	}
	return G.NewTensor(b.g, dt, len(s), G.WithShape(s...), G.WithName(name), G.WithValue(mk()))
}

// ints allocates an i32 buffer of n values (an empty one when dry).
func (b *builder) ints(n int) []int {
	if b.dry {
		return []int{}
	}
	return make([]int, n)
}

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

// lastDim is the last dimension of a resolved shape (1 for a scalar).
func lastDim(s []int) int {
	if len(s) == 0 {
		return 1
	}
	return s[len(s)-1]
}
