package kernels

import (
	"math/rand/v2"
	"testing"
)

// TestReduceSumMiddleAxis holds the sum over a middle axis ([B,T,n,C] ->
// [B,T,1,C], the collapse of hyper-connection streams and the backward of
// their stem broadcast), whose rows run on several goroutines and through
// the vector add, to a plain loop that adds the n rows in order: equal bit
// for bit, for float32 with and without the vector kernels and for float64.
func TestReduceSumMiddleAxis(t *testing.T) {
	for _, sh := range [][]int{{8, 128, 4, 512}, {3, 5, 4, 300}, {2, 7, 3, 9}} {
		in := sh
		out := []int{sh[0], sh[1], 1, sh[3]}
		p, err := BcastPlan(in, in, out)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(3, 4))
		x := make([]float32, prodOf(in))
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		n, c := sh[2], sh[3]
		want := make([]float32, prodOf(out))
		for o := 0; o < sh[0]*sh[1]; o++ {
			for s := 0; s < n; s++ {
				for e := 0; e < c; e++ {
					want[o*c+e] += x[(o*n+s)*c+e]
				}
			}
		}
		for _, vec := range []bool{true, false} {
			old := setVectorKernels(vec)
			y := make([]float32, len(want))
			ReduceFwd(ReduceSum, p, x, y, 1)
			setVectorKernels(old)
			for i := range want {
				if y[i] != want[i] {
					t.Fatalf("%v vec=%v: y[%d] = %v, want %v", sh, vec, i, y[i], want[i])
				}
			}
		}
		x64 := make([]float64, len(x))
		want64 := make([]float64, len(want))
		for i, v := range x {
			x64[i] = float64(v) * 1.1
		}
		for i := range want64 {
			o, e := i/c, i%c
			for s := 0; s < n; s++ {
				want64[i] += x64[(o*n+s)*c+e]
			}
		}
		y64 := make([]float64, len(want64))
		ReduceFwd(ReduceSum, p, x64, y64, 1)
		for i := range want64 {
			if y64[i] != want64[i] {
				t.Fatalf("%v float64: y[%d] = %v, want %v", sh, i, y64[i], want64[i])
			}
		}
	}
}

// TestStridedCopyParallel holds the strided copies that split their rows
// across goroutines (a broadcast [B,T,1,C] -> [B,T,n,C] and a transpose,
// both large enough to split) to their definition, element by element.
func TestStridedCopyParallel(t *testing.T) {
	B, T, n, C := 8, 64, 4, 96
	src := make([]float32, B*T*C)
	for i := range src {
		src[i] = float32(i)
	}
	p, err := BcastPlan([]int{B, T, n, C}, []int{B, T, n, C}, []int{B, T, 1, C})
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, B*T*n*C)
	StridedCopy(p, src, dst)
	for o := 0; o < B*T; o++ {
		for s := 0; s < n; s++ {
			for e := 0; e < C; e++ {
				if got, want := dst[(o*n+s)*C+e], src[o*C+e]; got != want {
					t.Fatalf("broadcast: dst[%d,%d,%d] = %v, want %v", o, s, e, got, want)
				}
			}
		}
	}
	q, out := TransposePlan([]int{B * T, C}, []int{1, 0})
	dt := make([]float32, prodOf(out))
	StridedCopy(q, src, dt)
	for r := 0; r < B*T; r++ {
		for e := 0; e < C; e++ {
			if got, want := dt[e*B*T+r], src[r*C+e]; got != want {
				t.Fatalf("transpose: [%d,%d] = %v, want %v", e, r, got, want)
			}
		}
	}
}

// prodOf returns the number of elements of shape.
func prodOf(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
