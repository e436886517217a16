package ir

import (
	"fmt"
	"sort"
)

// InferType computes the result type of op applied to args with attrs, or
// explains why the combination is ill-typed. Params and inputs carry their
// type as given and are not inferred.
func InferType(op string, args []*Value, attrs Attrs) (Type, error) {
	info, ok := LookupOp(op)
	if !ok {
		return Type{}, fmt.Errorf("unknown op %q", op)
	}
	if info.Arity >= 0 && len(args) != info.Arity {
		return Type{}, fmt.Errorf("%s takes %d arguments, got %d", op, info.Arity, len(args))
	}
	for i, a := range args {
		if a == nil {
			return Type{}, fmt.Errorf("%s: argument %d is undefined", op, i)
		}
	}
	switch op {
	case OpParam, OpInput:
		return Type{}, fmt.Errorf("%s values carry their own type", op)
	case OpConst:
		return Type{DType: F32}, nil
	case OpPermutations:
		n := attrs.Int("n")
		if n < 1 || n > MaxPermutationsN {
			return Type{}, fmt.Errorf("permutations: n=%d out of range [1, %d]", n, MaxPermutationsN)
		}
		return Type{DType: F32, Shape: Dims(Factorial(n), n*n)}, nil
	case OpNeg, OpExp, OpLog, OpSqrt, OpSquare, OpSigmoid, OpTanh, OpRelu,
		OpSoftmax, OpLogSoftmax:
		if err := wantF32(op, args[0]); err != nil {
			return Type{}, err
		}
		if (op == OpSoftmax || op == OpLogSoftmax) && args[0].Type.Shape.Rank() == 0 {
			return Type{}, fmt.Errorf("%s of a scalar", op)
		}
		return args[0].Type, nil
	case OpAdd, OpSub, OpMul, OpDiv:
		if err := wantF32(op, args[0]); err != nil {
			return Type{}, err
		}
		if err := wantF32(op, args[1]); err != nil {
			return Type{}, err
		}
		s, err := BroadcastShapes(args[0].Type.Shape, args[1].Type.Shape)
		if err != nil {
			return Type{}, fmt.Errorf("%s: %w", op, err)
		}
		return Type{DType: F32, Shape: s}, nil
	case OpSum, OpMean, OpMax:
		if err := wantF32(op, args[0]); err != nil {
			return Type{}, err
		}
		axes := attrs.Ints("axes")
		s := args[0].Type.Shape.Clone()
		if len(axes) == 0 {
			return Type{}, fmt.Errorf("%s needs at least one axis", op)
		}
		if !sort.IntsAreSorted(axes) {
			return Type{}, fmt.Errorf("%s: axes %v are not ascending", op, axes)
		}
		for i, ax := range axes {
			if ax < 0 || ax >= len(s) || (i > 0 && axes[i-1] == ax) {
				return Type{}, fmt.Errorf("%s: bad axis %d for shape %s", op, ax, args[0].Type.Shape)
			}
			s[ax] = D(1)
		}
		return Type{DType: F32, Shape: s}, nil
	case OpReshape:
		to := attrs.Shape("shape")
		if !sameSize(args[0].Type.Shape, to) {
			return Type{}, fmt.Errorf("reshape: cannot reshape %s to %s", args[0].Type.Shape, to)
		}
		return Type{DType: args[0].Type.DType, Shape: to.Clone()}, nil
	case OpTranspose:
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
	case OpSlice:
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
	case OpBroadcast:
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
	case OpMatmul:
		return inferMatmul(args[0].Type.Shape, args[1].Type.Shape, attrs.Bool("trans_b"))
	case OpGather:
		t, idx := args[0].Type, args[1].Type
		if t.DType != F32 || t.Shape.Rank() != 2 {
			return Type{}, fmt.Errorf("gather: table must be f32[V,C], got %s", t)
		}
		if idx.DType != I32 {
			return Type{}, fmt.Errorf("gather: indices must be i32, got %s", idx)
		}
		return Type{DType: F32, Shape: append(idx.Shape.Clone(), t.Shape[1])}, nil
	case OpPick:
		x, idx := args[0].Type, args[1].Type
		if x.DType != F32 || idx.DType != I32 {
			return Type{}, fmt.Errorf("pick: want f32 values and i32 indices, got %s and %s", x, idx)
		}
		if x.Shape.Rank() != idx.Shape.Rank()+1 || !x.Shape[:idx.Shape.Rank()].Equal(idx.Shape) {
			return Type{}, fmt.Errorf("pick: indices %s do not match values %s", idx.Shape, x.Shape)
		}
		return Type{DType: F32, Shape: idx.Shape.Clone()}, nil
	case OpCausalMask:
		s := args[0].Type.Shape
		if s.Rank() < 2 || s[s.Rank()-1] != s[s.Rank()-2] {
			return Type{}, fmt.Errorf("causal_mask: want [..., T, T], got %s", s)
		}
		return args[0].Type, nil
	case OpRope:
		s := args[0].Type.Shape
		if s.Rank() < 2 || s[s.Rank()-1].IsSym() || s[s.Rank()-1].N%2 != 0 {
			return Type{}, fmt.Errorf("rope: want [..., T, D] with even constant D, got %s", s)
		}
		return args[0].Type, nil
	case OpRMSNorm, OpSinkhorn, OpHCCoeffs, OpHCRead, OpHCWrite, OpAttention, OpCrossEntropy, OpMatmulConcat, OpGELU:
		return inferFused(op, args, attrs)
	}
	return Type{}, fmt.Errorf("no type rule for op %q", op)
}

// last returns the last dimension of s (the zero Dim for a scalar).
func last(s Shape) Dim {
	if len(s) == 0 {
		return Dim{}
	}
	return s[len(s)-1]
}

func inferFused(op string, args []*Value, attrs Attrs) (Type, error) {
	for _, a := range args {
		if a.Type.DType != F32 && !(op == OpCrossEntropy && a == args[1]) {
			return Type{}, fmt.Errorf("%s: want f32 arguments, got %s", op, a.Type)
		}
	}
	f32 := func(s Shape) (Type, error) { return Type{DType: F32, Shape: s.Clone()}, nil }
	switch op {
	case OpGELU:
		return f32(args[0].Type.Shape)
	case OpRMSNorm:
		x, g := args[0].Type.Shape, args[1].Type.Shape
		if x.Rank() == 0 || g.Rank() != 1 || g[0] != last(x) {
			return Type{}, fmt.Errorf("rmsnorm: want x [..., C] and g [C], got %s and %s", x, g)
		}
		return f32(x)
	case OpSinkhorn:
		s := args[0].Type.Shape
		if s.Rank() < 2 || s[s.Rank()-1] != s[s.Rank()-2] || attrs.Int("iters") < 1 {
			return Type{}, fmt.Errorf("sinkhorn: want [..., n, n] and iters ≥ 1, got %s iters=%d", s, attrs.Int("iters"))
		}
		return f32(s)
	case OpHCCoeffs:
		x, phi, alpha, bias := args[0].Type.Shape, args[1].Type.Shape, args[2].Type.Shape, args[3].Type.Shape
		n := attrs.Int("n")
		w := HCCoeffsWidth(n, attrs)
		if x.Rank() == 0 || phi.Rank() != 2 || phi[0] != last(x) || phi[1] != D(w) ||
			!alpha.Equal(Dims(3)) || !bias.Equal(Dims(w)) {
			return Type{}, fmt.Errorf("hc.coeffs: want x [..., K], phi [K, %d], alpha [3], bias [%d], got %s %s %s %s",
				w, w, x, phi, alpha, bias)
		}
		out := x.Clone()
		out[len(out)-1] = D(w)
		return f32(out)
	case OpHCRead:
		h, X := args[0].Type.Shape, args[1].Type.Shape
		if X.Rank() < 2 || !h.Equal(X[:X.Rank()-1]) {
			return Type{}, fmt.Errorf("hc.read: want hPre [..., n] and X [..., n, C], got %s and %s", h, X)
		}
		return f32(append(X[:X.Rank()-2].Clone(), last(X)))
	case OpHCWrite:
		hRes, X, hPost, y := args[0].Type.Shape, args[1].Type.Shape, args[2].Type.Shape, args[3].Type.Shape
		r := X.Rank()
		if r < 2 || !hPost.Equal(X[:r-1]) || !hRes.Equal(append(X[:r-1].Clone(), X[r-2])) ||
			!y.Equal(append(X[:r-2].Clone(), X[r-1])) {
			return Type{}, fmt.Errorf("hc.write: want hRes [..., n, n], X [..., n, C], hPost [..., n], y [..., C], got %s %s %s %s",
				hRes, X, hPost, y)
		}
		return f32(X)
	case OpAttention:
		q, k, v := args[0].Type.Shape, args[1].Type.Shape, args[2].Type.Shape
		if q.Rank() < 2 || !q.Equal(k) || !q[:q.Rank()-1].Equal(v[:v.Rank()-1]) {
			return Type{}, fmt.Errorf("attention: want q, k [..., T, d] and v [..., T, dv], got %s %s %s", q, k, v)
		}
		return f32(v)
	case OpCrossEntropy:
		x, t := args[0].Type, args[1].Type
		if t.DType != I32 || x.Shape.Rank() != t.Shape.Rank()+1 || !x.Shape[:t.Shape.Rank()].Equal(t.Shape) {
			return Type{}, fmt.Errorf("cross_entropy: want logits [..., V] and i32 targets [...], got %s and %s", x, t)
		}
		return Type{DType: F32}, nil
	case OpMatmulConcat:
		if len(args) < 2 {
			return Type{}, fmt.Errorf("matmul.concat needs x and at least one weight")
		}
		x := args[0].Type.Shape
		total := 0
		for _, w := range args[1:] {
			ws := w.Type.Shape
			if ws.Rank() != 2 || ws[0] != last(x) || ws[1].IsSym() {
				return Type{}, fmt.Errorf("matmul.concat: weight %s does not match x %s", ws, x)
			}
			total += ws[1].N
		}
		out := x.Clone()
		out[len(out)-1] = D(total)
		return f32(out)
	}
	return Type{}, fmt.Errorf("no type rule for op %q", op)
}

func wantF32(op string, v *Value) error {
	if v.Type.DType != F32 {
		return fmt.Errorf("%s: want f32, got %s", op, v.Type)
	}
	return nil
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

func inferMatmul(a, b Shape, transB bool) (Type, error) {
	if a.Rank() < 2 || b.Rank() < 2 {
		return Type{}, fmt.Errorf("matmul: operands must have rank ≥ 2, got %s and %s", a, b)
	}
	m, k := a[a.Rank()-2], a[a.Rank()-1]
	kb, n := b[b.Rank()-2], b[b.Rank()-1]
	if transB {
		kb, n = n, kb
	}
	if k != kb {
		return Type{}, fmt.Errorf("matmul: inner dimensions differ: %s × %s (trans_b=%v)", a, b, transB)
	}
	if b.Rank() != 2 && !a[:a.Rank()-2].Equal(b[:b.Rank()-2]) {
		return Type{}, fmt.Errorf("matmul: batch dimensions differ: %s × %s", a, b)
	}
	out := append(a[:a.Rank()-2].Clone(), m, n)
	return Type{DType: F32, Shape: out}, nil
}

// HCCoeffsWidth is the width 2n + R of an hc.coeffs result: R is the
// attribute res, or n² when it is absent.
func HCCoeffsWidth(n int, attrs Attrs) int {
	if r, ok := attrs.Get("res").(int); ok {
		return 2*n + r
	}
	return n*n + 2*n
}
