package ir

import (
	"fmt"
	"sort"
)

// Layout ops: they move data and compute nothing (0 FLOPs). They accept
// i32 operands too (token ids) and keep the operand's element type.
const (
	// OpReshape reinterprets the row-major data with attr shape.
	OpReshape = "reshape"
	// OpTranspose permutes axes: result axis i is operand axis perm[i].
	OpTranspose = "transpose"
	// OpSlice keeps indices [start, end) of attr axis.
	OpSlice = "slice"
	// OpBroadcast repeats size-1 axes to attr shape (same rank).
	OpBroadcast = "broadcast"
	// OpConcat joins x₁, x₂, … along attr axis: every other dimension
	// agrees, and the sizes along the axis are constants that add up.
	OpConcat = "concat"
)

func init() {
	anyArg := []ArgDef{{"x", ArgAny}}
	define("layout",
		&OpDef{Name: OpReshape, Doc: "row-major reshape", Args: anyArg,
			Attrs: []AttrDef{attr("shape", AttrShape, "the new shape, of the same size")},
			Type: func(args []*Value, attrs Attrs) (Type, error) {
				to := attrs.Shape("shape")
				if !sameSize(args[0].Type.Shape, to) {
					return Type{}, fmt.Errorf("reshape: cannot reshape %s to %s", args[0].Type.Shape, to)
				}
				return Type{DType: args[0].Type.DType, Shape: to.Clone()}, nil
			},
			FLOPs: zeroFLOPs},
		&OpDef{Name: OpTranspose, Doc: "axis permutation", Args: anyArg,
			Attrs: []AttrDef{attr("perm", AttrInts, "result axis i is operand axis perm[i]")},
			Type: func(args []*Value, attrs Attrs) (Type, error) {
				perm := attrs.Ints("perm")
				in := args[0].Type.Shape
				if len(perm) != len(in) {
					return Type{}, fmt.Errorf("transpose: perm %v does not match rank %d", perm, len(in))
				}
				seen := make([]bool, len(in))
				out := make(Shape, len(in))
				for i, p := range perm {
					if p < 0 || p >= len(in) || seen[p] {
						return Type{}, fmt.Errorf("transpose: %v is not a permutation", perm)
					}
					seen[p] = true
					out[i] = in[p]
				}
				return Type{DType: args[0].Type.DType, Shape: out}, nil
			},
			FLOPs: zeroFLOPs},
		&OpDef{Name: OpSlice, Doc: "[start, end) along one axis", Args: anyArg,
			Attrs: []AttrDef{
				attr("axis", AttrInt, "the sliced axis (constant size)"),
				attr("start", AttrInt, "first index kept"),
				attr("end", AttrInt, "one past the last index kept"),
			},
			Type: func(args []*Value, attrs Attrs) (Type, error) {
				ax, start, end := attrs.Int("axis"), attrs.Int("start"), attrs.Int("end")
				in := args[0].Type.Shape
				if ax < 0 || ax >= len(in) || in[ax].IsSym() {
					return Type{}, fmt.Errorf("slice: axis %d of %s is not a constant axis", ax, in)
				}
				if start < 0 || end > in[ax].N || start >= end {
					return Type{}, fmt.Errorf("slice: [%d, %d) out of range for axis of size %d", start, end, in[ax].N)
				}
				out := in.Clone()
				out[ax] = D(end - start)
				return Type{DType: args[0].Type.DType, Shape: out}, nil
			},
			FLOPs: zeroFLOPs},
		&OpDef{Name: OpBroadcast, Doc: "repeat size-1 axes", Args: anyArg,
			Attrs: []AttrDef{attr("shape", AttrShape, "the result shape, of the same rank")},
			Type: func(args []*Value, attrs Attrs) (Type, error) {
				to := attrs.Shape("shape")
				in := args[0].Type.Shape
				if len(to) != len(in) {
					return Type{}, fmt.Errorf("broadcast: rank of %s differs from %s", in, to)
				}
				for i := range in {
					if in[i] != to[i] && in[i] != D(1) {
						return Type{}, fmt.Errorf("broadcast: cannot broadcast %s to %s", in, to)
					}
				}
				return Type{DType: args[0].Type.DType, Shape: to.Clone()}, nil
			},
			FLOPs: zeroFLOPs},
		&OpDef{Name: OpConcat, Doc: "join along one axis", Args: []ArgDef{f32("x")}, Variadic: true,
			Attrs: []AttrDef{attr("axis", AttrInt, "the joined axis (constant sizes)")},
			Type: func(args []*Value, attrs Attrs) (Type, error) {
				ax := attrs.Int("axis")
				first := args[0].Type.Shape
				if ax < 0 || ax >= first.Rank() {
					return Type{}, fmt.Errorf("concat: axis %d out of range for %s", ax, first)
				}
				out := first.Clone()
				total := 0
				for i, a := range args {
					s := a.Type.Shape
					if s.Rank() != first.Rank() || s[ax].IsSym() {
						return Type{}, fmt.Errorf("concat: operand %d %s does not join %s along axis %d (constant size)", i, s, first, ax)
					}
					for d := range s {
						if d != ax && s[d] != first[d] {
							return Type{}, fmt.Errorf("concat: operand %d %s differs from %s outside axis %d", i, s, first, ax)
						}
					}
					total += s[ax].N
				}
				out[ax] = D(total)
				return Type{DType: F32, Shape: out}, nil
			},
			FLOPs: zeroFLOPs},
	)
}

// sameSize reports whether two shapes certainly have the same number of
// elements: equal constant products and the same multiset of symbols.
func sameSize(a, b Shape) bool {
	ca, sa := split(a)
	cb, sb := split(b)
	if ca != cb || len(sa) != len(sb) {
		return false
	}
	for i := range sa {
		if sa[i] != sb[i] {
			return false
		}
	}
	return true
}

func split(s Shape) (int, []string) {
	n := 1
	var syms []string
	for _, d := range s {
		if d.IsSym() {
			syms = append(syms, d.Sym)
		} else {
			n *= d.N
		}
	}
	sort.Strings(syms)
	return n, syms
}
