package kernels

import (
	"runtime"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// BLAS is a float32 and float64 BLAS: gonum's blas.Float32 and
// blas.Float64, such as gonum's pure-Go gonum.Implementation or the cgo
// binding netlib.Implementation.
type BLAS interface {
	blas.Float32
	blas.Float64
}

// theBLAS is the BLAS that gemm falls back to: gonum's pure-Go one unless
// SetBLAS installed another.
var theBLAS BLAS = gonum.Implementation{}

// SetBLAS makes b the BLAS of every product that the native float32 kernel
// does not run: all of them unless b is gonum's pure-Go implementation
// (the default). It is meant for package initialisation (the backend's
// openblas build sets OpenBLAS here and in Gorgonia together), not for
// while kernels run.
func SetBLAS(b BLAS) { theBLAS = b }

// CurrentBLAS returns the BLAS set by SetBLAS (gonum's pure-Go one by
// default).
func CurrentBLAS() BLAS { return theBLAS }

// gemm computes c = op(a)·op(b) + beta·c (row-major) on the calling
// goroutine. float32 products run the package's own kernel at the current
// level (sgemm*.c, CurrentSgemmLevel) while the BLAS is gonum's pure-Go
// default — it is several times faster — and otherwise theBLAS (e.g.
// OpenBLAS).
func gemm[T Float](tA, tB bool, m, n, k int, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m*n*k <= smallGemmWork && beta == 0 {
		smallGemm(tA, tB, m, n, k, a, lda, b, ldb, c, ldc)
		return
	}
	if a32, ok := any(a).([]float32); ok {
		// the native kernel writes nothing when it cannot allocate its
		// scratch; the BLAS computes the product then
		if l := CurrentSgemmLevel(); l > SgemmGo && cSgemm(l, tA, tB, m, n, k, a32, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc) {
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

// NativeSgemm reports whether float32 products run on the package's own
// kernel: CurrentSgemmLevel is AVX2 or AVX-512.
func NativeSgemm() bool { return CurrentSgemmLevel() > SgemmGo }

// useCSgemm reports whether gemm may use the native kernel for float32
// (UseNativeSgemm is set and the BLAS is gonum's default).
func useCSgemm() bool {
	if !UseNativeSgemm {
		return false
	}
	_, isGonum := theBLAS.(gonum.Implementation)
	return isGonum
}

// MatMul describes y = x·op(w) where x is [Batch, M, K] and w is shared
// [K, N] (or [N, K] with TransB) when Batch == 0 — then x is simply
// [rows=M, K] — or batched [Batch, K, N] / [Batch, N, K].
type MatMul struct {
	Batch   int // 0: shared weight
	M, K, N int
	TransB  bool
}

// ldw returns the leading dimension of a w matrix.
func (p MatMul) ldw() int {
	if p.TransB {
		return p.K
	}
	return p.N
}

// mmEach runs f for every batch element with the per-matrix slices.
func mmEach[T Float](p MatMul, f func(i int)) {
	if p.Batch == 0 {
		f(0)
		return
	}
	parallelFor(p.Batch, p.M*p.N*p.K, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			f(i)
		}
	})
}

// mmWOff is the offset of batch element i of w (0 for a shared weight).
func mmWOff(p MatMul, i int) int {
	if p.Batch == 0 {
		return 0
	}
	return i * p.K * p.N
}

// MatMulFwd computes y = x·op(w).
func MatMulFwd[T Float](p MatMul, x, w, y []T) {
	if p.Batch == 0 {
		GemmSplit(false, p.TransB, p.M, p.N, p.K, x, p.K, w, p.ldw(), y, p.N)
		return
	}
	mmEach[T](p, func(i int) {
		gemm(false, p.TransB, p.M, p.N, p.K, x[i*p.M*p.K:], p.K, w[mmWOff(p, i):], p.ldw(), 0, y[i*p.M*p.N:], p.N)
	})
}

// GemmSplit computes c = op(a)·op(b) (beta 0) for one large product that
// runs outside any other parallel loop, on GOMAXPROCS goroutines with the
// native kernel (sgemmSplit), each element exactly as gemm computes it. A
// BLAS other than the native kernel (OpenBLAS) threads by itself and gets
// the whole product.
func GemmSplit[T Float](tA, tB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int) {
	gemmSplit(tA, tB, m, n, k, a, lda, b, ldb, 0, c, ldc)
}

// gemmSplit is GemmSplit with c = op(a)·op(b) + beta·c: each element
// exactly as gemm computes it.
func gemmSplit[T Float](tA, tB bool, m, n, k int, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	w := runtime.GOMAXPROCS(0)
	a32, f32 := any(a).([]float32)
	l := CurrentSgemmLevel()
	if !f32 || l == SgemmGo || w < 2 || m*n*k < 1<<22 {
		gemm(tA, tB, m, n, k, a, lda, b, ldb, beta, c, ldc)
		return
	}
	sgemmSplit(l, w, tA, tB, m, n, k, a32, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
}

// MatMulGradX computes dx = g·op(w)ᵀ.
func MatMulGradX[T Float](p MatMul, w, g, dx []T) {
	if p.Batch == 0 {
		GemmSplit(false, !p.TransB, p.M, p.K, p.N, g, p.N, w, p.ldw(), dx, p.K)
		return
	}
	mmEach[T](p, func(i int) {
		gemm(false, !p.TransB, p.M, p.K, p.N, g[i*p.M*p.N:], p.N, w[mmWOff(p, i):], p.ldw(), 0, dx[i*p.M*p.K:], p.K)
	})
}

// MatMulGradW computes dw = xᵀ·g (or gᵀ·x for TransB); a shared weight
// sums over all rows (Batch == 0 means one GEMM over every row).
func MatMulGradW[T Float](p MatMul, x, g, dw []T) {
	if p.Batch == 0 {
		if p.TransB {
			GemmSplit(true, false, p.N, p.K, p.M, g, p.N, x, p.K, dw, p.K)
		} else {
			GemmSplit(true, false, p.K, p.N, p.M, x, p.K, g, p.N, dw, p.N)
		}
		return
	}
	mmEach[T](p, func(i int) {
		xo, go_, wo := i*p.M*p.K, i*p.M*p.N, mmWOff(p, i)
		if p.TransB {
			gemm(true, false, p.N, p.K, p.M, g[go_:], p.N, x[xo:], p.K, 0, dw[wo:], p.K)
		} else {
			gemm(true, false, p.K, p.N, p.M, x[xo:], p.K, g[go_:], p.N, 0, dw[wo:], p.N)
		}
	})
}

// smallGemmWork is the m·n·k below which plain loops beat a BLAS call
// (e.g. the per-token n×n stream mixes of hyper-connections).
const smallGemmWork = 1 << 14

// smallGemm is c = op(a)·op(b) with plain loops: rows of c as sums of
// scaled rows of b (four at a time), or dot products when b is transposed.
func smallGemm[T Float](tA, tB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int) {
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

// gemmTN computes c [m, n] = aᵀ·b for a [rows, m] and b [rows, n], the
// reduction over rows split across the CPUs (partials in side slot).
func gemmTN[T Float](m, n, rows int, a, b, c []T, s *Side, slot int) {
	w := nChunks(rows, 2*m*n)
	if w == 1 || m*n > 1<<16 {
		GemmSplit(true, false, m, n, rows, a, m, b, n, c, n)
		return
	}
	part := SideBuf[T](s, slot, w*m*n)
	parallelChunks(rows, w, func(ch, lo, hi int) {
		p := part[ch*m*n : (ch+1)*m*n]
		if hi == lo {
			clear(p)
			return
		}
		gemm(true, false, m, n, hi-lo, a[lo*m:], m, b[lo*n:], n, 0, p, n)
	})
	sumChunks(c, part, m*n, w)
}

// gemmRows computes c [m, n] = a [m, k]·op(b) with b [k, n] (or [n, k]
// with transB, leading dimension ldb), the rows of a split across the CPUs.
func gemmRows[T Float](transB bool, m, n, k int, a, b []T, ldb int, c []T) {
	if _, f32 := any(a).([]float32); f32 && NativeSgemm() {
		GemmSplit(false, transB, m, n, k, a, k, b, ldb, c, n)
		return
	}
	parallelFor(m, 2*n*k, func(lo, hi int) {
		if hi > lo {
			gemm(false, transB, hi-lo, n, k, a[lo*k:], k, b, ldb, 0, c[lo*n:], n)
		}
	})
}
