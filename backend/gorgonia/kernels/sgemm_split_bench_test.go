package kernels

import (
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkSgemmSplitWide times sgemmSplit at the d 1536 model's shapes
// (M = 512 rows of batch × tokens, weights 1536×1536 and 1536×6144; the
// forward, dx = dy·Wᵀ and dW = xᵀ·dy) with the blocks of splitPlan
// ("plan") against blocks of rows only ("rows", splitBlocks), in one
// process so that the ratio is meaningful on a shared machine.
func BenchmarkSgemmSplitWide(b *testing.B) {
	w := runtime.GOMAXPROCS(0)
	l := CurrentSgemmLevel()
	if l == SgemmGo {
		b.Skip("no native GEMM on this machine")
	}
	for _, s := range []struct {
		name    string
		tA, tB  bool
		m, n, k int
	}{
		{"fwd_up", false, false, 512, 6144, 1536},
		{"fwd_down", false, false, 512, 1536, 6144},
		{"fwd_attn", false, false, 512, 1536, 1536},
		{"dx_up", false, true, 512, 1536, 6144},
		{"dx_down", false, true, 512, 6144, 1536},
		{"peak", false, false, 1024, 1024, 1024},
		{"dW_up", true, false, 1536, 6144, 512},
		{"dW_down", true, false, 6144, 1536, 512},
	} {
		a, bb, c := benchOperands(s.m, s.n, s.k)
		lda, ldb := s.k, s.n
		if s.tA {
			lda = s.m
		}
		if s.tB {
			ldb = s.k
		}
		rb, cb := splitBlocks(s.m, s.n, 4*w)
		for _, p := range []struct {
			name string
			p    splitPlanT
		}{{"rows", splitPlanT{rb, cb, 0}}, {"plan", splitPlan(s.m, s.n, w)}} {
			b.Run(fmt.Sprintf("%s/%s", s.name, p.name), func(b *testing.B) {
				for b.Loop() {
					sgemmSplitPlan(l, w, p.p, s.tA, s.tB, s.m, s.n, s.k, a, lda, bb, ldb, 0, c, s.n)
				}
				b.ReportMetric(float64(2*s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// benchOperands returns a (m×k) and b (k×n) filled with small integers
// and c (m×n) for a benchmark's product.
func benchOperands(m, n, k int) (a, b, c []float32) {
	a, b, c = make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for i := range a {
		a[i] = float32(i%7) + 1
	}
	for i := range b {
		b[i] = float32(i%5) + 1
	}
	return a, b, c
}
