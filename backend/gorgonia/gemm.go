package gorgonia

import (
	"runtime"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// blasImpl is a float32 and float64 BLAS (gonum's blas.Float32 and
// blas.Float64).
type blasImpl interface {
	blas.Float32
	blas.Float64
}

// theBLAS is the BLAS that gemm falls back to: gonum's pure-Go one unless
// the build installs another (blas_openblas.go, together with G.Use, so
// that Gorgonia's own ops and the kernels use the same one).
var theBLAS blasImpl = gonum.Implementation{}

// gemm computes c = op(a)·op(b) + beta·c (row-major). float32 products use
// the package's packed AVX2 kernel (sgemm_cgo.go) while the BLAS is gonum's
// pure-Go default — that kernel is several times faster and uses both
// cores — and otherwise theBLAS (e.g. OpenBLAS).
func gemm[T float](tA, tB bool, m, n, k int, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m*n*k <= smallGemmWork && beta == 0 {
		smallGemm(tA, tB, m, n, k, a, lda, b, ldb, c, ldc)
		return
	}
	if a32, ok := any(a).([]float32); ok && useCSgemm() {
		if cSgemm(tA, tB, m, n, k, a32, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc) {
			return
		}
	}
	ta, tb := blas.NoTrans, blas.NoTrans
	if tA {
		ta = blas.Trans
	}
	if tB {
		tb = blas.Trans
	}
	switch a := any(a).(type) {
	case []float32:
		theBLAS.Sgemm(ta, tb, m, n, k, 1, a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		theBLAS.Dgemm(ta, tb, m, n, k, 1, a, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
}

// UseNativeSgemm selects the package's own float32 GEMM kernel (when the
// build has cgo on amd64 and the CPU has AVX2/FMA) as long as the BLAS is
// gonum's default. Set it to false to always use the BLAS.
var UseNativeSgemm = true

func useCSgemm() bool {
	if !UseNativeSgemm {
		return false
	}
	_, isGonum := theBLAS.(gonum.Implementation)
	return isGonum
}

// parallelFor runs f(lo, hi) over [0, n) split into contiguous chunks, one
// per available CPU, when the total work (n·costPer) is large enough.
func parallelFor(n, costPer int, f func(lo, hi int)) {
	w := runtime.GOMAXPROCS(0)
	if w > n {
		w = n
	}
	if w <= 1 || n*costPer < 1<<15 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < w; i++ {
		lo, hi := i*n/w, (i+1)*n/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

// mm describes y = x·op(w) where x is [batch, m, k] and w is shared [k, n]
// (or [n, k] with transB) when batch == 0 — then x is simply [rows=m, k] —
// or batched [batch, k, n] / [batch, n, k].
type mm struct {
	batch   int // 0: shared weight
	m, k, n int
	transB  bool
}

// ldw returns the leading dimension of a w matrix.
func (p mm) ldw() int {
	if p.transB {
		return p.k
	}
	return p.n
}

// each runs f for every batch element with the per-matrix slices.
func mmEach[T float](p mm, f func(i int)) {
	if p.batch == 0 {
		f(0)
		return
	}
	parallelFor(p.batch, p.m*p.n*p.k, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			f(i)
		}
	})
}

func mmWOff(p mm, i int) int {
	if p.batch == 0 {
		return 0
	}
	return i * p.k * p.n
}

// mmFwd: y = x·op(w).
func mmFwd[T float](p mm, x, w, y []T) {
	if p.batch == 0 {
		gemmSplit(false, p.transB, p.m, p.n, p.k, x, p.k, w, p.ldw(), y, p.n)
		return
	}
	mmEach[T](p, func(i int) {
		gemm(false, p.transB, p.m, p.n, p.k, x[i*p.m*p.k:], p.k, w[mmWOff(p, i):], p.ldw(), 0, y[i*p.m*p.n:], p.n)
	})
}

// gemmSplit computes c = op(a)·op(b) (beta 0) for one large product that
// runs outside any other parallel loop: the rows of c are split into
// blocks that GOMAXPROCS goroutines take from a shared counter, so that
// both cores work on it and a core busy with another process only takes
// fewer blocks. A BLAS other than the native kernel (OpenBLAS) threads by
// itself and gets the whole product.
func gemmSplit[T float](tA, tB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int) {
	w := runtime.GOMAXPROCS(0)
	if _, f32 := any(a).([]float32); !f32 || !useCSgemm() || w < 2 || m < 128 || m*n*k < 1<<22 {
		gemm(tA, tB, m, n, k, a, lda, b, ldb, 0, c, ldc)
		return
	}
	// ~4 blocks per goroutine, each a multiple of 16 rows
	rows := max(16, (m/(4*w)+15)/16*16)
	blocks := (m + rows - 1) / rows
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(w, blocks) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= blocks {
					return
				}
				lo, hi := i*rows, min((i+1)*rows, m)
				aOff := lo * lda // row lo of op(a)
				if tA {
					aOff = lo // column lo of a
				}
				gemm(tA, tB, hi-lo, n, k, a[aOff:], lda, b, ldb, 0, c[lo*ldc:], ldc)
			}
		}()
	}
	wg.Wait()
}

// mmGradX: dx = g·op(w)ᵀ.
func mmGradX[T float](p mm, w, g, dx []T) {
	if p.batch == 0 {
		gemmSplit(false, !p.transB, p.m, p.k, p.n, g, p.n, w, p.ldw(), dx, p.k)
		return
	}
	mmEach[T](p, func(i int) {
		gemm(false, !p.transB, p.m, p.k, p.n, g[i*p.m*p.n:], p.n, w[mmWOff(p, i):], p.ldw(), 0, dx[i*p.m*p.k:], p.k)
	})
}

// mmGradW: dw = xᵀ·g (or gᵀ·x for transB); a shared weight sums over all rows
// (batch == 0 means one GEMM over every row).
func mmGradW[T float](p mm, x, g, dw []T) {
	if p.batch == 0 {
		if p.transB {
			gemmSplit(true, false, p.n, p.k, p.m, g, p.n, x, p.k, dw, p.k)
		} else {
			gemmSplit(true, false, p.k, p.n, p.m, x, p.k, g, p.n, dw, p.n)
		}
		return
	}
	mmEach[T](p, func(i int) {
		xo, go_, wo := i*p.m*p.k, i*p.m*p.n, mmWOff(p, i)
		if p.transB {
			gemm(true, false, p.n, p.k, p.m, g[go_:], p.n, x[xo:], p.k, 0, dw[wo:], p.k)
		} else {
			gemm(true, false, p.k, p.n, p.m, x[xo:], p.k, g[go_:], p.n, 0, dw[wo:], p.n)
		}
	})
}

// smallGemmWork is the m·n·k below which plain loops beat a BLAS call
// (e.g. the per-token n×n stream mixes of hyper-connections).
const smallGemmWork = 1 << 14

// smallGemm is c = op(a)·op(b) with plain loops: rows of c as sums of
// scaled rows of b (four at a time), or dot products when b is transposed.
func smallGemm[T float](tA, tB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int) {
	at := func(i, p int) T {
		if tA {
			return a[p*lda+i]
		}
		return a[i*lda+p]
	}
	if tB {
		for i := 0; i < m; i++ {
			crow := c[i*ldc : i*ldc+n]
			for j := range crow {
				brow := b[j*ldb : j*ldb+k]
				var s0, s1, s2, s3 T
				p := 0
				if !tA {
					arow := a[i*lda : i*lda+k]
					arow = arow[:len(brow)]
					for ; p+4 <= len(brow); p += 4 {
						s0 += arow[p] * brow[p]
						s1 += arow[p+1] * brow[p+1]
						s2 += arow[p+2] * brow[p+2]
						s3 += arow[p+3] * brow[p+3]
					}
				}
				for ; p < k; p++ {
					s0 += at(i, p) * brow[p]
				}
				crow[j] = (s0 + s1) + (s2 + s3)
			}
		}
		return
	}
	for i := 0; i < m; i++ {
		crow := c[i*ldc : i*ldc+n]
		p := 0
		for ; p+4 <= k; p += 4 {
			a0, a1, a2, a3 := at(i, p), at(i, p+1), at(i, p+2), at(i, p+3)
			b0 := b[p*ldb : p*ldb+n]
			b1 := b[(p+1)*ldb : (p+1)*ldb+n]
			b2 := b[(p+2)*ldb : (p+2)*ldb+n]
			b3 := b[(p+3)*ldb : (p+3)*ldb+n]
			b0, b1, b2, b3 = b0[:len(crow)], b1[:len(crow)], b2[:len(crow)], b3[:len(crow)]
			if p == 0 {
				for j := range crow {
					crow[j] = a0*b0[j] + a1*b1[j] + a2*b2[j] + a3*b3[j]
				}
			} else {
				for j := range crow {
					crow[j] += a0*b0[j] + a1*b1[j] + a2*b2[j] + a3*b3[j]
				}
			}
		}
		if p == 0 {
			clear(crow)
		}
		for ; p < k; p++ {
			ap := at(i, p)
			brow := b[p*ldb : p*ldb+n]
			brow = brow[:len(crow)]
			for j, v := range brow {
				crow[j] += ap * v
			}
		}
	}
}
