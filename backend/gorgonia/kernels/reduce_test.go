package kernels

import (
	"math/rand/v2"
	"testing"
)

// TestReduceSumMiddleAxis holds the sum over a middle axis ([B,T,n,C] ->
// [B,T,1,C], the collapse of hyper-connection streams and the backward of
// their stem broadcast), whose rows run through the vector add, to a plain
// loop that adds the n rows in order: equal bit for bit, for float32 with
// and without the vector kernels and for float64.
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

// prodOf returns the number of elements of shape.
func prodOf(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// BenchmarkStemCollapse times, interleaved in one run, the collapse sum
// of mHC over its streams (also the stem broadcast's backward) at the shape
// of examples/bench/wide.mhc ([8,128,4,512] -> [8,128,1,512], float32): a
// scalar loop over each row, as ReduceFwd ran it before (there with a
// strided index, so this "old" is if anything faster), against ReduceFwd
// (the vector add). It reports the median milliseconds of each and their
// ratio (new / old).
func BenchmarkStemCollapse(b *testing.B) {
	in, out := []int{8, 128, 4, 512}, []int{8, 128, 1, 512}
	p, err := BcastPlan(in, in, out)
	if err != nil {
		b.Fatal(err)
	}
	x, y := make([]float32, prodOf(in)), make([]float32, prodOf(out))
	for i := range x {
		x[i] = float32(i%97) / 97
	}
	n := p.dims[len(p.dims)-1]
	sumOld := func() {
		clear(y)
		p.rows(func(off []int) {
			xx, yy := x[off[0]:], y[off[1]:]
			for i := 0; i < n; i++ {
				yy[i] += xx[i]
			}
		})
	}
	sumNew := func() {
		clear(y)
		ReduceFwd(ReduceSum, p, x, y, 1)
	}
	interleaved(b, sumOld, sumNew)
}
