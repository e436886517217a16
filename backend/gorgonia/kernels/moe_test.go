package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestTopKTiesAndNaN: ties go to the lower index, NaN ranks below every
// number, and each index is chosen once.
func TestTopKTiesAndNaN(t *testing.T) {
	nan := math.NaN()
	x := []float64{
		1, 3, 3, 2, // tie between 1 and 2: 1 first
		nan, -5, nan, 0, // NaN last, the lower NaN first
		2, 2, 2, 2, // all equal: index order
	}
	y := make([]int, 3*3)
	TopK(x, y, 4, 3)
	want := []int{1, 2, 3, 3, 1, 0, 0, 1, 2}
	if !slices.Equal(y, want) {
		t.Errorf("TopK = %v, want %v", y, want)
	}
	y32 := make([]int, 3*3)
	x32 := make([]float32, len(x))
	for i, v := range x {
		x32[i] = float32(v)
	}
	TopK(x32, y32, 4, 3)
	if !slices.Equal(y32, want) {
		t.Errorf("float32 TopK = %v, want %v", y32, want)
	}
}

// TestExpertLoad: shares of the slots, and an index out of range is an
// error, not a panic.
func TestExpertLoad(t *testing.T) {
	y := make([]float64, 4)
	if err := ExpertLoad([]int{0, 0, 3, 1, 0, 3, 0, 1}, y); err != nil {
		t.Fatal(err)
	}
	if want := []float64{4.0 / 8, 2.0 / 8, 0, 2.0 / 8}; !slices.Equal(y, want) {
		t.Errorf("load = %v, want %v", y, want)
	}
	if err := ExpertLoad([]int{0, 4}, y); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("index 4 of 4 experts: err = %v", err)
	}
}

// TestMoEPlanGroupsSlotsByExpert: the rows of each expert are its slots
// in slot order, Row inverts Order, and experts are handed out largest
// first.
func TestMoEPlanGroupsSlotsByExpert(t *testing.T) {
	var p MoEPlan
	idx := []int{2, 0, 2, 2, 0, 1} // slots 0..5
	if err := p.build(idx, 4); err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 4, 5, 0, 2, 3}; !slices.Equal(p.Order, want) {
		t.Errorf("Order = %v, want %v", p.Order, want)
	}
	if want := []int{0, 2, 3, 6, 6}; !slices.Equal(p.Off, want) {
		t.Errorf("Off = %v, want %v", p.Off, want)
	}
	for s, r := range p.Row {
		if p.Order[r] != s {
			t.Errorf("Order[Row[%d]] = %d", s, p.Order[r])
		}
	}
	if want := []int{2, 0, 1}; !slices.Equal(p.experts, want) {
		t.Errorf("experts = %v, want %v", p.experts, want)
	}
	if err := p.build([]int{0, -1}, 4); err == nil {
		t.Error("a negative expert index was accepted")
	}
}

// BenchmarkMoEExperts times the routed experts' forward and backward at
// the shapes of examples/bench/moe.mhc (2048 tokens of width 128, k = 2,
// hidden 256) with 8 and with 32 experts: the work is the same k experts
// per token, so the times should be close.
func BenchmarkMoEExperts(b *testing.B) {
	const N, K, C, H = 2048, 2, 128, 256
	for _, E := range []int{8, 32} {
		b.Run(fmt.Sprintf("E%d", E), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			fill := func(n int) []float32 {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(rng.NormFloat64()) * 0.1
				}
				return x
			}
			x, gates, gy := fill(N*C), fill(N*K), fill(N*C)
			w1, w3, w2 := fill(E*H*C), fill(E*H*C), fill(E*H*C)
			idx := make([]int, N*K)
			for t := 0; t < N; t++ {
				a := rng.IntN(E)
				idx[t*K], idx[t*K+1] = a, (a+1+rng.IntN(E-1))%E
			}
			y, dx, dg := make([]float32, N*C), make([]float32, N*C), make([]float32, N*K)
			dw1, dw3, dw2 := make([]float32, E*H*C), make([]float32, E*H*C), make([]float32, E*H*C)
			p := MoEExperts{N: N, K: K, C: C, H: H, E: E}
			var plan MoEPlan
			var s, tmp Side
			b.ResetTimer()
			for range b.N {
				if err := MoEExpertsFwd(p, x, idx, gates, w1, w3, w2, y, &plan, &s); err != nil {
					b.Fatal(err)
				}
				MoEExpertsBwd(p, gates, w1, w3, w2, gy, dx, dg, dw1, dw3, dw2, &plan, &s, &tmp)
			}
		})
	}
}
