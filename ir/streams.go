package ir

// The stream-chain analysis: which values are hyper-connection stream
// tensors X_0 → X_1 → … read only by the fused hyper-connection ops, in
// which chain and at which position. The compiler uses it to say whether
// `recompute=true` can take effect, and a backend uses it to plan the
// memory and the gradients of the stream tensors; both call this one
// function, so they agree by construction.

// StreamTensor is one stream tensor X [..., n, C] and its readers.
type StreamTensor struct {
	X *Value
	// Chain numbers the chain X belongs to (0, 1, …) and Pos is X's place
	// in it: 0 for a tensor no planned hc.write produces (the stem), l for
	// the output of the hc.write that reads the chain's tensor l−1.
	Chain, Pos int
	// The readers: hc.coeffs (X as operand 0), hc.read and hc.write (X as
	// operand 1), rmsnorm (operand 0; HC's per-stream norm). Coeffs and
	// Read are nil when absent; Write is always set.
	Coeffs, Read, Write *Value
	Norms               []*Value
	// CoeffsBeforeRead reports that the hc.read depends on the hc.coeffs
	// (always so when both exist in a lowered module): their backward
	// passes then run in the opposite order.
	CoeffsBeforeRead bool
}

// Streams is the result of AnalyzeStreams.
type Streams struct {
	// Tensors are the stream tensors in module order.
	Tensors []*StreamTensor
	// Chains is the number of chains.
	Chains int
}

// StreamReader reports whether operand arg of v is one a stream tensor
// may feed: hc.coeffs 0, hc.read 1, hc.write 1, rmsnorm 0.
func StreamReader(v *Value, arg int) bool {
	switch v.Op {
	case OpHCCoeffs, OpRMSNorm:
		return arg == 0
	case OpHCRead, OpHCWrite:
		return arg == 1
	}
	return false
}

// AnalyzeStreams finds the stream tensors of m among the values live
// reports (every value when live is nil). A value X is a stream tensor
// when it is an f32 value of rank ≥ 2 whose every use (through reshapes)
// is a StreamReader operand — exactly one hc.write, at most one hc.coeffs
// and one hc.read, any number of rmsnorms — none is a module output, and
// every reader but the hc.write runs before it (the hc.write depends on
// each), so that X is dead once its hc.write has run in the forward pass.
func AnalyzeStreams(m *Module, live map[*Value]bool) *Streams {
	isLive := func(v *Value) bool { return live == nil || live[v] }
	index := make(map[*Value]int, len(m.Values))
	for i, v := range m.Values {
		index[v] = i
	}
	root := func(v *Value) *Value {
		for v.Op == OpReshape {
			v = v.Args[0]
		}
		return v
	}
	type use struct {
		v   *Value // nil: a module output
		arg int
	}
	uses := map[*Value][]use{}
	for _, v := range m.Values {
		if !isLive(v) || v.Op == OpReshape {
			continue // a reshape's readers count as its root's
		}
		for j, a := range v.Args {
			r := root(a)
			uses[r] = append(uses[r], use{v, j})
		}
	}
	for _, o := range m.Outputs {
		if o.Value != nil {
			r := root(o.Value)
			uses[r] = append(uses[r], use{nil, -1})
		}
	}
	// reaches reports whether a's value flows into b.
	reaches := func(a, b *Value) bool {
		lo := index[a]
		seen := map[*Value]bool{}
		stack := []*Value{b}
		for len(stack) > 0 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if v == a {
				return true
			}
			if seen[v] || index[v] < lo {
				continue
			}
			seen[v] = true
			stack = append(stack, v.Args...)
		}
		return false
	}

	s := &Streams{}
	byValue := map[*Value]*StreamTensor{}
	for _, X := range m.Values {
		if !isLive(X) || X.Type.DType != F32 || len(X.Type.Shape) < 2 || len(uses[X]) == 0 {
			continue
		}
		t := &StreamTensor{X: X}
		ok := true
		for _, u := range uses[X] {
			switch {
			case u.v == nil || !StreamReader(u.v, u.arg):
				ok = false
			case u.v.Op == OpHCWrite && t.Write == nil:
				t.Write = u.v
			case u.v.Op == OpHCRead && t.Read == nil:
				t.Read = u.v
			case u.v.Op == OpHCCoeffs && t.Coeffs == nil:
				t.Coeffs = u.v
			case u.v.Op == OpRMSNorm:
				t.Norms = append(t.Norms, u.v)
			default:
				ok = false // a second hc.write, hc.read or hc.coeffs
			}
		}
		if !ok || t.Write == nil {
			continue
		}
		for _, r := range append([]*Value{t.Coeffs, t.Read}, t.Norms...) {
			if r != nil && !reaches(r, t.Write) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		t.CoeffsBeforeRead = t.Coeffs != nil && t.Read != nil && reaches(t.Coeffs, t.Read)
		t.Chain = -1
		if X.Op == OpHCWrite {
			if prev := byValue[root(X.Args[1])]; prev != nil {
				t.Chain, t.Pos = prev.Chain, prev.Pos+1
			}
		}
		if t.Chain < 0 {
			t.Chain = s.Chains
			s.Chains++
		}
		byValue[X] = t
		s.Tensors = append(s.Tensors, t)
	}
	return s
}
