package ir

import (
	"fmt"
	"sort"
)

// Reductions over the attribute axes (non-negative, ascending), keeping
// the reduced axes with size 1; and the normalisations over the last axis.
const (
	OpSum  = "sum"
	OpMean = "mean"
	OpMax  = "max"

	// OpSoftmax and OpLogSoftmax normalise over the last axis.
	OpSoftmax    = "softmax"
	OpLogSoftmax = "log_softmax"
)

// reduceOp defines a keep-dims reduction: one FLOP per operand element.
func reduceOp(name, doc string) *OpDef {
	return &OpDef{Name: name, Doc: doc, Args: []ArgDef{f32("x")},
		Attrs: []AttrDef{attr("axes", AttrInts, "the reduced axes, ascending")},
		Type: func(args []*Value, attrs Attrs) (Type, error) {
			axes := attrs.Ints("axes")
			s := args[0].Type.Shape.Clone()
			if len(axes) == 0 {
				return Type{}, fmt.Errorf("%s needs at least one axis", name)
			}
			if !sort.IntsAreSorted(axes) {
				return Type{}, fmt.Errorf("%s: axes %v are not ascending", name, axes)
			}
			for i, ax := range axes {
				if ax < 0 || ax >= len(s) || (i > 0 && axes[i-1] == ax) {
					return Type{}, fmt.Errorf("%s: bad axis %d for shape %s", name, ax, args[0].Type.Shape)
				}
				s[ax] = D(1)
			}
			return Type{DType: F32, Shape: s}, nil
		},
		FLOPs: func(in [][]int, _ []int, _ Attrs) int64 { return numel(in[0]) }}
}

// softmaxOp defines a normalisation over the last axis: 5 FLOPs per
// element (max, subtract, exp, sum, divide or log).
func softmaxOp(name, doc string) *OpDef {
	return &OpDef{Name: name, Doc: doc, Args: []ArgDef{f32("x")},
		Type: func(args []*Value, _ Attrs) (Type, error) {
			if args[0].Type.Shape.Rank() == 0 {
				return Type{}, fmt.Errorf("%s of a scalar", name)
			}
			return args[0].Type, nil
		},
		FLOPs: perOutput(5)}
}

func init() {
	define("reductions and softmax",
		reduceOp(OpSum, "sum over axes, keeping them as size 1"),
		reduceOp(OpMean, "mean over axes, keeping them as size 1"),
		reduceOp(OpMax, "max over axes, keeping them as size 1"),
		softmaxOp(OpSoftmax, "softmax over the last axis"),
		softmaxOp(OpLogSoftmax, "log-softmax over the last axis"),
	)
}
