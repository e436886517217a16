//go:build cgo && amd64

// The AVX2 level of the float32 GEMM (sgemm.c dispatches to it): a 6×16
// micro-kernel with 12 ymm accumulators, compiled for AVX2/FMA by
// function attribute.

#include <stddef.h>
#include <string.h>
#include <immintrin.h>
#include "kernels.h"

#define MR 6
#define NR 16
#define MC 96
#define NCB 1024
#define TARGET __attribute__((target("avx2,fma")))
#define FN(x) mhcc_sgemm_avx2_##x
#define KERNEL kernel256

// C[mr×nr] (+)= Ap·Bp over kc: the full 6×16 tile is computed in
// registers, the mr×nr corner stored (added to C when add).
TARGET static void kernel256(int kc, const float *Ap, const float *Bp, float *c, int ldc, int mr, int nr, int add) {
	__m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
	__m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
	__m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
	__m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
	__m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
	__m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
	for (int p = 0; p < kc; p++) {
		// the B panel streams from L2: fetch its line 16 steps ahead
		_mm_prefetch((const char *)(Bp + 16 * NR), _MM_HINT_T0);
		__m256 b0 = _mm256_loadu_ps(Bp), b1 = _mm256_loadu_ps(Bp + 8);
		__m256 a;
		a = _mm256_broadcast_ss(Ap + 0); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
		a = _mm256_broadcast_ss(Ap + 1); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
		a = _mm256_broadcast_ss(Ap + 2); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
		a = _mm256_broadcast_ss(Ap + 3); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
		a = _mm256_broadcast_ss(Ap + 4); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
		a = _mm256_broadcast_ss(Ap + 5); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
		Ap += MR;
		Bp += NR;
	}
	if (mr == MR && nr == NR) {
#define ROW(i, x0, x1)                                                                                  \
	if (add) {                                                                                      \
		x0 = _mm256_add_ps(_mm256_loadu_ps(c + (size_t)(i) * ldc), x0);                         \
		x1 = _mm256_add_ps(_mm256_loadu_ps(c + (size_t)(i) * ldc + 8), x1);                     \
	}                                                                                               \
	_mm256_storeu_ps(c + (size_t)(i) * ldc, x0);                                                    \
	_mm256_storeu_ps(c + (size_t)(i) * ldc + 8, x1);
		ROW(0, c00, c01) ROW(1, c10, c11) ROW(2, c20, c21) ROW(3, c30, c31) ROW(4, c40, c41) ROW(5, c50, c51)
#undef ROW
		return;
	}
	float t[MR * NR];
	_mm256_storeu_ps(t + 0 * NR, c00); _mm256_storeu_ps(t + 0 * NR + 8, c01);
	_mm256_storeu_ps(t + 1 * NR, c10); _mm256_storeu_ps(t + 1 * NR + 8, c11);
	_mm256_storeu_ps(t + 2 * NR, c20); _mm256_storeu_ps(t + 2 * NR + 8, c21);
	_mm256_storeu_ps(t + 3 * NR, c30); _mm256_storeu_ps(t + 3 * NR + 8, c31);
	_mm256_storeu_ps(t + 4 * NR, c40); _mm256_storeu_ps(t + 4 * NR + 8, c41);
	_mm256_storeu_ps(t + 5 * NR, c50); _mm256_storeu_ps(t + 5 * NR + 8, c51);
	for (int i = 0; i < mr; i++) {
		float *ci = c + (size_t)i * ldc;
		if (add) for (int j = 0; j < nr; j++) ci[j] += t[i * NR + j];
		else for (int j = 0; j < nr; j++) ci[j] = t[i * NR + j];
	}
}

#include "sgemm_impl.h"
