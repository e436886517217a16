package ir

import "fmt"

// Builder appends type-checked values to a module. The first type error is
// kept (sticky) and every later call becomes a no-op returning a placeholder,
// so lowering code can be written straight-line and check Err once.
type Builder struct {
	M   *Module
	pos Pos
	err error
}

// NewBuilder starts a module for the named source file.
func NewBuilder(source string, symbols ...string) *Builder {
	return &Builder{M: &Module{Source: source, Symbols: symbols}}
}

// Err returns the first error recorded, with the source position at which
// it happened.
func (b *Builder) Err() error { return b.err }

// At sets the source position recorded on subsequently built values.
func (b *Builder) At(p Pos) *Builder { b.pos = p; return b }

// Pos returns the current source position.
func (b *Builder) Pos() Pos { return b.pos }

// Output records a named module output.
func (b *Builder) Output(name string, v *Value) {
	b.M.Outputs = append(b.M.Outputs, Output{Name: name, Value: v})
}

// Apply appends op(args) with attrs, inferring its type.
func (b *Builder) Apply(op string, attrs Attrs, args ...*Value) *Value {
	if b.err != nil {
		return b.placeholder(op, attrs, args)
	}
	t, err := InferType(op, args, attrs)
	if err != nil {
		b.err = fmt.Errorf("%s: %w", b.pos, err)
		return b.placeholder(op, attrs, args)
	}
	v := &Value{Op: op, Args: args, Attrs: attrs, Type: t, Pos: b.pos}
	b.M.Values = append(b.M.Values, v)
	return v
}

func (b *Builder) placeholder(op string, attrs Attrs, args []*Value) *Value {
	return &Value{Op: op, Args: args, Attrs: attrs, Type: Type{DType: F32}, Pos: b.pos}
}

// Param declares a trainable tensor.
func (b *Builder) Param(name string, shape Shape, init Init, decay bool) *Value {
	v := &Value{Op: OpParam, Type: Type{DType: F32, Shape: shape.Clone()}, Pos: b.pos,
		Attrs: Attrs{{"name", name}, {"init", init}, {"decay", decay}}}
	b.M.Values = append(b.M.Values, v)
	return v
}

// NonTrainable declares a tensor of the model that no gradient updates
// (trainable=false, no weight decay): the runtime owns its value, and
// checkpoints keep it with the parameters.
func (b *Builder) NonTrainable(name string, shape Shape, init Init) *Value {
	v := b.Param(name, shape, init, false)
	v.Attrs = append(v.Attrs, Attr{"trainable", false})
	return v
}

// Input declares a tensor fed each step.
func (b *Builder) Input(name string, t Type) *Value {
	v := &Value{Op: OpInput, Type: Type{DType: t.DType, Shape: t.Shape.Clone()}, Pos: b.pos,
		Attrs: Attrs{{"name", name}}}
	b.M.Values = append(b.M.Values, v)
	return v
}

// Const is a scalar constant.
func (b *Builder) Const(x float64) *Value {
	return b.Apply(OpConst, Attrs{{"value", x}})
}

// Unary ops.

// Neg is −x.
func (b *Builder) Neg(x *Value) *Value { return b.Apply(OpNeg, nil, x) }

// Exp is eˣ.
func (b *Builder) Exp(x *Value) *Value { return b.Apply(OpExp, nil, x) }

// Log is ln x.
func (b *Builder) Log(x *Value) *Value { return b.Apply(OpLog, nil, x) }

// Sqrt is √x.
func (b *Builder) Sqrt(x *Value) *Value { return b.Apply(OpSqrt, nil, x) }

// Square is x².
func (b *Builder) Square(x *Value) *Value { return b.Apply(OpSquare, nil, x) }

// Sigmoid is 1/(1+e⁻ˣ).
func (b *Builder) Sigmoid(x *Value) *Value { return b.Apply(OpSigmoid, nil, x) }

// Tanh is tanh x.
func (b *Builder) Tanh(x *Value) *Value { return b.Apply(OpTanh, nil, x) }

// Relu is max(x, 0).
func (b *Builder) Relu(x *Value) *Value { return b.Apply(OpRelu, nil, x) }

// Softmax normalises over the last axis.
func (b *Builder) Softmax(x *Value) *Value { return b.Apply(OpSoftmax, nil, x) }

// LogSoftmax is log(softmax(x)) over the last axis.
func (b *Builder) LogSoftmax(x *Value) *Value { return b.Apply(OpLogSoftmax, nil, x) }

// Binary ops (broadcasting).

// Add is x + y.
func (b *Builder) Add(x, y *Value) *Value { return b.Apply(OpAdd, nil, x, y) }

// Sub is x − y.
func (b *Builder) Sub(x, y *Value) *Value { return b.Apply(OpSub, nil, x, y) }

// Mul is x·y elementwise.
func (b *Builder) Mul(x, y *Value) *Value { return b.Apply(OpMul, nil, x, y) }

// Div is x / y.
func (b *Builder) Div(x, y *Value) *Value { return b.Apply(OpDiv, nil, x, y) }

// Scale is x·c for a scalar constant c.
func (b *Builder) Scale(x *Value, c float64) *Value { return b.Mul(x, b.Const(c)) }

// Reductions (axes kept with size 1).

// Sum reduces over axes.
func (b *Builder) Sum(x *Value, axes ...int) *Value {
	return b.Apply(OpSum, Attrs{{"axes", b.axes(x, axes)}}, x)
}

// Mean reduces over axes.
func (b *Builder) Mean(x *Value, axes ...int) *Value {
	return b.Apply(OpMean, Attrs{{"axes", b.axes(x, axes)}}, x)
}

// Max reduces over axes.
func (b *Builder) Max(x *Value, axes ...int) *Value {
	return b.Apply(OpMax, Attrs{{"axes", b.axes(x, axes)}}, x)
}

// axes normalises negative axes (−1 is the last) into ascending order.
func (b *Builder) axes(x *Value, axes []int) []int {
	r := x.Type.Shape.Rank()
	out := make([]int, len(axes))
	for i, a := range axes {
		if a < 0 {
			a += r
		}
		out[i] = a
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j-1] > out[j]; j-- {
			out[j-1], out[j] = out[j], out[j-1]
		}
	}
	return out
}

// Shape ops.

// Reshape reinterprets x with a new shape.
func (b *Builder) Reshape(x *Value, s Shape) *Value {
	return b.Apply(OpReshape, Attrs{{"shape", s.Clone()}}, x)
}

// Transpose permutes axes.
func (b *Builder) Transpose(x *Value, perm ...int) *Value {
	return b.Apply(OpTranspose, Attrs{{"perm", append([]int(nil), perm...)}}, x)
}

// Slice keeps [start, end) of axis (negative axis counts from the end).
func (b *Builder) Slice(x *Value, axis, start, end int) *Value {
	if axis < 0 {
		axis += x.Type.Shape.Rank()
	}
	return b.Apply(OpSlice, Attrs{{"axis", axis}, {"start", start}, {"end", end}}, x)
}

// Broadcast repeats the size-1 axes of x to shape s.
func (b *Builder) Broadcast(x *Value, s Shape) *Value {
	return b.Apply(OpBroadcast, Attrs{{"shape", s.Clone()}}, x)
}

// Matmul is x·w (w shared [K,N] or batched [...,K,N]).
func (b *Builder) Matmul(x, w *Value, transB bool) *Value {
	return b.Apply(OpMatmul, Attrs{{"trans_b", transB}}, x, w)
}

// Gather looks up rows of table by indices.
func (b *Builder) Gather(table, idx *Value) *Value { return b.Apply(OpGather, nil, table, idx) }

// Pick selects x[..., idx[...]].
func (b *Builder) Pick(x, idx *Value) *Value { return b.Apply(OpPick, nil, x, idx) }

// CausalMask masks the strictly upper triangle of the last two axes.
func (b *Builder) CausalMask(x *Value) *Value { return b.Apply(OpCausalMask, nil, x) }

// Rope applies rotary position embeddings with the given base.
func (b *Builder) Rope(x *Value, base float64) *Value {
	return b.Apply(OpRope, Attrs{{"base", base}}, x)
}

// Permutations is the constant table f32[n!, n²] of the n×n permutation
// matrices (see OpPermutations).
func (b *Builder) Permutations(n int) *Value {
	return b.Apply(OpPermutations, Attrs{{"n", n}})
}
