package ir

import "fmt"

// Leaves: values with no operands.
const (
	// OpParam is a trainable tensor. Attrs: name (the model path and
	// checkpoint name), init, decay (AdamW weight decay applies) and,
	// optionally, trainable=false for a tensor of the model that no
	// gradient updates (a router's selection bias, which the runtime sets
	// from the observed expert load; see ParamTrainable).
	OpParam = "param"
	// OpInput is a tensor fed each step. Attrs: name.
	OpInput = "input"
	// OpConst is a scalar constant f32[]. Attrs: value.
	OpConst = "const"
	// OpPermutations is the constant table of the n! permutation matrices
	// of size n×n, f32[n!, n²]: row p is vec(P_p) (row-major), where
	// P_p[i, π_p(i)] = 1 and every other entry is 0, for the permutations
	// π_p of 0..n−1 in lexicographic order (row 0 is the identity; see
	// Permutations). Attrs: n (1 ≤ n ≤ MaxPermutationsN). It has no
	// operands and no gradient.
	OpPermutations = "permutations"
)

// ownType is the type rule of params and inputs, whose values carry their
// type as declared.
func ownType(op string) func([]*Value, Attrs) (Type, error) {
	return func([]*Value, Attrs) (Type, error) {
		return Type{}, fmt.Errorf("%s values carry their own type", op)
	}
}

func init() {
	define("leaves",
		&OpDef{Name: OpParam, Doc: "trainable tensor",
			Attrs: []AttrDef{
				attr("name", AttrString, "the model path, also the checkpoint tensor name"),
				attr("init", AttrInit, "how the tensor is initialised"),
				attr("decay", AttrBool, "whether AdamW's weight decay applies"),
				optAttr("trainable", AttrBool, "false: no gradient or optimizer updates it (default true)"),
			},
			Type: ownType(OpParam), FLOPs: zeroFLOPs},
		&OpDef{Name: OpInput, Doc: "tensor fed each step",
			Attrs: []AttrDef{attr("name", AttrString, "the name the runtime feeds")},
			Type:  ownType(OpInput), FLOPs: zeroFLOPs, NoGrad: true},
		&OpDef{Name: OpConst, Doc: "scalar constant",
			Attrs: []AttrDef{attr("value", AttrFloat, "the constant")},
			Type:  func([]*Value, Attrs) (Type, error) { return Type{DType: F32}, nil },
			FLOPs: zeroFLOPs, NoGrad: true},
		&OpDef{Name: OpPermutations, Doc: "constant table of the n! permutation matrices",
			Attrs: []AttrDef{attr("n", AttrInt, "the matrix size, 1 to MaxPermutationsN")},
			Type: func(_ []*Value, attrs Attrs) (Type, error) {
				n := attrs.Int("n")
				if n < 1 || n > MaxPermutationsN {
					return Type{}, fmt.Errorf("permutations: n=%d out of range [1, %d]", n, MaxPermutationsN)
				}
				return Type{DType: F32, Shape: Dims(Factorial(n), n*n)}, nil
			},
			FLOPs: zeroFLOPs, NoGrad: true},
	)
}

// ParamTrainable reports whether a param value is trained by gradient:
// true unless its attribute trainable is false.
func ParamTrainable(v *Value) bool {
	t, ok := v.Attrs.Get("trainable").(bool)
	return !ok || t
}
