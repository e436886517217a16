package gorgonia

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/mhcc/mhcc/backend"
	"github.com/mhcc/mhcc/ir"
)

// lowerFn lowers one IR value v into e: e.shape is v's resolved shape and
// args are the entries of its operands.
type lowerFn func(b *builder, v *ir.Value, args []*entry, e *entry) error

// impls is the Gorgonia backend's implementation of the op table: each
// op-family file registers its ops in its init function, and
// backend/conformance holds the table against ir.Ops.
var impls backend.Table[lowerFn]

// fused applies build to the nodes and shapes of a fused op's operands.
func fused(build func(b *builder, v *ir.Value, nodes []*G.Node, shapes [][]int, e *entry) error) lowerFn {
	return func(b *builder, v *ir.Value, args []*entry, e *entry) error {
		nodes := make([]*G.Node, len(args))
		shapes := make([][]int, len(args))
		for i, a := range args {
			n, err := b.node(a)
			if err != nil {
				return fmt.Errorf("argument %d: %w", i, err)
			}
			nodes[i], shapes[i] = n, a.shape
		}
		return build(b, v, nodes, shapes, e)
	}
}

// Backend is the Gorgonia backend as a backend.Runner, in one precision.
type Backend struct{ DType DType }

// Name returns "gorgonia/float32" or "gorgonia/float64".
func (b Backend) Name() string { return "gorgonia/" + b.DType.String() }

// Support reports whether the backend implements op.
func (Backend) Support(op string) (bool, string) { return impls.Support(op) }

// Float64 reports whether graphs compute in float64.
func (b Backend) Float64() bool { return b.DType == Float64 }

// Gradients is true: graphs with Options.Grad have a backward pass.
func (Backend) Gradients() bool { return true }

// Run builds m (with a backward pass when grad), sets the feed, runs it
// and returns every f32 output, or the loss and every parameter's
// gradient.
func (b Backend) Run(m *ir.Module, feed backend.Feed, grad bool) (*backend.Result, error) {
	g, err := Build(m, Options{Binds: feed.Binds, DType: b.DType, Grad: grad})
	if err != nil {
		return nil, err
	}
	defer g.Close()
	for _, p := range g.Params() {
		vals, ok := feed.Params[p.Name]
		if !ok || len(vals) != p.Size() {
			return nil, fmt.Errorf("gorgonia: param %s: %d values given, want %d", p.Name, len(vals), p.Size())
		}
		if p.F64() != nil {
			copy(p.F64(), vals)
		} else {
			for i, x := range vals {
				p.F32()[i] = float32(x)
			}
		}
	}
	for name, vals := range feed.Ints {
		if err := g.SetInput(name, vals); err != nil {
			return nil, err
		}
	}
	for name, vals := range feed.Floats {
		if err := g.SetInputFloat(name, vals); err != nil {
			return nil, err
		}
	}
	res := &backend.Result{Outputs: map[string][]float64{}}
	if !grad {
		var names []string
		for _, o := range m.Outputs {
			if o.Value.Type.DType == ir.F32 {
				names = append(names, o.Name)
			}
		}
		res.Outputs, err = g.RunOutputs(names...)
		return res, err
	}
	loss, err := g.Run()
	if err != nil {
		return nil, err
	}
	res.Outputs[LossName] = []float64{loss}
	res.Grads = map[string][]float64{}
	for _, p := range g.Params() {
		gr := make([]float64, p.Size())
		if p.GradF64() != nil {
			copy(gr, p.GradF64())
		} else {
			for i, x := range p.GradF32() {
				gr[i] = float64(x)
			}
		}
		res.Grads[p.Name] = gr
	}
	return res, nil
}

func init() {
	backend.Register(Backend{Float32})
	backend.Register(Backend{Float64})
	impls.Implement(func(b *builder, v *ir.Value, _ []*entry, e *entry) error { return b.param(v, e) }, ir.OpParam)
	impls.Implement(func(b *builder, v *ir.Value, _ []*entry, e *entry) error { return b.input(v, e) }, ir.OpInput)
	impls.Implement(func(b *builder, v *ir.Value, _ []*entry, e *entry) error { return b.permutations(v, e) }, ir.OpPermutations)
	impls.Implement(func(b *builder, v *ir.Value, _ []*entry, e *entry) error {
		e.isConst, e.c = true, v.Attrs.Float("value")
		return nil
	}, ir.OpConst)
}
