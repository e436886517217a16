package ir

import (
	"fmt"
	"math"
)

// Elementwise primitives. A unary op's result has its operand's type.
//
// Binary ops broadcast: shapes are aligned on the right; the shorter one
// is padded with leading 1s; each pair of dimensions must be equal or one
// of them must be the constant 1. The result takes the larger of each
// pair.
const (
	OpNeg     = "neg"
	OpExp     = "exp"
	OpLog     = "log"
	OpSqrt    = "sqrt"
	OpSquare  = "square"
	OpSigmoid = "sigmoid"
	OpTanh    = "tanh"
	OpRelu    = "relu"

	OpAdd = "add"
	OpSub = "sub"
	OpMul = "mul"
	OpDiv = "div"
)

// Sigmoid is 1/(1+e⁻ˣ), evaluated without overflow for large |x|.
func Sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// unaryOp defines an elementwise op of one operand: one FLOP per element.
func unaryOp(name, doc string, f func(float64) float64) *OpDef {
	return &OpDef{Name: name, Doc: doc, Args: []ArgDef{f32("x")}, Type: sameType, FLOPs: perOutput(1),
		Scalar: func(x ...float64) float64 { return f(x[0]) }}
}

// binaryOp defines a broadcasting elementwise op of two operands: one
// FLOP per result element.
func binaryOp(name, doc string, commutative bool, f func(a, b float64) float64) *OpDef {
	return &OpDef{Name: name, Doc: doc, Args: []ArgDef{f32("a"), f32("b")}, Commutative: commutative,
		Type: func(args []*Value, _ Attrs) (Type, error) {
			s, err := BroadcastShapes(args[0].Type.Shape, args[1].Type.Shape)
			if err != nil {
				return Type{}, fmt.Errorf("%s: %w", name, err)
			}
			return Type{DType: F32, Shape: s}, nil
		},
		FLOPs:  perOutput(1),
		Scalar: func(x ...float64) float64 { return f(x[0], x[1]) }}
}

func init() {
	define("elementwise",
		unaryOp(OpNeg, "−x", func(x float64) float64 { return -x }),
		unaryOp(OpExp, "eˣ", math.Exp),
		unaryOp(OpLog, "ln x", math.Log),
		unaryOp(OpSqrt, "√x", math.Sqrt),
		unaryOp(OpSquare, "x²", func(x float64) float64 { return x * x }),
		unaryOp(OpSigmoid, "1/(1+e⁻ˣ)", Sigmoid),
		unaryOp(OpTanh, "tanh x", math.Tanh),
		unaryOp(OpRelu, "max(x, 0) (NaN stays NaN)", func(x float64) float64 {
			if x > 0 || math.IsNaN(x) {
				return x
			}
			return 0
		}),
		binaryOp(OpAdd, "a + b (broadcasting)", true, func(a, b float64) float64 { return a + b }),
		binaryOp(OpSub, "a − b (broadcasting)", false, func(a, b float64) float64 { return a - b }),
		binaryOp(OpMul, "a · b elementwise (broadcasting)", true, func(a, b float64) float64 { return a * b }),
		binaryOp(OpDiv, "a / b (broadcasting)", false, func(a, b float64) float64 { return a / b }),
	)
}

// BroadcastShapes returns the broadcast result of two shapes.
func BroadcastShapes(a, b Shape) (Shape, error) {
	n := max(len(a), len(b))
	out := make(Shape, n)
	for i := 0; i < n; i++ {
		da, db := D(1), D(1)
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			out[i] = da
		case da == D(1):
			out[i] = db
		case db == D(1):
			out[i] = da
		default:
			return nil, fmt.Errorf("shapes %s and %s do not broadcast", a, b)
		}
	}
	return out, nil
}
