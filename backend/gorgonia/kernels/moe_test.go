package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
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
// in slot order, and Row inverts Order.
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
	if err := p.build([]int{0, -1}, 4); err == nil {
		t.Error("a negative expert index was accepted")
	}
}

// BenchmarkMoEExperts times the routed experts' forward and backward at
// the shapes of examples/bench/moe.mhc (2048 tokens of width 128, k = 2,
// hidden 256, SwiGLU) with 8 and with 32 experts: the work is the same k
// experts per token, so the times should be close. Each iteration also
// runs the old kernels (moe_old_test.go: every hidden layer kept, the
// experts spread over the CPUs) on the same operands, alternating which
// goes first; the metrics are the medians of both (old-ms, new-ms) and
// their ratio new/old: the cost of recomputing, measured in one run.
func BenchmarkMoEExperts(b *testing.B) {
	const N, K, C, H = 2048, 2, 128, 256
	for _, E := range []int{8, 32} {
		b.Run(fmt.Sprintf("E%d", E), func(b *testing.B) {
			p := MoEExperts{N: N, K: K, C: C, H: H, E: E}
			c := newMoECase[float32](rand.New(rand.NewPCG(1, 2)), p, -1)
			c.outputs()
			var plan, oldPlan MoEPlan
			var s, tmp, oldS, oldTmp Side
			run := func(old bool) time.Duration {
				start := time.Now()
				if old {
					if err := moeOldFwd(p, c.x, c.idx, c.gates, c.w1, c.w3, c.w2, c.y, &oldPlan, &oldS); err != nil {
						b.Fatal(err)
					}
					moeOldBwd(p, c.gates, c.w1, c.w3, c.w2, c.gy, c.dx, c.dg, c.dw1, c.dw3, c.dw2, &oldPlan, &oldS, &oldTmp)
					return time.Since(start)
				}
				if err := MoEExpertsFwd(p, c.x, c.idx, c.gates, c.w1, c.w3, c.w2, c.y, &plan, &s, &tmp); err != nil {
					b.Fatal(err)
				}
				MoEExpertsBwd(p, c.x, c.gates, c.w1, c.w3, c.w2, c.gy, c.dx, c.dg, c.dw1, c.dw3, c.dw2, &plan, &s, &tmp)
				return time.Since(start)
			}
			var cur, old []float64
			for i := 0; b.Loop(); i++ {
				first := i%2 == 1
				t0 := run(first)
				t1 := run(!first)
				if first {
					t0, t1 = t1, t0
				}
				cur, old = append(cur, float64(t0)), append(old, float64(t1))
			}
			mn, mo := median(cur), median(old)
			b.ReportMetric(mo/1e6, "old-ms")
			b.ReportMetric(mn/1e6, "new-ms")
			b.ReportMetric(mn/mo, "new/old")
		})
	}
}

// moeCase is one call of the routed experts with random operands.
type moeCase[T Float] struct {
	p                        MoEExperts
	x, gates, w1, w3, w2, gy []T
	idx                      []int
	y, dx, dg, dw1, dw3, dw2 []T
}

func newMoECase[T Float](rng *rand.Rand, p MoEExperts, unused int) *moeCase[T] {
	fill := func(n int, scale float64) []T {
		x := make([]T, n)
		for i := range x {
			x[i] = T(rng.NormFloat64() * scale)
		}
		return x
	}
	c := &moeCase[T]{p: p, x: fill(p.N*p.C, 1), gates: fill(p.N*p.K, 1), gy: fill(p.N*p.C, 1),
		w1: fill(p.E*p.H*p.C, 0.3), w3: fill(p.E*p.H*p.C, 0.3), w2: fill(p.E*p.H*p.C, 0.3)}
	// k distinct experts per token, never expert `unused` (when ≥ 0)
	c.idx = make([]int, p.N*p.K)
	for t := 0; t < p.N; t++ {
		for j := 0; j < p.K; j++ {
			for {
				e := rng.IntN(p.E)
				if e != unused && !slices.Contains(c.idx[t*p.K:t*p.K+j], e) {
					c.idx[t*p.K+j] = e
					break
				}
			}
		}
	}
	return c
}

// outputs allocates the case's results, filled with NaN (a kernel that
// leaves an element unwritten shows).
func (c *moeCase[T]) outputs() {
	p := c.p
	nan := func(n int) []T {
		s := make([]T, n)
		for i := range s {
			s[i] = T(math.NaN())
		}
		return s
	}
	c.y, c.dx, c.dg = nan(p.N*p.C), nan(p.N*p.C), nan(p.N*p.K)
	c.dw1, c.dw3, c.dw2 = nan(p.E*p.H*p.C), nan(p.E*p.H*p.C), nan(p.E*p.H*p.C)
}

// poisonSide fills every slot of s with NaN: what another kernel sharing
// the scratch space may leave there.
func poisonSide(s *Side) {
	for _, b := range s.f32 {
		for i := range b[:cap(b)] {
			b[i] = float32(math.NaN())
		}
	}
	for _, b := range s.f64 {
		for i := range b[:cap(b)] {
			b[i] = math.NaN()
		}
	}
}

// sameBits reports the first element where a and b differ in bits.
func sameBits[T Float](a, b []T) (int, bool) {
	for i := range a {
		if math.Float64bits(float64(a[i])) != math.Float64bits(float64(b[i])) {
			return i, false
		}
	}
	return 0, true
}

// checkMoEAgainstKeepAll runs the old kernels (every hidden layer kept)
// and the new ones on the same case, twice (the second call with other
// routing and the scratch poisoned between forward and backward), and
// compares every result bit for bit; the forward without a state Side
// gives the same y.
func checkMoEAgainstKeepAll[T Float](t *testing.T, rng *rand.Rand, p MoEExperts, unused int) {
	t.Helper()
	var oldPlan, newPlan, fwdPlan MoEPlan
	var oldS, oldTmp, newS, tmp, fwdTmp Side
	for step := range 2 {
		c := newMoECase[T](rng, p, unused)
		want, got := *c, *c
		want.outputs()
		got.outputs()
		if err := moeOldFwd(p, c.x, c.idx, c.gates, c.w1, c.w3, c.w2, want.y, &oldPlan, &oldS); err != nil {
			t.Fatal(err)
		}
		moeOldBwd(p, c.gates, c.w1, c.w3, c.w2, c.gy, want.dx, want.dg, want.dw1, want.dw3, want.dw2, &oldPlan, &oldS, &oldTmp)
		if err := MoEExpertsFwd(p, c.x, c.idx, c.gates, c.w1, c.w3, c.w2, got.y, &newPlan, &newS, &tmp); err != nil {
			t.Fatal(err)
		}
		if step == 1 {
			poisonSide(&tmp)
		}
		MoEExpertsBwd(p, c.x, c.gates, c.w1, c.w3, c.w2, c.gy, got.dx, got.dg, got.dw1, got.dw3, got.dw2, &newPlan, &newS, &tmp)
		fwd := make([]T, len(want.y))
		poisonSide(&fwdTmp)
		if err := MoEExpertsFwd(p, c.x, c.idx, c.gates, c.w1, c.w3, c.w2, fwd, &fwdPlan, nil, &fwdTmp); err != nil {
			t.Fatal(err)
		}
		for _, r := range []struct {
			name      string
			want, got []T
		}{
			{"y", want.y, got.y}, {"y without state", want.y, fwd}, {"dx", want.dx, got.dx}, {"dgates", want.dg, got.dg},
			{"dw1", want.dw1, got.dw1}, {"dw3", want.dw3, got.dw3}, {"dw2", want.dw2, got.dw2},
		} {
			if i, ok := sameBits(r.want, r.got); !ok {
				t.Fatalf("step %d: %s[%d] = %v, kept-all kernels %v", step, r.name, i, r.got[i], r.want[i])
			}
		}
		if n := len(tmp.f32) + len(tmp.f64); n > 5 {
			t.Errorf("the kernels used %d scratch slots, want at most 5", n)
		}
	}
}

// TestMoEExpertsMatchKeepAll: the kernels that keep only x·W1ᵀ and x·W3ᵀ
// and recompute the rest give the results of the kernels that kept every
// hidden layer, bit for bit: float32 on every GEMM level and with and
// without the vector kernels, float64, SiLU and GELU, k = 1, 2, 3, an
// expert without tokens, shapes below and above the vector and parallel
// thresholds (the old kernels ran each expert's products on one
// goroutine, the new ones split them: gemmSplit).
func TestMoEExpertsMatchKeepAll(t *testing.T) {
	shapes := []struct {
		p      MoEExperts
		unused int
	}{
		{MoEExperts{N: 7, K: 2, C: 4, H: 6, E: 3}, -1},       // small: scalar paths, one goroutine
		{MoEExperts{N: 150, K: 2, C: 24, H: 40, E: 5}, 3},    // an expert without tokens
		{MoEExperts{N: 300, K: 3, C: 32, H: 20, E: 6}, -1},   // H < C
		{MoEExperts{N: 200, K: 1, C: 16, H: 300, E: 4}, -1},  // rows wider than a vector block
		{MoEExperts{N: 1024, K: 2, C: 64, H: 128, E: 3}, -1}, // products split over the CPUs
	}
	levels := []SgemmLevel{SgemmGo}
	for l := SgemmAVX2; l <= CPUSgemmLevel(); l++ {
		levels = append(levels, l)
	}
	for _, sh := range shapes {
		for _, gelu := range []bool{false, true} {
			p := sh.p
			p.GELU = gelu
			name := fmt.Sprintf("N%d_K%d_C%d_H%d_E%d_gelu=%v", p.N, p.K, p.C, p.H, p.E, gelu)
			t.Run(name+"/f64", func(t *testing.T) {
				checkMoEAgainstKeepAll[float64](t, rand.New(rand.NewPCG(3, uint64(p.N))), p, sh.unused)
			})
			for _, l := range levels {
				for _, vec := range []bool{true, false} {
					t.Run(fmt.Sprintf("%s/f32_%v_vec=%v", name, l, vec), func(t *testing.T) {
						defer SetSgemmLevel(SetSgemmLevel(l))
						defer setVectorKernels(setVectorKernels(vec))
						checkMoEAgainstKeepAll[float32](t, rand.New(rand.NewPCG(3, uint64(p.N))), p, sh.unused)
					})
				}
			}
		}
	}
}
