package ir

import (
	"fmt"
	"math"
)

// Normalisation, activations and the loss: fused ops of one part.
const (
	// OpRMSNorm is x / sqrt(mean(x², last axis) + eps) · g: x [..., C],
	// g [C].
	OpRMSNorm = "rmsnorm"
	// OpLayerNorm is (x − μ) / sqrt(mean((x − μ)², last axis) + eps) · g + b
	// with μ = mean(x, last axis): x [..., C], g and b [C] (LayerNorm with
	// gain and bias; the variance is the biased one, divided by C).
	OpLayerNorm = "layernorm"
	// OpGELU is the tanh approximation of GELU, elementwise:
	// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
	OpGELU = "gelu"
	// OpSiLU is x·σ(x), elementwise (the SiLU or swish activation).
	OpSiLU = "silu"
	// OpCrossEntropy is the mean over every position of
	// −log_softmax(logits)[..., target]: logits [..., V], targets i32[...]
	// → f32[].
	OpCrossEntropy = "cross_entropy"
)

// The constants of the tanh approximation of GELU.
var (
	// GELUScale is √(2/π).
	GELUScale = math.Sqrt(2 / math.Pi)
	// GELUCubic is the coefficient of x³.
	GELUCubic = 0.044715
)

func init() {
	define("normalisation, activations, loss",
		&OpDef{Name: OpRMSNorm, Doc: "fused RMS normalisation with gain", Fused: true,
			Args:  []ArgDef{f32("x"), f32("g")},
			Attrs: []AttrDef{attr("eps", AttrFloat, "added to the mean square")},
			Type: func(args []*Value, _ Attrs) (Type, error) {
				x, g := args[0].Type.Shape, args[1].Type.Shape
				if x.Rank() == 0 || g.Rank() != 1 || g[0] != last(x) {
					return Type{}, fmt.Errorf("rmsnorm: want x [..., C] and g [C], got %s and %s", x, g)
				}
				return Type{DType: F32, Shape: x.Clone()}, nil
			},
			// square, mean, div, mul per element; add, sqrt per row
			FLOPs: func(in [][]int, out []int, _ Attrs) int64 {
				n := numel(out)
				return 4*n + 2*(n/lastInt(in[0]))
			},
			Decompose: func(b *Builder, args []*Value, attrs Attrs) []*Value {
				x, g := args[0], args[1]
				r := b.Sqrt(b.Add(b.Mean(b.Square(x), -1), b.Const(attrs.Float("eps"))))
				return []*Value{b.Mul(b.Div(x, r), g)}
			}},
		&OpDef{Name: OpLayerNorm, Doc: "fused layer normalisation with gain and bias", Fused: true,
			Args:  []ArgDef{f32("x"), f32("g"), f32("b")},
			Attrs: []AttrDef{attr("eps", AttrFloat, "added to the variance")},
			Type: func(args []*Value, _ Attrs) (Type, error) {
				x, g, b := args[0].Type.Shape, args[1].Type.Shape, args[2].Type.Shape
				if x.Rank() == 0 || g.Rank() != 1 || g[0] != last(x) || !b.Equal(g) {
					return Type{}, fmt.Errorf("layernorm: want x [..., C], g [C] and b [C], got %s, %s and %s", x, g, b)
				}
				return Type{DType: F32, Shape: x.Clone()}, nil
			},
			// mean, sub, square, mean, div, mul, add per element; add, sqrt per row
			FLOPs: func(in [][]int, out []int, _ Attrs) int64 {
				n := numel(out)
				return 7*n + 2*(n/lastInt(in[0]))
			},
			Decompose: func(b *Builder, args []*Value, attrs Attrs) []*Value {
				x, g, bias := args[0], args[1], args[2]
				d := b.Sub(x, b.Mean(x, -1))
				r := b.Sqrt(b.Add(b.Mean(b.Square(d), -1), b.Const(attrs.Float("eps"))))
				return []*Value{b.Add(b.Mul(b.Div(d, r), g), bias)}
			}},
		&OpDef{Name: OpGELU, Doc: "fused GELU (tanh approximation)", Fused: true,
			Args: []ArgDef{f32("x")}, Type: sameType,
			FLOPs: perOutput(9), // the 9 elementwise ops of the decomposition
			Decompose: func(b *Builder, args []*Value, _ Attrs) []*Value {
				x := args[0]
				x3 := b.Mul(b.Square(x), x)
				inner := b.Scale(b.Add(x, b.Scale(x3, GELUCubic)), GELUScale)
				return []*Value{b.Mul(b.Scale(x, 0.5), b.Add(b.Tanh(inner), b.Const(1)))}
			}},
		&OpDef{Name: OpSiLU, Doc: "fused SiLU x·σ(x)", Fused: true,
			Args: []ArgDef{f32("x")}, Type: sameType,
			FLOPs: perOutput(2), // sigmoid and product
			Decompose: func(b *Builder, args []*Value, _ Attrs) []*Value {
				return []*Value{b.Mul(args[0], b.Sigmoid(args[0]))}
			}},
		&OpDef{Name: OpCrossEntropy, Doc: "fused log-softmax, pick and mean", Fused: true,
			Args: []ArgDef{f32("logits"), {"targets", ArgI32}},
			Type: func(args []*Value, _ Attrs) (Type, error) {
				x, t := args[0].Type, args[1].Type
				if x.Shape.Rank() != t.Shape.Rank()+1 || !x.Shape[:t.Shape.Rank()].Equal(t.Shape) {
					return Type{}, fmt.Errorf("cross_entropy: want logits [..., V] and i32 targets [...], got %s and %s", x, t)
				}
				return Type{DType: F32}, nil
			},
			// log_softmax, the mean of the picked values, the negation
			FLOPs: func(in [][]int, _ []int, _ Attrs) int64 { return 5*numel(in[0]) + numel(in[1]) + 1 },
			Decompose: func(b *Builder, args []*Value, _ Attrs) []*Value {
				logp := b.Pick(b.LogSoftmax(args[0]), args[1])
				return []*Value{b.Neg(b.Reshape(b.Mean(logp, allAxes(logp.Type.Shape.Rank())...), Shape{}))}
			}},
	)
}
