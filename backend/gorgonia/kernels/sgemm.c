//go:build cgo && amd64

#include <stdlib.h>
#include <string.h>
#include <immintrin.h>

#include "kernels.h"

// A packed float32 GEMM with a 6x16 AVX2/FMA micro-kernel:
// C[m,n] = op(A)[m,k] * op(B)[k,n] + beta*C, row-major.

#define MR 6
#define NR 16
#define KC 256
#define MC 96
#define NC 1024

int mhcc_sgemm_supported(void) {
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// element (i, j) of op(X) where X is row-major with leading dimension ld
#define AT(X, tr, ld, i, j) ((tr) ? (X)[(size_t)(j) * (ld) + (i)] : (X)[(size_t)(i) * (ld) + (j)])

static void pack_a(int mc, int kc, const float *A, int lda, int ta, int i0, int p0, float *Ap) {
	for (int ir = 0; ir < mc; ir += MR) {
		int mr = mc - ir < MR ? mc - ir : MR;
		for (int p = 0; p < kc; p++) {
			for (int i = 0; i < mr; i++) Ap[i] = AT(A, ta, lda, i0 + ir + i, p0 + p);
			for (int i = mr; i < MR; i++) Ap[i] = 0;
			Ap += MR;
		}
	}
}

static void pack_b(int kc, int nc, const float *B, int ldb, int tb, int p0, int j0, float *Bp) {
	for (int jr = 0; jr < nc; jr += NR) {
		int nr = nc - jr < NR ? nc - jr : NR;
		for (int p = 0; p < kc; p++) {
			if (!tb && nr == NR) {
				memcpy(Bp, B + (size_t)(p0 + p) * ldb + j0 + jr, NR * sizeof(float));
			} else {
				for (int j = 0; j < nr; j++) Bp[j] = AT(B, tb, ldb, p0 + p, j0 + jr + j);
				for (int j = nr; j < NR; j++) Bp[j] = 0;
			}
			Bp += NR;
		}
	}
}

// c[6x16] (+)= Ap * Bp over kc
__attribute__((target("avx2,fma")))
static void kernel(int kc, const float *Ap, const float *Bp, float *c, int ldc, int mr, int nr, int add) {
	__m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
	__m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
	__m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
	__m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
	__m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
	__m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
	for (int p = 0; p < kc; p++) {
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

// rows [i0, i1) of C; 0 (C untouched) when the packing buffers cannot be
// allocated, else 1
int mhcc_sgemm(int ta, int tb, int m, int n, int k, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc, int i0, int i1) {
	float *Ap = aligned_alloc(64, sizeof(float) * MC * KC);
	float *Bp = aligned_alloc(64, sizeof(float) * KC * (NC + NR));
	if (!Ap || !Bp) {
		free(Ap);
		free(Bp);
		return 0;
	}
	for (int jc = 0; jc < n; jc += NC) {
		int nc = n - jc < NC ? n - jc : NC;
		for (int pc = 0; pc < k; pc += KC) {
			int kc = k - pc < KC ? k - pc : KC;
			int add = pc > 0;
			pack_b(kc, nc, B, ldb, tb, pc, jc, Bp);
			for (int ic = i0; ic < i1; ic += MC) {
				int mc = i1 - ic < MC ? i1 - ic : MC;
				if (!add && beta != 0) { // C = beta*C, then accumulate
					for (int i = 0; i < mc; i++) {
						float *ci = C + (size_t)(ic + i) * ldc + jc;
						for (int j = 0; j < nc; j++) ci[j] *= beta;
					}
				}
				int addc = add || beta != 0;
				pack_a(mc, kc, A, lda, ta, ic, pc, Ap);
				for (int jr = 0; jr < nc; jr += NR) {
					int nr = nc - jr < NR ? nc - jr : NR;
					for (int ir = 0; ir < mc; ir += MR) {
						int mr = mc - ir < MR ? mc - ir : MR;
						kernel(kc, Ap + (size_t)ir * kc, Bp + (size_t)jr * kc,
						       C + (size_t)(ic + ir) * ldc + jc + jr, ldc, mr, nr, addc);
					}
				}
			}
		}
	}
	free(Ap);
	free(Bp);
	return 1;
}
