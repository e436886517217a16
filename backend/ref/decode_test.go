package ref

import (
	"math/rand/v2"
	"testing"

	"github.com/mhcc/mhcc/ir"
)

// The decoding ops against the ops they stand for: running the new
// positions over a cache of the earlier ones gives the rows of the full
// causal attention, and rope.at the rows of rope.

func randTensor(rng *rand.Rand, shape ...int) *Tensor {
	t := NewTensor(shape...)
	for i := range t.Data {
		t.Data[i] = rng.NormFloat64()
	}
	return t
}

// rows returns rows [from, to) of the second-to-last axis of x [L, N, d],
// in a tensor [L, to−from, d]; with pad > 0 the result has pad rows,
// zeros after the copied ones.
func rows(x *Tensor, from, to, pad int) *Tensor {
	L, N, d := x.Shape[0], x.Shape[1], x.Shape[2]
	n := max(pad, to-from)
	out := NewTensor(L, n, d)
	for l := 0; l < L; l++ {
		copy(out.Data[l*n*d:(l*n+to-from)*d], x.Data[(l*N+from)*d:(l*N+to)*d])
	}
	return out
}

func TestAttentionCachedEqualsCausalAttention(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const L, N, d, dv, S = 3, 7, 4, 5, 9
	q, k, v := randTensor(rng, L, N, d), randTensor(rng, L, N, d), randTensor(rng, L, N, dv)
	full := evalOp(t, ir.OpAttention, ir.Attrs{{Key: "scale", Val: 0.6}, {Key: "causal", Val: true}}, q, k, v)
	for _, split := range [][2]int{{0, 7}, {0, 1}, {3, 4}, {6, 7}, {2, 5}} {
		n, end := split[0], split[1]
		got, err := attentionCached(rows(q, n, end, 0), rows(k, n, end, 0), rows(v, n, end, 0),
			rows(k, 0, n, S), rows(v, 0, n, S), n, 0.6)
		if err != nil {
			t.Fatal(err)
		}
		want := rows(full, n, end, 0)
		for i := range want.Data {
			if !closeTo(got.Data[i], want.Data[i]) {
				t.Fatalf("cache %d, new %d…%d: [%d] = %v, full attention %v", n, n, end-1, i, got.Data[i], want.Data[i])
			}
		}
	}
	if _, err := attentionCached(rows(q, 0, 1, 0), rows(k, 0, 1, 0), rows(v, 0, 1, 0), rows(k, 0, 0, S), rows(v, 0, 0, S), S+1, 1); err == nil {
		t.Error("a cache length beyond the cache was accepted")
	}
}

func TestRopeAtEqualsRopeRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x := randTensor(rng, 2, 9, 6)
	full, err := rope(x, 500, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{0, 4, 8} {
		got, err := rope(rows(x, at, 9, 0), 500, at)
		if err != nil {
			t.Fatal(err)
		}
		want := rows(full, at, 9, 0)
		for i := range want.Data {
			if !closeTo(got.Data[i], want.Data[i]) {
				t.Fatalf("offset %d: [%d] = %v, rope %v", at, i, got.Data[i], want.Data[i])
			}
		}
	}
}

// evalOp evaluates op on constant tensors through a module.
func evalOp(t *testing.T, op string, attrs ir.Attrs, args ...*Tensor) *Tensor {
	t.Helper()
	c := newTB(t)
	var vs []*ir.Value
	for i, a := range args {
		vs = append(vs, c.p(string(rune('a'+i)), a.Shape, a.Data...))
	}
	return c.eval(c.b.Apply(op, attrs, vs...))
}
