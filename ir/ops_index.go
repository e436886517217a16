package ir

import "fmt"

// Index ops: lookups by i32 indices (0 FLOPs).
const (
	// OpGather looks up rows: table [V, C], indices i32[...] → [..., C].
	OpGather = "gather"
	// OpPick selects along the last axis: x [..., V], indices i32[...] →
	// [...], result[...] = x[..., idx[...]].
	OpPick = "pick"
)

func init() {
	define("index",
		&OpDef{Name: OpGather, Doc: "row lookup (embedding)", Args: []ArgDef{f32("table"), {"indices", ArgI32}},
			Type: func(args []*Value, _ Attrs) (Type, error) {
				t, idx := args[0].Type, args[1].Type
				if t.Shape.Rank() != 2 {
					return Type{}, fmt.Errorf("gather: table must be f32[V,C], got %s", t)
				}
				return Type{DType: F32, Shape: append(idx.Shape.Clone(), t.Shape[1])}, nil
			},
			FLOPs: zeroFLOPs},
		&OpDef{Name: OpPick, Doc: "select one entry of the last axis per position", Args: []ArgDef{f32("x"), {"indices", ArgI32}},
			Type: func(args []*Value, _ Attrs) (Type, error) {
				x, idx := args[0].Type, args[1].Type
				if x.Shape.Rank() != idx.Shape.Rank()+1 || !x.Shape[:idx.Shape.Rank()].Equal(idx.Shape) {
					return Type{}, fmt.Errorf("pick: indices %s do not match values %s", idx.Shape, x.Shape)
				}
				return Type{DType: F32, Shape: idx.Shape.Clone()}, nil
			},
			FLOPs: zeroFLOPs},
	)
}
