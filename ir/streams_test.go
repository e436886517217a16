package ir

import "testing"

// streamModule builds L hyper-connected sublayers over X0 [B,T,n,C] with
// the fused ops (as -O2 leaves them): coefficients from hc.coeffs, the
// read, a sublayer y = u·w, and the write. extra(l, X) may add other uses
// of X_l.
func streamModule(t *testing.T, L int, extra func(b *Builder, l int, X *Value)) *Module {
	t.Helper()
	const n, C = 2, 3
	b := NewBuilder("s.mhc", "B", "T")
	x0 := b.Param("x0", Dims(1, 1, n, C), Init{Kind: "zeros"}, false)
	X := b.Broadcast(x0, Shape{S("B"), S("T"), D(n), D(C)})
	for l := range L {
		phi := b.Param(name("phi", l), Dims(n*C, n*n+2*n), Init{Kind: "zeros"}, true)
		alpha := b.Param(name("alpha", l), Dims(3), Init{Kind: "zeros"}, false)
		bias := b.Param(name("bias", l), Dims(n*n+2*n), Init{Kind: "zeros"}, false)
		w := b.Param(name("w", l), Dims(C, C), Init{Kind: "zeros"}, true)
		co := b.Apply(OpHCCoeffs, Attrs{{"n", n}, {"eps", 1e-6}}, b.Reshape(X, Shape{S("B"), S("T"), D(n * C)}), phi, alpha, bias)
		pre := b.Slice(co, -1, 0, n)
		post := b.Slice(co, -1, n, 2*n)
		res := b.Apply(OpSinkhorn, Attrs{{"iters", 3}}, b.Reshape(b.Slice(co, -1, 2*n, n*n+2*n), Shape{S("B"), S("T"), D(n), D(n)}))
		y := b.Matmul(b.Apply(OpHCRead, nil, pre, X), w, false)
		if extra != nil {
			extra(b, l, X)
		}
		X = b.Apply(OpHCWrite, nil, res, X, post, y)
	}
	b.Output("loss", b.Reshape(b.Sum(X, 0, 1, 2, 3), Shape{}))
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	return b.M
}

func name(s string, l int) string { return s + string(rune('0'+l)) }

func TestAnalyzeStreamsChain(t *testing.T) {
	m := streamModule(t, 4, nil)
	s := AnalyzeStreams(m, nil)
	// X_0 … X_3 are stream tensors of one chain; X_4 is read by the sum.
	if s.Chains != 1 || len(s.Tensors) != 4 {
		t.Fatalf("got %d chains, %d tensors; want 1 and 4", s.Chains, len(s.Tensors))
	}
	for i, st := range s.Tensors {
		if st.Pos != i || st.Chain != 0 || st.Coeffs == nil || st.Read == nil || st.Write == nil || !st.CoeffsBeforeRead {
			t.Errorf("tensor %d: %+v", i, st)
		}
		if i > 0 && st.X != s.Tensors[i-1].Write {
			t.Errorf("tensor %d is not the output of the previous tensor's hc.write", i)
		}
	}
}

func TestAnalyzeStreamsBreaks(t *testing.T) {
	// An extra reader of X_2 that is not a stream reader takes X_2 out, and
	// X_3 starts a new chain.
	m := streamModule(t, 4, func(b *Builder, l int, X *Value) {
		if l == 2 {
			b.Output("peek", X)
		}
	})
	s := AnalyzeStreams(m, nil)
	var pos []int
	for _, st := range s.Tensors {
		pos = append(pos, st.Pos)
	}
	if s.Chains != 2 || len(pos) != 3 || pos[0] != 0 || pos[1] != 1 || pos[2] != 0 {
		t.Fatalf("chains %d, positions %v; want 2 chains with positions [0 1 0]", s.Chains, pos)
	}
	// With live = nothing but the stem's parameter, there is no stream.
	if s := AnalyzeStreams(m, map[*Value]bool{m.Values[0]: true}); len(s.Tensors) != 0 {
		t.Fatalf("dead values analysed: %d tensors", len(s.Tensors))
	}
}

func TestStreamReader(t *testing.T) {
	for _, c := range []struct {
		op   string
		arg  int
		want bool
	}{{OpHCCoeffs, 0, true}, {OpHCCoeffs, 1, false}, {OpHCRead, 1, true}, {OpHCRead, 0, false},
		{OpHCWrite, 1, true}, {OpHCWrite, 3, false}, {OpRMSNorm, 0, true}, {OpMatmul, 0, false}} {
		if got := StreamReader(&Value{Op: c.op}, c.arg); got != c.want {
			t.Errorf("StreamReader(%s, %d) = %v", c.op, c.arg, got)
		}
	}
}
