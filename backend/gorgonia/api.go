// Package gorgonia is mhcc's Gorgonia backend: it compiles an *ir.Module into
// a gorgonia.org/gorgonia expression graph (forward, and the symbolic
// backward pass from G.Grad) and runs it on a TapeMachine.
//
// Every IR op is lowered to a custom Gorgonia op with a hand-written
// backward, which avoids the Gorgonia v0.9.18 bugs listed in
// docs/gorgonia.md by construction: G.Reshape (aliasing), InverseSqrt,
// ByIndices, Dropout, the LispMachine and BindDualValues are never used.
// Kernels read flat row-major data with the IR's shapes, so IR reshapes
// cost nothing. This package is the graph builder; the compute kernels,
// generic over float32 and float64, are in package kernels
// (backend/gorgonia/kernels), which does not import Gorgonia. Matrix
// products run the kernels' packed float32 GEMM (kernels/sgemm*.c, cgo on
// amd64, AVX-512 or AVX2 as the CPU allows) or the BLAS set with
// kernels.SetBLAS (gonum's, or OpenBLAS in the openblas build,
// blas_openblas.go).
//
// The files, one per op family as in ir/ops_*.go:
//
//	build.go        build, the per-value dispatch (lowerValue, lowerFused) and
//	                the per-op mapping; params, inputs, constants, i32 values
//	op.go           the custom op type, applying ops, multi-gradient backward ops
//	elementwise.go  unary, binary with broadcasting, binary with a constant
//	reduce.go       sum, mean, max, softmax, log_softmax
//	layout.go       reshape, transpose, slice, broadcast
//	matmul.go       matmul, matmul.concat and its member slices
//	index.go        gather, pick
//	attention.go    causal_mask, rope, attention
//	norm.go         rmsnorm, gelu, cross_entropy
//	hc.go           sinkhorn, hc.coeffs, hc.read, hc.write
//	moe.go          moe.topk, moe.load, moe.experts (grouped per expert)
//	perm.go         the permutations constant
//	streams.go      the stream plan: shared gradient buffers, recomputation
//	pool.go         the buffer plan: op outputs and gradients share slabs by liveness
//	outputs.go      module outputs besides the loss (RunOutputs; Output after a training Run)
//	init.go         parameter initialisation (init_hc.go: the HC inits)
//	blas.go         BLASName, StartEnv, EnvError, MatMulF32 (blas_openblas.go: OpenBLAS)
//	api.go          Build, Graph, Param, Run
package gorgonia

import (
	"fmt"
	"runtime/debug"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/mhcc/mhcc/ir"
)

// DType is the floating-point type a graph computes in.
type DType int

const (
	// Float32 is used for training.
	Float32 DType = iota
	// Float64 is used for gradient checks.
	Float64
)

func (d DType) tensor() tensor.Dtype {
	if d == Float64 {
		return tensor.Float64
	}
	return tensor.Float32
}

// String returns "float32" or "float64".
func (d DType) String() string {
	if d == Float64 {
		return "float64"
	}
	return "float32"
}

// Options configure Build.
type Options struct {
	// Binds gives the values of symbolic dims, e.g. {"B":16,"T":128}.
	Binds map[string]int
	// DType is Float32 for training, Float64 for gradient checks.
	DType DType
	// Grad builds the backward pass (G.Grad w.r.t. every param that the loss
	// depends on); false gives a forward-only graph.
	Grad bool
}

// LossName is the module output that Run evaluates.
const LossName = "loss"

// Graph is a compiled module: a Gorgonia graph, its TapeMachine, the
// parameter and input buffers it owns.
type Graph struct {
	g       *G.ExprGraph
	vm      G.VM
	dt      DType
	grad    bool
	params  []*Param
	byName  map[string]*Param
	inputs  map[string]*input
	derived []func() // recompute integer values derived from inputs, in order
	loss    *G.Node
	outs    map[string]*output // every named output (outputs.go)
	streams StreamStats        // what the stream plan did (streams.go)
	// order counts the ops run so far in this run; each checks it against
	// its place in the buffer plan (pool.go). nil without a backward pass.
	order *int
	// planned is the elements of the slabs the buffer plan shares among
	// the ops' outputs, direct those of the parameter gradients the
	// backward writes in place (pool.go).
	planned, direct int64
	closed          bool
}

// StreamStats says how a graph with gradients handles the hyper-connection
// stream tensors (streams.go).
type StreamStats struct {
	// Chains is the number of chains X_0 → X_1 → … found.
	Chains int
	// Accumulated is the number of stream tensors whose readers' backward
	// kernels share one gradient buffer (no stock Adds, two buffers per
	// chain).
	Accumulated int
	// Recomputed is the number of stream tensors that are not kept for the
	// backward pass but recomputed in it (Module.RecomputeSegment), and
	// Segment the segment length.
	Recomputed, Segment int
}

// Streams returns what the stream plan did for this graph (zero for a
// forward-only graph or a model without fused hyper-connections).
func (g *Graph) Streams() StreamStats { return g.streams }

// Param is one parameter tensor of the model.
type Param struct {
	Name  string
	Shape []int
	Init  ir.Init
	Decay bool
	// Trainable is false for a tensor no gradient updates (trainable=false
	// in the IR, such as a router's selection bias): the graph computes no
	// gradient for it, and its value is the runtime's to set.
	Trainable bool

	t        *tensor.Dense // backing tensor (shared with BuildShared graphs)
	f32      []float32
	f64      []float64
	g32      []float32 // gradient of the last Run
	g64      []float64
	gradNode *G.Node // nil if the loss does not depend on the param (its gradient stays 0)
	// direct: the backward writes the gradient straight into g32/g64
	// (pool.go), so Run copies nothing
	direct bool
}

// F32 returns the live backing slice of a Float32 graph (nil for Float64).
// Writes are seen by the next Run.
func (p *Param) F32() []float32 { return p.f32 }

// F64 returns the live backing slice of a Float64 graph (nil for Float32).
func (p *Param) F64() []float64 { return p.f64 }

// GradF32 returns the gradient of the last Run (nil if the graph has no
// backward pass or is Float64). The slice is reused by every Run.
func (p *Param) GradF32() []float32 { return p.g32 }

// GradF64 returns the gradient of the last Run of a Float64 graph.
func (p *Param) GradF64() []float64 { return p.g64 }

// Size returns the number of elements.
func (p *Param) Size() int { return prod(p.Shape) }

type input struct {
	name  string
	shape []int
	ints  []int     // i32 inputs
	f32   []float32 // f32 inputs (Float32 graph)
	f64   []float64 // f32 inputs (Float64 graph)
}

// Build compiles m into a Gorgonia graph and TapeMachine.
func Build(m *ir.Module, opts Options) (*Graph, error) {
	return build(m, opts, nil)
}

// BuildShared is Build, but the new graph's params use the same backing
// tensors as base's (e.g. a forward-only eval graph with another batch
// size). Param shapes and the dtype must match.
func BuildShared(m *ir.Module, opts Options, base *Graph) (*Graph, error) {
	if base == nil {
		return nil, fmt.Errorf("gorgonia: BuildShared: nil base graph")
	}
	if base.dt != opts.DType {
		return nil, fmt.Errorf("gorgonia: BuildShared: dtype %v differs from the base graph's %v", opts.DType, base.dt)
	}
	return build(m, opts, base)
}

// Params returns the parameters in IR definition order.
func (g *Graph) Params() []*Param { return g.params }

// Param returns the named parameter, or nil.
func (g *Graph) Param(name string) *Param { return g.byName[name] }

// DType returns the graph's float type.
func (g *Graph) DType() DType { return g.dt }

// HasGrad reports whether the graph computes gradients.
func (g *Graph) HasGrad() bool { return g.grad }

// InputShape returns the bound shape of the named input (nil if unknown).
func (g *Graph) InputShape(name string) []int {
	if in, ok := g.inputs[name]; ok {
		return append([]int(nil), in.shape...)
	}
	return nil
}

// SetInput copies token ids into the named i32 input's buffer; the length
// must match the bound shape.
func (g *Graph) SetInput(name string, data []int) error {
	in, ok := g.inputs[name]
	if !ok {
		return fmt.Errorf("gorgonia: unknown input %q", name)
	}
	if in.ints == nil {
		return fmt.Errorf("gorgonia: input %q is f32; use SetInputFloat", name)
	}
	if len(data) != len(in.ints) {
		return fmt.Errorf("gorgonia: input %q: got %d values, want %d (shape %v)", name, len(data), len(in.ints), in.shape)
	}
	copy(in.ints, data)
	return nil
}

// SetInputFloat copies data into the named f32 input's buffer.
func (g *Graph) SetInputFloat(name string, data []float64) error {
	in, ok := g.inputs[name]
	if !ok {
		return fmt.Errorf("gorgonia: unknown input %q", name)
	}
	n := len(in.f32) + len(in.f64)
	if in.ints != nil {
		return fmt.Errorf("gorgonia: input %q is i32; use SetInput", name)
	}
	if len(data) != n {
		return fmt.Errorf("gorgonia: input %q: got %d values, want %d (shape %v)", name, len(data), n, in.shape)
	}
	for i, v := range data {
		if in.f32 != nil {
			in.f32[i] = float32(v)
		} else {
			in.f64[i] = v
		}
	}
	return nil
}

// FloatInput returns the live buffer of the named f32 input: f32 in a
// Float32 graph, f64 in a Float64 one. Writes are seen by the next run,
// so a caller can keep state in an input and change part of it in place
// (a key/value cache appends one row per decoding step).
func (g *Graph) FloatInput(name string) (f32 []float32, f64 []float64, err error) {
	in, ok := g.inputs[name]
	if !ok {
		return nil, nil, fmt.Errorf("gorgonia: unknown input %q", name)
	}
	if in.ints != nil {
		return nil, nil, fmt.Errorf("gorgonia: input %q is i32", name)
	}
	return in.f32, in.f64, nil
}

// Run evaluates the forward pass (and the backward pass if the graph has
// one), copies every parameter's gradient into its GradF32/GradF64 buffer
// (fresh each call, never accumulated; zero for params the loss does not
// depend on), resets the machine and returns the loss. It is safe to call
// repeatedly; a failed Run leaves the graph usable.
func (g *Graph) Run() (loss float64, err error) {
	if g.closed {
		return 0, fmt.Errorf("gorgonia: Run on a closed graph")
	}
	if g.loss == nil {
		return 0, fmt.Errorf("gorgonia: Run needs a module with a %q output; use RunOutputs for the others", LossName)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gorgonia: Run panicked: %v\n%s", r, debug.Stack())
		}
		g.vm.Reset()
	}()
	for _, f := range g.derived {
		f()
	}
	if g.order != nil {
		*g.order = 0
	}
	if err := g.vm.RunAll(); err != nil {
		return 0, fmt.Errorf("gorgonia: Run: %w", err)
	}
	if loss, err = scalarOf(g.loss.Value()); err != nil {
		return 0, fmt.Errorf("gorgonia: reading the loss: %w", err)
	}
	if !g.grad {
		return loss, nil
	}
	for _, p := range g.params {
		if p.gradNode == nil || p.direct {
			continue
		}
		if err := p.copyGrad(); err != nil {
			return 0, err
		}
	}
	return loss, nil
}

func (p *Param) copyGrad() error {
	v := p.gradNode.Value()
	if v == nil {
		return fmt.Errorf("gorgonia: no gradient value for param %s", p.Name)
	}
	var n int
	if p.g32 != nil {
		d, err := floatsOf[float32](v)
		if err != nil {
			return fmt.Errorf("gorgonia: gradient of %s: %w", p.Name, err)
		}
		n = copy(p.g32, d)
		if len(d) != len(p.g32) {
			n = -1
		}
	} else {
		d, err := floatsOf[float64](v)
		if err != nil {
			return fmt.Errorf("gorgonia: gradient of %s: %w", p.Name, err)
		}
		n = copy(p.g64, d)
		if len(d) != len(p.g64) {
			n = -1
		}
	}
	if n < 0 {
		return fmt.Errorf("gorgonia: gradient of %s has shape %v, want %v", p.Name, v.Shape(), p.Shape)
	}
	return nil
}

func scalarOf(v G.Value) (float64, error) {
	switch x := v.(type) {
	case *G.F32:
		return float64(*x), nil
	case *G.F64:
		return float64(*x), nil
	case nil:
		return 0, fmt.Errorf("no value")
	}
	if d, err := floatsOf[float64](v); err == nil && len(d) == 1 {
		return d[0], nil
	}
	if d, err := floatsOf[float32](v); err == nil && len(d) == 1 {
		return float64(d[0]), nil
	}
	return 0, fmt.Errorf("want a scalar, got %T %v", v, v.Shape())
}

// NodeCount returns the number of nodes in the Gorgonia graph (forward and
// backward).
func (g *Graph) NodeCount() int { return len(g.g.AllNodes()) }

// Close releases the machine and everything the graph holds. The graph
// must not be used afterwards.
//
// Gorgonia's TapeMachine carries a finalizer, and the Go runtime never
// collects a reference cycle that contains an object with a finalizer: the
// machine reaches the ops, whose kernels reach this Graph, which reaches
// the machine. Dropping every reference here breaks the cycle, so the
// machine, its op buffers and the parameter tensors are freed once the
// caller drops the Graph (an ablation of eight models otherwise keeps all
// eight in memory).
func (g *Graph) Close() {
	if g.closed {
		return
	}
	g.closed = true
	g.vm.Close()
	g.vm = nil
	g.g = nil
	g.loss = nil
	g.derived = nil
	g.inputs = nil
	g.outs = nil
}
