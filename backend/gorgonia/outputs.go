package gorgonia

import (
	"fmt"
	"runtime/debug"
	"sort"
	"strings"

	G "gorgonia.org/gorgonia"

	"github.com/mhcc/mhcc/ir"
)

// Reading module outputs other than the loss: after a forward-only run
// (RunOutputs: such as the hyper-connection coefficients of
// compiler.LowerDiagnostics), and after a training Run (Output: such as
// the experts' load of the step).
//
// A graph with a backward pass cannot hand out its forward values after
// the run, because the backward may reuse their registers (docs/gorgonia.md
// G11). It keeps them instead while it runs: every f32 output besides the
// loss gets a keep node, a custom op that copies its input into a buffer
// the output owns (its own result, one dummy element, is never read) and
// that nothing else writes. The TapeMachine runs every node of the graph,
// and the copied value is live until the keep node has read it.

// output is one named module output of a built graph.
type output struct {
	node  *G.Node
	shape []int
	isInt bool
	// kept is the value the last Run copied (a graph with gradients).
	kept *keepK
}

// keepK copies its input into its own buffer during the run.
type keepK struct {
	v32 []float32
	v64 []float64
	ran bool
}

func (k *keepK) f32(x [][]float32, _ [][]int, y []float32) error {
	k.v32, k.ran = append(k.v32[:0], x[0]...), true
	y[0] = 0
	return nil
}
func (k *keepK) f64(x [][]float64, _ [][]int, y []float64) error {
	k.v64, k.ran = append(k.v64[:0], x[0]...), true
	y[0] = 0
	return nil
}

// liveOutputs adds to live the values that any output of m depends on, so
// that outputs besides the loss are built too.
func liveOutputs(m *ir.Module, live map[*ir.Value]bool) {
	for _, o := range m.Outputs {
		if o.Value == nil || live[o.Value] {
			continue
		}
		for v := range reaching(o.Value) {
			live[v] = true
		}
	}
}

// collectOutputs records the node of every named output of m.
func (b *builder) collectOutputs(m *ir.Module) error {
	b.out.outs = map[string]*output{}
	for _, o := range m.Outputs {
		e, ok := b.vals[o.Value]
		if !ok {
			return fmt.Errorf("gorgonia: output %q is not a value of the module", o.Name)
		}
		if o.Value.Type.DType != ir.F32 {
			b.out.outs[o.Name] = &output{shape: e.shape, isInt: true}
			continue
		}
		n, err := b.node(e)
		if err != nil {
			return fmt.Errorf("gorgonia: output %q: %w", o.Name, err)
		}
		out := &output{node: n, shape: e.shape}
		if b.opts.Grad && o.Name != LossName {
			out.kept = &keepK{}
			if _, err := apply(newOp(fmt.Sprintf("keep(%s)", o.Name), b.dt, []*G.Node{n}, gshape(nil), out.kept, nil, nil), n); err != nil {
				return fmt.Errorf("gorgonia: output %q: %w", o.Name, err)
			}
		}
		b.out.outs[o.Name] = out
	}
	return nil
}

// Output returns a copy of the named f32 output as the last Run of a
// graph with gradients computed it (for a forward-only graph use
// RunOutputs), row-major, as float64.
func (g *Graph) Output(name string) ([]float64, error) {
	if g.closed {
		return nil, fmt.Errorf("gorgonia: Output on a closed graph")
	}
	o, ok := g.outs[name]
	switch {
	case !ok:
		return nil, fmt.Errorf("gorgonia: the module has no output %q (outputs: %s)", name, strings.Join(g.OutputNames(), ", "))
	case o.isInt:
		return nil, fmt.Errorf("gorgonia: output %q is i32; Output reads f32 outputs", name)
	case !g.grad:
		return nil, fmt.Errorf("gorgonia: Output reads what a training Run kept; a forward-only graph has RunOutputs")
	case name == LossName:
		return nil, fmt.Errorf("gorgonia: Run returns the loss")
	case !o.kept.ran:
		return nil, fmt.Errorf("gorgonia: output %q: the graph has not run", name)
	}
	out := make([]float64, 0, prod(o.shape))
	for _, v := range o.kept.v32 {
		out = append(out, float64(v))
	}
	out = append(out, o.kept.v64...)
	if len(out) != prod(o.shape) {
		return nil, fmt.Errorf("gorgonia: output %q has %d values, want shape %v", name, len(out), o.shape)
	}
	return out, nil
}

// OutputNames returns the names of the module's outputs, sorted.
func (g *Graph) OutputNames() []string {
	names := make([]string, 0, len(g.outs))
	for name := range g.outs {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// OutputShape returns the bound shape of the named output (nil if the
// module has no such output; [] for a scalar).
func (g *Graph) OutputShape(name string) []int {
	if o, ok := g.outs[name]; ok {
		return append([]int{}, o.shape...)
	}
	return nil
}

// RunOutputs runs the forward pass of a forward-only graph (built with
// Options.Grad false) on the current parameters and inputs and returns a
// copy of each named f32 output, row-major, as float64. It is safe to call
// repeatedly and between Runs; a failed call leaves the graph usable.
func (g *Graph) RunOutputs(names ...string) (out map[string][]float64, err error) {
	if g.closed {
		return nil, fmt.Errorf("gorgonia: RunOutputs on a closed graph")
	}
	if g.grad {
		return nil, fmt.Errorf("gorgonia: RunOutputs needs a forward-only graph (Options.Grad false)")
	}
	outs := make([]*output, len(names))
	for i, name := range names {
		o, ok := g.outs[name]
		if !ok {
			return nil, fmt.Errorf("gorgonia: the module has no output %q (outputs: %s)", name, strings.Join(g.OutputNames(), ", "))
		}
		if o.isInt {
			return nil, fmt.Errorf("gorgonia: output %q is i32; RunOutputs reads f32 outputs", name)
		}
		outs[i] = o
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("gorgonia: RunOutputs panicked: %v\n%s", r, debug.Stack())
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
		return nil, fmt.Errorf("gorgonia: RunOutputs: %w", err)
	}
	out = make(map[string][]float64, len(names))
	for i, name := range names {
		o := outs[i]
		v := o.node.Value()
		if v == nil {
			return nil, fmt.Errorf("gorgonia: output %q has no value after the run", name)
		}
		var vals []float64
		if g.dt == Float64 {
			d, err := floatsOf[float64](v)
			if err != nil {
				return nil, fmt.Errorf("gorgonia: output %q: %w", name, err)
			}
			vals = append([]float64(nil), d...)
		} else {
			d, err := floatsOf[float32](v)
			if err != nil {
				return nil, fmt.Errorf("gorgonia: output %q: %w", name, err)
			}
			vals = make([]float64, len(d))
			for j, x := range d {
				vals[j] = float64(x)
			}
		}
		if len(vals) != prod(o.shape) {
			return nil, fmt.Errorf("gorgonia: output %q has %d values, want shape %v", name, len(vals), o.shape)
		}
		out[name] = vals
	}
	return out, nil
}
