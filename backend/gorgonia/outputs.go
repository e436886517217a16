package gorgonia

import (
	"fmt"
	"runtime/debug"
	"sort"
	"strings"

	G "gorgonia.org/gorgonia"

	"github.com/mhcc/mhcc/ir"
)

// Reading module outputs other than the loss (such as the hyper-connection
// coefficients of compiler.LowerDiagnostics) after a forward-only run.

// output is one named module output of a built graph.
type output struct {
	node  *G.Node
	shape []int
	isInt bool
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
		b.out.outs[o.Name] = &output{node: n, shape: e.shape}
	}
	return nil
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
