package ref

import (
	"fmt"
	"strings"
	"sync"

	"github.com/mhcc/mhcc/ir"
)

// Fused ops are evaluated by their decomposition from the op table: the
// primitive computation the op stands for, built once per op, attributes
// and operand shapes as a small module whose inputs are the operands, and
// evaluated like any module. A fused op's value here is therefore exactly
// its definition, and -O0 and -O2 modules give the same numbers to the
// last bit.

// decompositions caches the module of each (op, attributes, shapes).
var decompositions sync.Map // string → *ir.Module

func evalFused(v *ir.Value, args []*Tensor, _ *evalCtx) (*Tensor, error) {
	var key strings.Builder
	fmt.Fprintf(&key, "%s|%v", v.Op, v.Attrs)
	for i, a := range args {
		fmt.Fprintf(&key, "|%s%v", v.Args[i].Type.DType, a.Shape)
	}
	m, err := decomposition(key.String(), v, args)
	if err != nil {
		return nil, err
	}
	params := map[string][]float64{}
	inputs := map[string][]int{}
	for i, a := range args {
		name := argName(i)
		if v.Args[i].Type.DType == ir.I32 {
			ints := make([]int, len(a.Data))
			for j, x := range a.Data {
				ints[j] = int(x)
			}
			inputs[name] = ints
			continue
		}
		params[name] = a.Data // evalInput copies
	}
	out, err := Eval(m, nil, params, inputs)
	if err != nil {
		return nil, fmt.Errorf("the decomposition of %s: %w", v.Op, err)
	}
	parts := make([]*Tensor, len(m.Outputs))
	for k, o := range m.Outputs {
		parts[k] = out[o.Name]
	}
	return concatLast(parts), nil
}

func argName(i int) string { return fmt.Sprintf("arg%d", i) }

// decomposition returns the module computing v's decomposition for
// operands of the given shapes, its parts as the outputs part0, part1, ….
func decomposition(key string, v *ir.Value, args []*Tensor) (*ir.Module, error) {
	if m, ok := decompositions.Load(key); ok {
		return m.(*ir.Module), nil
	}
	b := ir.NewBuilder("decomposition of " + v.Op)
	ins := make([]*ir.Value, len(args))
	for i, a := range args {
		ins[i] = b.Input(argName(i), ir.Type{DType: v.Args[i].Type.DType, Shape: ir.Dims(a.Shape...)})
	}
	parts, err := ir.Decompose(b, v.Op, v.Attrs, ins...)
	if err != nil {
		return nil, err
	}
	for k, p := range parts {
		b.Output(fmt.Sprintf("part%d", k), p)
	}
	decompositions.Store(key, b.M)
	return b.M, nil
}

// concatLast concatenates tensors along their last axis.
func concatLast(ts []*Tensor) *Tensor {
	if len(ts) == 1 {
		return ts[0]
	}
	shape := append([]int(nil), ts[0].Shape...)
	last := len(shape) - 1
	widths := make([]int, len(ts))
	shape[last] = 0
	for i, t := range ts {
		widths[i] = t.Shape[last]
		shape[last] += widths[i]
	}
	out := NewTensor(shape...)
	rows := len(out.Data) / max(shape[last], 1)
	for r := 0; r < rows; r++ {
		off := r * shape[last]
		for i, t := range ts {
			copy(out.Data[off:off+widths[i]], t.Data[r*widths[i]:(r+1)*widths[i]])
			off += widths[i]
		}
	}
	return out
}

func init() {
	for _, d := range ir.Ops {
		if d.Fused {
			impls.Implement(evalFused, d.Name)
		}
	}
}
