// Package ref is a float64 reference interpreter of mhcc's IR.
//
// It evaluates a module value by value, straight from the op table in
// package ir, with plain loops and no clever rewrites, so that it can serve
// as the oracle of the conformance test (backend/conformance) and of
// gradient checks (finite differences of Eval's loss). Elementwise ops
// apply the table's scalar functions and fused ops evaluate the table's
// decompositions, so a new op of either kind is implemented here by its
// table entry alone. Every intermediate tensor is float64; i32 tensors
// (token ids) are stored as exact float64 integers.
//
// Malformed modules, missing or mis-sized parameters and inputs, unbound
// symbols and out-of-range indices are reported as errors naming the value
// (%index, op, source position), never as panics.
package ref

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mhcc/mhcc/backend"
	"github.com/mhcc/mhcc/ir"
)

// Tensor is a dense row-major float64 tensor. A scalar has an empty Shape
// and one element.
type Tensor struct {
	Shape []int
	Data  []float64
}

// NewTensor returns a zero tensor of the given shape.
func NewTensor(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float64, numel(shape))}
}

// Size returns the number of elements.
func (t *Tensor) Size() int { return len(t.Data) }

// At returns the element at the given multi-index (one index per axis).
// It panics if the index does not fit the shape, like slice indexing.
func (t *Tensor) At(idx ...int) float64 {
	if len(idx) != len(t.Shape) {
		panic(fmt.Sprintf("ref: At with %d indices on a rank-%d tensor", len(idx), len(t.Shape)))
	}
	off := 0
	for i, n := range t.Shape {
		if idx[i] < 0 || idx[i] >= n {
			panic(fmt.Sprintf("ref: index %v out of range for shape %v", idx, t.Shape))
		}
		off = off*n + idx[i]
	}
	return t.Data[off]
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float64(nil), t.Data...)}
}

// String prints the shape and, for small tensors, the data.
func (t *Tensor) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v", t.Shape)
	if len(t.Data) <= 64 {
		fmt.Fprintf(&b, "%v", t.Data)
	} else {
		fmt.Fprintf(&b, "[%d values]", len(t.Data))
	}
	return b.String()
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Eval runs the module and returns every named output (e.g. "loss").
//
// binds gives the sizes of the symbolic dimensions (e.g. B, T); params
// maps each param name to its row-major values; inputs maps each input
// name to its row-major values (i32 inputs such as tokens and targets).
// An f32 input is read from params if its name is there, else from inputs
// converted to float64. The caller's slices are never modified or
// retained.
func Eval(m *ir.Module, binds map[string]int, params map[string][]float64, inputs map[string][]int) (map[string]*Tensor, error) {
	vals, err := EvalAll(m, binds, params, inputs)
	if err != nil {
		return nil, err
	}
	idx := make(map[*ir.Value]int, len(m.Values))
	for i, v := range m.Values {
		idx[v] = i
	}
	out := make(map[string]*Tensor, len(m.Outputs))
	for _, o := range m.Outputs {
		i, ok := idx[o.Value]
		if !ok {
			return nil, fmt.Errorf("ref: output %q is not a value of the module", o.Name)
		}
		out[o.Name] = vals[i]
	}
	return out, nil
}

// EvalAll runs the module like Eval and returns the value of every IR
// value, indexed like m.Values (the %N numbering of the printed IR). It is
// meant for debugging and for tests of individual ops.
func EvalAll(m *ir.Module, binds map[string]int, params map[string][]float64, inputs map[string][]int) (vals []*Tensor, err error) {
	if m == nil {
		return nil, fmt.Errorf("ref: nil module")
	}
	cur := -1
	defer func() {
		// A safety net: every op validates its operands, so reaching this
		// is a bug in this package, but it must still not crash the caller.
		if r := recover(); r != nil {
			vals = nil
			err = fmt.Errorf("ref: internal error at %%%d: %v", cur, r)
		}
	}()
	idx := make(map[*ir.Value]int, len(m.Values))
	vals = make([]*Tensor, len(m.Values))
	ctx := &evalCtx{binds: binds, params: params, inputs: inputs}
	for i, v := range m.Values {
		cur = i
		if v == nil {
			return nil, fmt.Errorf("ref: %%%d is nil", i)
		}
		args := make([]*Tensor, len(v.Args))
		for j, a := range v.Args {
			k, ok := idx[a]
			if !ok {
				return nil, fmt.Errorf("ref: %%%d = %s @%s: argument %d is not defined before its use", i, v.Op, v.Pos, j)
			}
			args[j] = vals[k]
		}
		t, err := evalValue(v, args, ctx)
		if err != nil {
			return nil, fmt.Errorf("ref: %%%d = %s @%s: %w", i, v.Op, v.Pos, err)
		}
		want, err := v.Type.Shape.Resolve(binds)
		if err != nil {
			return nil, fmt.Errorf("ref: %%%d = %s @%s: type %s: %w", i, v.Op, v.Pos, v.Type, err)
		}
		if !slices.Equal(t.Shape, want) {
			return nil, fmt.Errorf("ref: %%%d = %s @%s: computed shape %v but the IR type %s resolves to %v",
				i, v.Op, v.Pos, t.Shape, v.Type, want)
		}
		vals[i] = t
		idx[v] = i
	}
	return vals, nil
}

// evalFn computes one value from its already evaluated arguments.
type evalFn func(v *ir.Value, args []*Tensor, c *evalCtx) (*Tensor, error)

// evalCtx is what an evaluation needs besides the arguments.
type evalCtx struct {
	binds  map[string]int
	params map[string][]float64
	inputs map[string][]int
}

// impls is the reference interpreter's implementation of every op of the
// op table: the op families register theirs (ops.go, fused.go).
var impls backend.Table[evalFn]

// evalValue computes one value from its already evaluated arguments.
func evalValue(v *ir.Value, args []*Tensor, c *evalCtx) (*Tensor, error) {
	info, ok := ir.LookupOp(v.Op)
	if !ok {
		return nil, fmt.Errorf("unknown op %q", v.Op)
	}
	if err := info.CheckArity(len(args)); err != nil {
		return nil, err
	}
	f, ok := impls.Lookup(v.Op)
	if !ok {
		return nil, fmt.Errorf("op %q is not implemented by the reference interpreter", v.Op)
	}
	return f(v, args, c)
}

func evalParam(v *ir.Value, _ []*Tensor, c *evalCtx) (*Tensor, error) {
	binds, params := c.binds, c.params
	name := v.Param()
	shape, err := v.Type.Shape.Resolve(binds)
	if err != nil {
		return nil, fmt.Errorf("param %q: %w", name, err)
	}
	data, ok := params[name]
	if !ok {
		return nil, fmt.Errorf("param %q %s: no values given", name, v.Type)
	}
	if n := numel(shape); len(data) != n {
		return nil, fmt.Errorf("param %q %s: got %d values, want %d", name, v.Type, len(data), n)
	}
	return &Tensor{Shape: shape, Data: append([]float64(nil), data...)}, nil
}

func evalInput(v *ir.Value, _ []*Tensor, c *evalCtx) (*Tensor, error) {
	binds, params, inputs := c.binds, c.params, c.inputs
	name := v.Attrs.String("name")
	shape, err := v.Type.Shape.Resolve(binds)
	if err != nil {
		return nil, fmt.Errorf("input %q: %w", name, err)
	}
	n := numel(shape)
	if v.Type.DType == ir.F32 {
		if data, ok := params[name]; ok {
			if len(data) != n {
				return nil, fmt.Errorf("input %q %s: got %d values, want %d", name, v.Type, len(data), n)
			}
			return &Tensor{Shape: shape, Data: append([]float64(nil), data...)}, nil
		}
	}
	data, ok := inputs[name]
	if !ok {
		return nil, fmt.Errorf("input %q %s: no values given", name, v.Type)
	}
	if len(data) != n {
		return nil, fmt.Errorf("input %q %s: got %d values, want %d", name, v.Type, len(data), n)
	}
	t := &Tensor{Shape: shape, Data: make([]float64, n)}
	for i, x := range data {
		t.Data[i] = float64(x)
	}
	return t, nil
}
