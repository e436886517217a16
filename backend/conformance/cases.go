package conformance

import (
	"fmt"

	"github.com/mhcc/mhcc/ir"
)

// Operand constructors for the case table.

// P is a parameter operand.
func P(dims ...int) Arg { return Arg{Kind: Param, Shape: dims} }

// PScaled is a parameter operand with N(0, scale²) values.
func PScaled(scale float64, dims ...int) Arg { return Arg{Kind: Param, Shape: dims, Scale: scale} }

// Pos is a parameter operand with values in [0.5, 1.5].
func Pos(dims ...int) Arg { return Arg{Kind: Positive, Shape: dims} }

// In is a fixed f32 operand (no gradient).
func In(dims ...int) Arg { return Arg{Kind: Fixed, Shape: dims} }

// Idx is an i32 operand with values in [0, below).
func Idx(below int, dims ...int) Arg { return Arg{Kind: Index, Shape: dims, Below: below} }

// IdxIs is an i32 operand with the given values.
func IdxIs(shape []int, vals ...int) Arg { return Arg{Kind: Index, Shape: shape, Ints: vals, Below: 1} }

// K is the scalar const c.
func K(c float64) Arg { return Arg{Kind: Scalar, Value: c} }

// SameAs is operand i again.
func SameAs(i int) Arg { return Arg{Kind: Same, Of: i} }

func attrs(kv ...any) ir.Attrs {
	var as ir.Attrs
	for i := 0; i < len(kv); i += 2 {
		as = append(as, ir.Attr{Key: kv[i].(string), Val: kv[i+1]})
	}
	return as
}

// Cases returns every case of the table, several per op: the shapes,
// broadcasts, ranks (up to 5), stream counts n ∈ {1, 2, 4}, sequence
// lengths (1, 5 and 64, where blocked kernels start) and operand kinds
// (parameters, fixed inputs, constants, one value on both sides) that
// exercise the different paths of a backend.
func Cases() []Case {
	var cs []Case
	add := func(name, op string, as ir.Attrs, args ...Arg) {
		cs = append(cs, Case{Name: op + "/" + name, Op: op, Args: args, Attrs: as})
	}

	// leaves: params, inputs and consts are the operands of every case;
	// permutations is a leaf of its own
	for _, n := range []int{1, 3} {
		add(fmt.Sprintf("n%d", n), ir.OpPermutations, attrs("n", n))
	}

	// elementwise
	for _, op := range []string{ir.OpNeg, ir.OpExp, ir.OpLog, ir.OpSqrt, ir.OpSquare, ir.OpSigmoid, ir.OpTanh, ir.OpRelu} {
		arg, arg5 := P(3, 4), P(2, 1, 3, 2, 2)
		if op == ir.OpLog || op == ir.OpSqrt {
			arg, arg5 = Pos(3, 4), Pos(2, 1, 3, 2, 2)
		}
		add("2d", op, nil, arg)
		add("rank5", op, nil, arg5)
	}
	binShapes := []struct {
		name string
		a, b []int
	}{
		{"same", []int{3, 4}, []int{3, 4}},
		{"row", []int{2, 3, 4}, []int{4}},
		{"left_low_rank", []int{4}, []int{2, 3, 4}},
		{"both", []int{2, 1, 4}, []int{3, 1}},
		{"col", []int{3, 4}, []int{3, 1}},
		{"rank4", []int{2, 3, 1, 4}, []int{1, 3, 5, 1}},
		{"rank5", []int{2, 3, 2, 1, 4}, []int{2, 3, 1, 3, 1}},
		{"rank5_stream_bias", []int{2, 2, 3, 4, 2}, []int{4, 2}},
		{"scalar_param", []int{}, []int{3, 4}},
		{"scalar_both", []int{}, []int{}},
	}
	for _, op := range []string{ir.OpAdd, ir.OpSub, ir.OpMul, ir.OpDiv} {
		for _, s := range binShapes {
			b := P(s.b...)
			if op == ir.OpDiv {
				b = Pos(s.b...)
			}
			add(s.name, op, nil, P(s.a...), b)
		}
		add("self", op, nil, Pos(3, 4), SameAs(0))
		add("const_right", op, nil, Pos(2, 3), K(1.7))
		add("const_left", op, nil, K(-0.6), Pos(2, 3))
		add("fixed_left", op, nil, In(2, 3), Pos(2, 3))
	}

	// reductions, softmax
	for _, op := range []string{ir.OpSum, ir.OpMean, ir.OpMax} {
		for _, ax := range []struct {
			name  string
			shape []int
			axes  []int
		}{
			{"mid", []int{2, 3, 4}, []int{1}},
			{"last", []int{2, 3, 4}, []int{2}},
			{"outer_and_last", []int{2, 3, 4}, []int{0, 2}},
			{"all", []int{2, 3, 4}, []int{0, 1, 2}},
			{"rank5", []int{2, 3, 2, 3, 2}, []int{2, 4}},
			{"size1_axis", []int{2, 1, 3}, []int{1}},
		} {
			add(ax.name, op, attrs("axes", ax.axes), P(ax.shape...))
		}
	}
	for _, op := range []string{ir.OpSoftmax, ir.OpLogSoftmax} {
		for _, s := range [][]int{{5}, {3, 5}, {2, 3, 4}, {2, 2, 3, 3}, {2, 1, 2, 3, 4}} {
			add(ir.Dims(s...).String(), op, nil, P(s...))
		}
	}

	// layout
	add("2d", ir.OpReshape, attrs("shape", ir.Dims(6, 4)), P(2, 3, 4))
	add("to_rank5", ir.OpReshape, attrs("shape", ir.Dims(2, 1, 3, 2, 2)), P(6, 4))
	add("i32", ir.OpReshape, attrs("shape", ir.Dims(6)), Idx(5, 2, 3))
	for _, t := range []struct {
		name  string
		shape []int
		perm  []int
	}{
		{"2d", []int{3, 4}, []int{1, 0}},
		{"square", []int{3, 3}, []int{1, 0}},
		{"3d", []int{2, 3, 4}, []int{2, 0, 1}},
		{"4d_heads", []int{2, 3, 2, 4}, []int{0, 2, 1, 3}},
		{"5d", []int{2, 3, 2, 4, 2}, []int{0, 1, 3, 2, 4}},
		{"identity", []int{2, 3}, []int{0, 1}},
	} {
		add(t.name, ir.OpTranspose, attrs("perm", t.perm), P(t.shape...))
	}
	add("i32", ir.OpTranspose, attrs("perm", []int{1, 0}), Idx(4, 2, 3))
	for _, s := range []struct {
		name             string
		shape            []int
		axis, start, end int
	}{
		{"mid", []int{2, 4, 3}, 1, 1, 3},
		{"last", []int{2, 4, 5}, 2, 2, 5},
		{"first", []int{4, 3}, 0, 1, 2},
		{"rank5", []int{2, 2, 3, 4, 2}, 3, 1, 3},
		{"full", []int{2, 3}, 1, 0, 3},
	} {
		add(s.name, ir.OpSlice, attrs("axis", s.axis, "start", s.start, "end", s.end), P(s.shape...))
	}
	add("i32", ir.OpSlice, attrs("axis", 1, "start", 1, "end", 3), Idx(6, 2, 4))
	add("mid", ir.OpBroadcast, attrs("shape", ir.Dims(2, 3, 4)), P(2, 1, 4))
	add("rank5", ir.OpBroadcast, attrs("shape", ir.Dims(2, 3, 2, 2, 2)), P(1, 3, 1, 1, 2))
	add("same", ir.OpBroadcast, attrs("shape", ir.Dims(2, 3)), P(2, 3))
	add("i32", ir.OpBroadcast, attrs("shape", ir.Dims(3, 2, 2)), Idx(4, 3, 1, 2))

	// matmul
	for _, mm := range []struct {
		name   string
		a, w   []int
		transB bool
	}{
		{"2d", []int{3, 4}, []int{4, 5}, false},
		{"2d_transb", []int{3, 4}, []int{5, 4}, true},
		{"shared_3d", []int{2, 3, 4}, []int{4, 5}, false},
		{"shared_3d_transb", []int{2, 3, 4}, []int{5, 4}, true},
		{"shared_4d", []int{2, 3, 2, 4}, []int{4, 3}, false},
		{"shared_5d_transb", []int{2, 1, 3, 2, 4}, []int{3, 4}, true},
		{"shared_n1", []int{2, 3, 4}, []int{4, 1}, false},
		{"shared_m1", []int{1, 4}, []int{4, 5}, false},
		{"shared_k1", []int{2, 3, 1}, []int{1, 5}, false},
		{"shared_all1", []int{1, 1}, []int{1, 1}, false},
		{"batched_3d", []int{2, 3, 4}, []int{2, 4, 5}, false},
		{"batched_3d_transb", []int{2, 3, 4}, []int{2, 5, 4}, true},
		{"batched_4d", []int{2, 2, 3, 4}, []int{2, 2, 4, 3}, false},
		{"batched_4d_transb", []int{2, 2, 3, 4}, []int{2, 2, 5, 4}, true},
		{"batched_5d", []int{2, 1, 2, 3, 4}, []int{2, 1, 2, 4, 2}, false},
		{"batched_5d_transb", []int{2, 1, 2, 3, 4}, []int{2, 1, 2, 2, 4}, true},
		{"batched_1x1", []int{3, 1, 1}, []int{3, 1, 1}, false},
		{"batched_stream_mix", []int{2, 3, 4, 4}, []int{2, 3, 4, 5}, false},
	} {
		add(mm.name, ir.OpMatmul, attrs("trans_b", mm.transB), P(mm.a...), P(mm.w...))
	}
	add("scores_self", ir.OpMatmul, attrs("trans_b", true), P(2, 3, 4), SameAs(0))

	// index
	add("2d_idx", ir.OpGather, nil, P(7, 3), Idx(7, 2, 3))
	add("1d_idx", ir.OpGather, nil, P(5, 4), Idx(5, 3))
	add("repeated", ir.OpPick, nil, P(2, 3, 5), Idx(5, 2, 3))
	add("2d", ir.OpPick, nil, P(4, 5), Idx(5, 4))
	add("vector", ir.OpPick, nil, P(5), Idx(5))

	// sequence
	add("3d", ir.OpCausalMask, nil, P(2, 4, 4)) // the −1e9 fill is compared too
	add("rank4", ir.OpCausalMask, nil, P(2, 2, 3, 3))
	add("3d", ir.OpRope, attrs("base", 10000.0), P(2, 4, 6))
	add("rank4", ir.OpRope, attrs("base", 100.0), P(2, 2, 3, 4))
	add("rank5", ir.OpRope, attrs("base", 10.0), P(1, 2, 2, 5, 2))
	for _, T := range []int{1, 5} {
		for _, causal := range []bool{true, false} {
			for _, lead := range [][]int{{2}, {2, 2}} {
				qk := append(append([]int(nil), lead...), T, 3)
				v := append(append([]int(nil), lead...), T, 4)
				add(fmt.Sprintf("T%d_causal=%v_%v", T, causal, lead), ir.OpAttention,
					attrs("scale", 0.6, "causal", causal), P(qk...), P(qk...), P(v...))
			}
		}
	}
	add("T64_blocked", ir.OpAttention, attrs("scale", 0.8, "causal", true), P(1, 64, 2), P(1, 64, 2), P(1, 64, 2))
	add("self", ir.OpAttention, attrs("scale", 0.5, "causal", true), P(2, 4, 3), SameAs(0), SameAs(0))
	add("only_v", ir.OpAttention, attrs("scale", 1.0, "causal", true), In(2, 4, 3), SameAs(0), P(2, 4, 2))

	// norm, activations, loss
	for _, s := range [][]int{{3, 5}, {2, 3, 4}, {2, 1, 3, 6}, {4, 1}} {
		add(fmt.Sprint(s), ir.OpRMSNorm, attrs("eps", 1e-5), P(s...), P(s[len(s)-1]))
	}
	add("fixed_gain", ir.OpRMSNorm, attrs("eps", 1e-6), P(2, 3, 4), In(4))
	for _, s := range [][]int{{3, 5}, {2, 3, 4}, {7}} {
		add(fmt.Sprint(s), ir.OpGELU, nil, P(s...))
	}
	add("wide", ir.OpGELU, nil, PScaled(4, 4, 6)) // reaches the saturated tails
	for _, s := range [][]int{{3, 5}, {2, 3, 4}, {7}} {
		add(fmt.Sprint(s), ir.OpSiLU, nil, P(s...))
	}
	add("wide", ir.OpSiLU, nil, PScaled(6, 4, 6))
	add("3d", ir.OpCrossEntropy, nil, P(2, 3, 5), Idx(5, 2, 3))
	add("2d", ir.OpCrossEntropy, nil, P(4, 7), Idx(7, 4))
	add("one_row", ir.OpCrossEntropy, nil, P(1, 3), Idx(3, 1))
	add("qkv", ir.OpMatmulConcat, nil, P(2, 3, 4), P(4, 2), P(4, 3), P(4, 1))
	add("one", ir.OpMatmulConcat, nil, P(3, 4), P(4, 5))
	add("same_weight", ir.OpMatmulConcat, nil, P(2, 2, 3), P(3, 2), SameAs(1))

	// hyper-connections
	for _, n := range []int{1, 2, 4} {
		for _, it := range []int{1, 3, 20} {
			add(fmt.Sprintf("n%d_t%d", n, it), ir.OpSinkhorn, attrs("iters", it), P(2, 3, n, n))
		}
		const C = 3
		w := n*n + 2*n
		add(fmt.Sprintf("n%d", n), ir.OpHCCoeffs, attrs("n", n, "eps", 1e-6), P(2, 3, n*C), P(n*C, w), P(3), P(w))
		add(fmt.Sprintf("n%d", n), ir.OpHCRead, nil, P(2, 3, n), P(2, 3, n, 5))
		add(fmt.Sprintf("n%d", n), ir.OpHCWrite, nil, P(2, 3, n, n), P(2, 3, n, 5), P(2, 3, n), P(2, 3, 5))
	}
	for _, n := range []int{2, 3} { // constraint=permutations: a res part of n! columns
		const C = 3
		R := ir.Factorial(n)
		w := 2*n + R
		add(fmt.Sprintf("perm_n%d", n), ir.OpHCCoeffs, attrs("n", n, "eps", 1e-6, "res", R), P(2, 3, n*C), P(n*C, w), P(3), P(w))
	}
	// large: vector, blocked and parallel paths
	large := func(name, op string, as ir.Attrs, args ...Arg) {
		cs = append(cs, Case{Name: op + "/" + name, Op: op, Args: args, Attrs: as, Large: true})
	}
	for _, T := range []int{70, 128} {
		for _, causal := range []bool{true, false} {
			large(fmt.Sprintf("T%d_causal=%v", T, causal), ir.OpAttention, attrs("scale", 0.3, "causal", causal),
				P(2, 2, T, 8), P(2, 2, T, 8), P(2, 2, T, 5))
		}
	}
	for _, n := range []int{1, 2, 4} {
		const C = 128
		w := n*n + 2*n
		large(fmt.Sprintf("n%d_C128", n), ir.OpHCCoeffs, attrs("n", n, "eps", 1e-6), P(3, 7, n*C), P(n*C, w), P(3), P(w))
		large(fmt.Sprintf("n%d_C128", n), ir.OpHCRead, nil, P(3, 7, n), P(3, 7, n, C))
		large(fmt.Sprintf("n%d_C128", n), ir.OpHCWrite, nil, P(3, 7, n, n), P(3, 7, n, C), P(3, 7, n), P(3, 7, C))
	}
	large("3x7x128", ir.OpGELU, nil, P(3, 7, 128))
	large("3x7x128", ir.OpSiLU, nil, PScaled(3, 3, 7, 128))
	large("3x7x128", ir.OpRMSNorm, attrs("eps", 1e-6), P(3, 7, 128), P(128))
	large("64x96", ir.OpCrossEntropy, nil, P(64, 96), Idx(96, 64))
	large("qkv_128", ir.OpMatmulConcat, nil, P(3, 7, 128), P(128, 128), P(128, 128), P(128, 64))
	large("n4_t20", ir.OpSinkhorn, attrs("iters", 20), P(3, 70, 4, 4))

	add("only_x", ir.OpHCCoeffs, attrs("n", 2, "eps", 1e-6), P(3, 4), In(4, 8), In(3), In(8))
	add("fixed_h", ir.OpHCRead, nil, In(3, 2), P(3, 2, 4))
	add("only_y_and_post", ir.OpHCWrite, nil, In(3, 2, 2), In(3, 2, 4), P(3, 2), P(3, 4))
	for _, set := range caseSets {
		cs = append(cs, set()...)
	}
	return cs
}

// caseSets are the cases of op families defined in files of their own
// (cases_*.go), registered with addCases.
var caseSets []func() []Case

// addCases registers a family's cases; call it from the file's init.
func addCases(set func() []Case) { caseSets = append(caseSets, set) }

// C is a case of op with attributes and operands (set Large on the result
// for a large one).
func C(name, op string, as ir.Attrs, args ...Arg) Case {
	return Case{Name: op + "/" + name, Op: op, Args: args, Attrs: as}
}
