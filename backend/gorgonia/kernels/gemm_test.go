package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// BenchmarkSgemm times one 2048×512×128 float32 product on the calling
// goroutine at every level of the native kernel the CPU runs and with
// gonum's pure-Go GEMM.
func BenchmarkSgemm(b *testing.B) {
	for l := CPUSgemmLevel(); l >= SgemmGo; l-- {
		b.Run(l.String(), func(b *testing.B) {
			old := SetSgemmLevel(l)
			defer SetSgemmLevel(old)
			m, n, k := 2048, 512, 128
			a := make([]float32, m*k)
			bb := make([]float32, k*n)
			c := make([]float32, m*n)
			for i := range a {
				a[i] = float32(i%7) + 1
			}
			for i := range bb {
				bb[i] = float32(i%5) + 1
			}
			for i := 0; i < b.N; i++ {
				gemm(false, false, m, n, k, a, k, bb, n, 0, c, n)
			}
			b.ReportMetric(float64(2*m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestGemmPaths checks smallGemm and the BLAS path against a naive product
// in float64.
func TestGemmPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, s := range [][3]int{{4, 128, 4}, {1, 1, 1}, {3, 5, 2}, {40, 50, 30}} {
		m, n, k := s[0], s[1], s[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				a := make([]float64, m*k)
				b := make([]float64, k*n)
				for i := range a {
					a[i] = rng.NormFloat64()
				}
				for i := range b {
					b[i] = rng.NormFloat64()
				}
				lda, ldb := k, n
				if ta {
					lda = m
				}
				if tb {
					ldb = k
				}
				want := make([]float64, m*n)
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						for p := 0; p < k; p++ {
							var av, bv float64
							if ta {
								av = a[p*lda+i]
							} else {
								av = a[i*lda+p]
							}
							if tb {
								bv = b[j*ldb+p]
							} else {
								bv = b[p*ldb+j]
							}
							want[i*n+j] += av * bv
						}
					}
				}
				got := make([]float64, m*n)
				smallGemm(ta, tb, m, n, k, a, lda, b, ldb, got, n)
				got2 := make([]float64, m*n)
				gonum.Implementation{}.Dgemm(map[bool]blas.Transpose{false: blas.NoTrans, true: blas.Trans}[ta],
					map[bool]blas.Transpose{false: blas.NoTrans, true: blas.Trans}[tb], m, n, k, 1, a, lda, b, ldb, 0, got2, n)
				for i := range want {
					if math.Abs(got[i]-want[i]) > 1e-12*float64(k) || math.Abs(got2[i]-want[i]) > 1e-12*float64(k) {
						t.Fatalf("%v ta=%v tb=%v: %v / %v, want %v", s, ta, tb, got[i], got2[i], want[i])
					}
				}
			}
		}
	}
}

// TestGemmSplit: the row-split product equals the one-call product exactly
// (each row block is computed by the same kernel with the same inner
// dimension) for every transpose combination, row counts that do not
// divide into the blocks, and strided operands.
func TestGemmSplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, tA := range []bool{false, true} {
		for _, tB := range []bool{false, true} {
			for _, m := range []int{130, 517} {
				g := newGemmCase(rng, m, 96, 160, tA, tB, 5)
				want, got := slices.Clone(g.c), slices.Clone(g.c)
				gemm(tA, tB, g.m, g.n, g.k, g.a, g.lda, g.b, g.ldb, 0, want, g.ldc)
				GemmSplit(tA, tB, g.m, g.n, g.k, g.a, g.lda, g.b, g.ldb, got, g.ldc)
				if i := firstDiff(want, got); i >= 0 {
					t.Fatalf("%s: c[%d] = %v split, %v whole", g, i, got[i], want[i])
				}
			}
		}
	}
}

// BenchmarkGemmSplit compares the one-goroutine product with the row split
// at the shapes of examples/bench/wide.mhc (N = 1024 tokens, width 512,
// MLP 2048): the MLP products forward and the weight gradient.
func BenchmarkGemmSplit(b *testing.B) {
	for _, s := range []struct {
		name    string
		tA      bool
		m, n, k int
	}{{"x·w1 1024x2048x512", false, 1024, 2048, 512}, {"dw1=xT·g 512x2048x1024", true, 512, 2048, 1024}} {
		a, bb, c := benchOperands(s.m, s.n, s.k)
		lda := s.k
		if s.tA {
			lda = s.m
		}
		for _, split := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/split=%v", s.name, split), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if split {
						GemmSplit(s.tA, false, s.m, s.n, s.k, a, lda, bb, s.n, c, s.n)
					} else {
						gemm(s.tA, false, s.m, s.n, s.k, a, lda, bb, s.n, 0, c, s.n)
					}
				}
				b.ReportMetric(float64(2*s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
