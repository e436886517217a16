package gorgonia

import (
	"fmt"
	"runtime"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
	"github.com/mhcc/mhcc/ir"
)

// The memory a graph will take, estimated from the module alone: nothing
// is built or allocated, so the runtime can refuse a run that cannot fit
// before it asks for the memory (backend/runtime/memcheck). The estimate
// walks the lowered IR's values with their shapes resolved under the
// binds and follows what Build and Run allocate for each:
//
//   - a parameter: its tensor (unless the graph shares its base's) and,
//     with gradients, its gradient (written in place by the backward, or,
//     when G.Grad sums it with a stock Add, that sum and the copy Run
//     returns);
//   - an input: its buffer (i32 token ids are Go ints, 8 bytes), and the
//     i32 values derived from it;
//   - the outputs of the forward ops and the gradients of the backward
//     ones: the slabs of the buffer plan (pool.go), which a dry build of
//     the graph computes without allocating anything;
//   - what an op keeps besides its output and its scratch: the rule its
//     family file registers with keeps (attention's probabilities,
//     cross-entropy's, the activations' kept values, rope's tables, …);
//   - the float32 GEMM's packed op(B) buffers, which its pool keeps for
//     reuse: one per product running at once, from the rules the family
//     files register with packs.
//
// The stream tensors of hyper-connections follow the stream plan
// (streams.go), computed by the same planStreams: the gradients of an
// accumulated chain share two buffers, and with recompute=true the
// recomputed tensors live in the chain's S−1 shared buffers.
// backend/runtime/memcheck's tests hold the estimate against the measured
// heap of built and run graphs.

// Memory is the estimate of what Build and the first Run of a graph
// allocate, in bytes by kind (float64, because the shapes of a legal
// program can overflow int64: a context of 2²⁰ has 2⁴⁰ attention scores
// per head).
type Memory struct {
	// Params is the parameter tensors (0 for a graph that shares them).
	Params float64
	// ParamGrads is the parameters' gradients: one buffer each, two for
	// those G.Grad sums (0 without gradients).
	ParamGrads float64
	// Inputs is the input buffers and the i32 values derived from them.
	Inputs float64
	// Planned is the slabs the buffer plan (pool.go) shares among the
	// forward ops' outputs and the backward ops' gradients.
	Planned float64
	// Values is the output buffers of the forward pass outside the plan:
	// the recomputed stream tensors' shared buffers.
	Values float64
	// State is what ops keep besides their outputs, and the backward
	// kernels' shared scratch.
	State float64
	// Graph is the graph itself: NodeBytes per node.
	Graph float64
	// Backward is the gradient buffers outside the plan: the stream
	// tensors' accumulated gradients (0 without gradients).
	Backward float64
	// Packed is the GEMM's packed op(B) buffers (kernels.GemmPackElems):
	// the largest product's, and one per further CPU for the products
	// that run side by side.
	Packed float64
	// Largest is the value with the largest single buffer, LargestBytes
	// its size, and LargestKept reports that the buffer is what the op
	// keeps (attention's probabilities) rather than its output (for
	// messages: which tensor is too big).
	Largest      *ir.Value
	LargestBytes float64
	LargestKept  bool
}

// note records a buffer of v as the largest if it is.
func (m *Memory) note(v *ir.Value, bytes float64, kept bool) {
	if bytes > m.LargestBytes {
		m.Largest, m.LargestBytes, m.LargestKept = v, bytes, kept
	}
}

// Total is the sum of the parts.
func (m Memory) Total() float64 {
	return m.Params + m.ParamGrads + m.Inputs + m.Planned + m.Values + m.State + m.Backward + m.Graph + m.Packed
}

// NodeBytes is the memory of one graph node besides its buffers: the
// Gorgonia node, the op, its strided-copy plans and types. Measured: the
// live heap of the forward graphs of four models (117–371 nodes) exceeds
// their buffers by 1.9–2.2 KiB per node.
const NodeBytes = 2 << 10

// memRule returns what an op keeps besides its output (and its scratch),
// in elements of the graph's float type and in float64s, from the
// resolved shapes of its operands and result; grad says whether the graph
// has a backward pass (whose kernels may need more).
type memRule func(in [][]int, out []int, attrs ir.Attrs, grad bool) (floats, float64s float64)

// memRules holds the rules of the ops that keep something; the family
// files register them with keeps, next to their implementations.
var memRules = map[string]memRule{}

// scratchRule returns the scratch an op's backward (and, registered with
// scratchesInForward, its forward) needs, in elements of the graph's float
// type. The kernels share one scratch space (builder.scratch), so a graph
// needs, per op kind, the largest of its ops' scratch.
type scratchRule func(in [][]int, out []int, attrs ir.Attrs) float64

// scratchRules holds the scratch rules, registered with scratches.
var scratchRules = map[string]scratchRule{}

// forwardScratch holds the ops whose forward kernel works in the shared
// scratch too, so that a graph without backward needs it as well.
var forwardScratch = map[string]bool{}

// scratchesInForward registers the scratch rule of ops whose forward
// and backward kernels both work in the shared scratch.
func scratchesInForward(rule scratchRule, ops ...string) {
	scratches(rule, ops...)
	for _, op := range ops {
		forwardScratch[op] = true
	}
}

// scratches registers the scratch rule of ops.
func scratches(rule scratchRule, ops ...string) {
	for _, op := range ops {
		if _, dup := scratchRules[op]; dup {
			panic(fmt.Sprintf("gorgonia: scratch rule of %s registered twice", op))
		}
		scratchRules[op] = rule
	}
}

// keeps registers the memory rule of ops.
func keeps(rule memRule, ops ...string) {
	for _, op := range ops {
		if _, ok := ir.LookupOp(op); !ok {
			panic(fmt.Sprintf("gorgonia: memory rule of %q, which is not in the op table", op))
		}
		if _, dup := memRules[op]; dup {
			panic(fmt.Sprintf("gorgonia: memory rule of %s registered twice", op))
		}
		memRules[op] = rule
	}
}

// packRule returns, in float32s, the largest packed op(B)
// (kernels.GemmPackElems) of the products an op's kernels run one at a
// time (alone), and of those they run on several goroutines at once
// (each); grad says whether the graph has a backward pass.
type packRule func(in [][]int, out []int, attrs ir.Attrs, grad bool) (alone, each float64)

// packRules holds the rules of the ops whose kernels run products on the
// GEMM, registered with packs.
var packRules = map[string]packRule{}

// packs registers the packing rule of ops.
func packs(rule packRule, ops ...string) {
	for _, op := range ops {
		if _, dup := packRules[op]; dup {
			panic(fmt.Sprintf("gorgonia: packing rule of %s registered twice", op))
		}
		packRules[op] = rule
	}
}

// packed is kernels.GemmPackElems as a float64.
func packed(m, n, k int) float64 { return float64(kernels.GemmPackElems(m, n, k)) }

// elems is the element count of a resolved shape, as a float64.
func elems(s []int) float64 {
	n := 1.0
	for _, d := range s {
		n *= float64(d)
	}
	return n
}

// workers is the number of chunks a kernel's parallel loop uses at most
// (kernels.nChunks), for per-chunk scratch.
func workers() float64 { return float64(runtime.GOMAXPROCS(0)) }

// EstimateMemory estimates what Build (BuildShared when shared) and the
// first Run of m with opts allocate, without building anything. It fails
// where Build would on an unresolved or non-positive dimension.
func EstimateMemory(m *ir.Module, opts Options, shared bool) (Memory, error) {
	var mem Memory
	if m == nil {
		return mem, fmt.Errorf("gorgonia: nil module")
	}
	elem := 4.0
	if opts.DType == Float64 {
		elem = 8
	}
	// the buffer plan, from a graph built without allocating
	dry, err := buildGraph(m, opts, nil, true)
	if err != nil {
		return mem, err
	}
	mem.Planned = float64(dry.planned) * elem
	mem.Graph = float64(len(dry.g.AllNodes())) * NodeBytes
	mem.ParamGrads = -float64(dry.direct) * elem // written in place: no copy
	// live as in build; toLoss: the values the loss depends on (the only
	// ones a backward pass reaches)
	live, toLoss := map[*ir.Value]bool{}, map[*ir.Value]bool{}
	if lv := m.Output(LossName); lv != nil {
		toLoss = reaching(lv)
		for v := range toLoss {
			live[v] = true
		}
	}
	liveOutputs(m, live)
	shapes := make(map[*ir.Value][]int, len(m.Values))
	numel := func(v *ir.Value) (float64, error) {
		s, ok := shapes[v]
		if !ok {
			var err error
			if s, err = v.Type.Shape.Resolve(opts.Binds); err != nil {
				return 0, err
			}
			for _, d := range s {
				if d <= 0 {
					return 0, fmt.Errorf("non-positive dimension in %v (binds %v)", s, opts.Binds)
				}
			}
			shapes[v] = s
		}
		return elems(s), nil
	}

	// the stream plan: accumulated gradients and recomputed tensors
	var plan *streamPlan
	noGrad := map[*ir.Value]bool{} // stream tensors whose gradient lives in the chain's buffers
	notKept := map[*ir.Value]bool{}
	chainGrad := map[int]float64{}  // per chain: the size of its largest accumulated tensor
	chainStore := map[int]float64{} // per chain: the size of its largest recomputed tensor
	if opts.Grad {
		plan = planStreams(m, live)
		for _, t := range ir.AnalyzeStreams(m, live).Tensors {
			n, err := numel(t.X)
			if err != nil {
				return mem, fmt.Errorf("gorgonia: IR value %s: %w", t.X.Type, err)
			}
			if r := plan.role(t.Write); r != nil && r.xGrad != nil {
				noGrad[t.X] = true
				chainGrad[t.Chain] = max(chainGrad[t.Chain], n)
			}
			if r := plan.role(t.X); r != nil && r.out != nil {
				notKept[t.X] = true
				chainStore[t.Chain] = max(chainStore[t.Chain], n)
			}
		}
		S := float64(max(m.RecomputeSegment-1, 0))
		for _, n := range chainGrad {
			mem.Backward += 2 * n * elem
		}
		for _, n := range chainStore {
			mem.Values += S * n * elem
		}
	}

	scratch := map[string]float64{} // per op kind, the largest backward scratch
	var packAlone, packEach float64 // the largest packed op(B), of products run alone and side by side
	dep := map[*ir.Value]bool{}     // depends on a parameter
	folded := map[*ir.Value]bool{}
	for i, v := range m.Values {
		if v.Op == ir.OpParam {
			dep[v] = true
		}
		allConst := len(v.Args) > 0
		for _, a := range v.Args {
			dep[v] = dep[v] || dep[a] && v.Type.DType == ir.F32
			allConst = allConst && folded[a]
		}
		if v.Op == ir.OpConst || allConst && v.Op != ir.OpPermutations {
			folded[v] = true // a constant, or computed from constants at build time
		}
		if !live[v] && v.Op != ir.OpParam && v.Op != ir.OpInput {
			continue
		}
		n, err := numel(v)
		if err != nil {
			return mem, fmt.Errorf("gorgonia: %s:%s: IR value %%%d (%s): %w", m.Source, v.Pos, i, v.Op, err)
		}
		switch {
		case v.Op == ir.OpParam:
			if !shared {
				mem.Params += n * elem
			}
			if opts.Grad && live[v] {
				mem.ParamGrads += 2 * n * elem
			}
			continue
		case v.Type.DType == ir.I32:
			if v.Op != ir.OpReshape {
				mem.Inputs += 8 * n
			}
			continue
		case v.Op == ir.OpInput:
			mem.Inputs += n * elem
			continue
		case folded[v] || v.Op == ir.OpReshape:
			continue
		}
		if !notKept[v] { // in the plan's slabs
			mem.note(v, n*elem, false)
		}
		rule, srule, prule := memRules[v.Op], scratchRules[v.Op], packRules[v.Op]
		grad := opts.Grad && toLoss[v] && dep[v]
		if opts.DType != Float32 {
			prule = nil // float64 products run on the BLAS
		}
		if srule != nil && !grad && !forwardScratch[v.Op] {
			srule = nil
		}
		if rule == nil && srule == nil && prule == nil {
			continue
		}
		in := make([][]int, len(v.Args))
		for j, a := range v.Args {
			if _, err := numel(a); err != nil {
				return mem, fmt.Errorf("gorgonia: %s:%s: IR value %%%d (%s): %w", m.Source, v.Pos, i, v.Op, err)
			}
			in[j] = shapes[a]
		}
		if rule != nil {
			f, f64 := rule(in, shapes[v], v.Attrs, grad)
			mem.State += f*elem + 8*f64
			mem.note(v, f*elem+8*f64, true)
		}
		if srule != nil {
			scratch[v.Op] = max(scratch[v.Op], srule(in, shapes[v], v.Attrs)*elem)
		}
		if prule != nil {
			alone, each := prule(in, shapes[v], v.Attrs, grad)
			packAlone, packEach = max(packAlone, alone), max(packEach, each)
		}
	}
	for _, b := range scratch {
		mem.State += b
	}
	mem.Packed = 4 * (max(packAlone, packEach) + (workers()-1)*packEach)
	return mem, nil
}
