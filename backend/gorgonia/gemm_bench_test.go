package gorgonia

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
)

// BenchmarkGEMM times the large float32 products of examples/bench/wide.mhc
// and wide_plain.mhc (N = 8×128 = 1024 tokens, width 512, MLP 2048, QKV
// 1536, vocabulary 256) and the 1024³ product of `mhcc bench`'s matmul
// peak, each run as the backend runs it (kernels.GemmSplit: the native
// kernel on every core, or OpenBLAS with its threads), on every GEMM of
// this build and CPU except gonum's: the native levels, and OpenBLAS with
// -tags openblas. The GEMMs alternate within each iteration, so their
// GFLOP/s metrics (and ratio-to-openblas) are measured under the same load:
//
//	go test -tags openblas -run '^$' -bench GEMM -benchtime 20x ./backend/gorgonia
//
// GFLOP/s is per wall-clock second; GFLOP/cpu-s per second of the
// process's CPU time, which other processes on a shared machine disturb
// much less. With GOMAXPROCS=1 OPENBLAS_NUM_THREADS=1 the latter compares
// the kernels on one core; with more threads it also counts the time
// OpenBLAS's threads spend waiting for work.
func BenchmarkGEMM(b *testing.B) {
	shapes := []struct {
		name    string
		tA, tB  bool
		m, n, k int
	}{
		{"peak_1024x1024x1024", false, false, 1024, 1024, 1024},
		{"qkv_x·W_1024x1536x512", false, false, 1024, 1536, 512},
		{"mlp_up_x·W1_1024x2048x512", false, false, 1024, 2048, 512},
		{"mlp_down_h·W2_1024x512x2048", false, false, 1024, 512, 2048},
		{"mlp_dx_g·W1ᵀ_1024x512x2048", false, true, 1024, 512, 2048},
		{"mlp_dW1_xᵀ·g_512x2048x1024", true, false, 512, 2048, 1024},
		{"mlp_dW2_hᵀ·g_2048x512x1024", true, false, 2048, 512, 1024},
		{"head_x·Eᵀ_1024x256x512", false, true, 1024, 256, 512},
	}
	gemms := slices.DeleteFunc(GEMMs(), func(s string) bool { return s == GEMMGo })
	for _, s := range shapes {
		b.Run(s.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			a := make([]float32, s.m*s.k)
			bb := make([]float32, s.k*s.n)
			c := make([]float32, s.m*s.n)
			for i := range a {
				a[i] = rng.Float32() - 0.5
			}
			for i := range bb {
				bb[i] = rng.Float32() - 0.5
			}
			lda, ldb := s.k, s.n
			if s.tA {
				lda = s.m
			}
			if s.tB {
				ldb = s.k
			}
			elapsed, cpu := make([]time.Duration, len(gemms)), make([]time.Duration, len(gemms))
			run := func(i int) {
				restore, err := UseGEMM(gemms[i])
				if err != nil {
					b.Fatal(err)
				}
				start, cpu0 := time.Now(), cpuTime()
				kernels.GemmSplit(s.tA, s.tB, s.m, s.n, s.k, a, lda, bb, ldb, c, s.n)
				elapsed[i] += time.Since(start)
				cpu[i] += cpuTime() - cpu0
				restore()
			}
			for i := range gemms { // warm-up: packing buffers, OpenBLAS threads
				run(i)
			}
			clear(elapsed)
			clear(cpu)
			b.ResetTimer()
			for it := 0; it < b.N; it++ {
				for i := range gemms {
					run((i + it) % len(gemms)) // rotate the order
				}
			}
			flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
			for i, g := range gemms {
				b.ReportMetric(flops/elapsed[i].Seconds()/1e9, g+"-GFLOP/s")
				b.ReportMetric(flops/cpu[i].Seconds()/1e9, g+"-GFLOP/cpu-s")
			}
			if j := slices.Index(gemms, GEMMOpenBLAS); j >= 0 {
				for i, g := range gemms[:j] {
					b.ReportMetric(elapsed[j].Seconds()/elapsed[i].Seconds(), g+"/openblas")
					b.ReportMetric(cpu[j].Seconds()/cpu[i].Seconds(), g+"/openblas-cpu")
				}
			}
		})
	}
}
