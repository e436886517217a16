//go:build cgo && amd64

// Sinkhorn normalisation forward and backward (sinkhorn.go).

#include <stdlib.h>
#include <string.h>
#include "vecmath.h"
#include "kernels.h"

// ---------------------------------------------------------------- sinkhorn

// Eight matrices at a time, one per lane: M[e] holds entry e of each.
// load8 gathers matrices [b, b+L) (L ≤ 8; missing lanes get 0).
TGT static void load8(const float *x, __m256 *M, int b, int L, int nn) {
	float tmp[8] __attribute__((aligned(32)));
	for (int e = 0; e < nn; e++) {
		for (int l = 0; l < 8; l++) tmp[l] = l < L ? x[(size_t)(b + l) * nn + e] : 0;
		M[e] = _mm256_load_ps(tmp);
	}
}

TGT static void store8(float *y, const __m256 *M, int b, int L, int nn) {
	float tmp[8] __attribute__((aligned(32)));
	for (int e = 0; e < nn; e++) {
		_mm256_store_ps(tmp, M[e]);
		for (int l = 0; l < L; l++) y[(size_t)(b + l) * nn + e] = tmp[l];
	}
}

TGT static void sk_exp(__m256 *M, int nn) {
	__m256 mx = M[0];
	for (int e = 1; e < nn; e++) mx = _mm256_max_ps(mx, M[e]);
	for (int e = 0; e < nn; e++) M[e] = exp256(_mm256_sub_ps(M[e], mx));
}

// column step (inv: the n reciprocal sums, may be NULL)
TGT static inline void sk_cols(__m256 *M, int n, __m256 *inv) {
	const __m256 one = _mm256_set1_ps(1.0f);
	for (int j = 0; j < n; j++) {
		__m256 s = M[j];
		for (int i = 1; i < n; i++) s = _mm256_add_ps(s, M[i * n + j]);
		__m256 r = _mm256_div_ps(one, s);
		if (inv) inv[j] = r;
		for (int i = 0; i < n; i++) M[i * n + j] = _mm256_mul_ps(M[i * n + j], r);
	}
}

TGT static inline void sk_rows(__m256 *M, int n, __m256 *inv) {
	const __m256 one = _mm256_set1_ps(1.0f);
	for (int i = 0; i < n; i++) {
		__m256 s = M[i * n];
		for (int j = 1; j < n; j++) s = _mm256_add_ps(s, M[i * n + j]);
		__m256 r = _mm256_div_ps(one, s);
		if (inv) inv[i] = r;
		for (int j = 0; j < n; j++) M[i * n + j] = _mm256_mul_ps(M[i * n + j], r);
	}
}

// matrices [m0, m1) of n×n; 0 (y untouched) when the scratch cannot be
// allocated, else 1
TGT int mhcc_sinkhorn_fwd(const float *x, float *y, int m0, int m1, int n, int iters) {
	int nn = n * n;
	__m256 *M = aligned_alloc(32, sizeof(__m256) * nn);
	if (!M) return 0;
	for (int b = m0; b < m1; b += 8) {
		int L = m1 - b < 8 ? m1 - b : 8;
		load8(x, M, b, L, nn);
		sk_exp(M, nn);
		for (int it = 0; it < iters; it++) {
			sk_cols(M, n, 0);
			sk_rows(M, n, 0);
		}
		store8(y, M, b, L, nn);
	}
	free(M);
	return 1;
}

// backward: recompute and keep every iterate, then backpropagate through
// each half-step (see SinkhornBwd in sinkhorn.go); 0 (dx untouched) when
// the scratch cannot be allocated, else 1
TGT int mhcc_sinkhorn_bwd(const float *x, const float *gy, float *dx, int m0, int m1, int n, int iters) {
	int nn = n * n;
	__m256 *st = aligned_alloc(32, sizeof(__m256) * (size_t)(2 * iters + 1) * nn);
	__m256 *inv = aligned_alloc(32, sizeof(__m256) * (size_t)(2 * iters) * n);
	__m256 *g = aligned_alloc(32, sizeof(__m256) * nn);
	if (!st || !inv || !g) {
		free(st);
		free(inv);
		free(g);
		return 0;
	}
	for (int b = m0; b < m1; b += 8) {
		int L = m1 - b < 8 ? m1 - b : 8;
		load8(x, st, b, L, nn);
		sk_exp(st, nn);
		for (int it = 0; it < iters; it++) {
			__m256 *c = st + (size_t)(2 * it + 1) * nn, *r = c + nn;
			memcpy(c, c - nn, sizeof(__m256) * nn);
			sk_cols(c, n, inv + (size_t)(2 * it) * n);
			memcpy(r, c, sizeof(__m256) * nn);
			sk_rows(r, n, inv + (size_t)(2 * it + 1) * n);
		}
		load8(gy, g, b, L, nn);
		for (int it = iters - 1; it >= 0; it--) {
			const __m256 *out = st + (size_t)(2 * it + 2) * nn, *ir = inv + (size_t)(2 * it + 1) * n;
			for (int i = 0; i < n; i++) {
				__m256 d = _mm256_mul_ps(g[i * n], out[i * n]);
				for (int j = 1; j < n; j++) d = _mm256_fmadd_ps(g[i * n + j], out[i * n + j], d);
				for (int j = 0; j < n; j++) g[i * n + j] = _mm256_mul_ps(_mm256_sub_ps(g[i * n + j], d), ir[i]);
			}
			out = st + (size_t)(2 * it + 1) * nn;
			const __m256 *ic = inv + (size_t)(2 * it) * n;
			for (int j = 0; j < n; j++) {
				__m256 d = _mm256_mul_ps(g[j], out[j]);
				for (int i = 1; i < n; i++) d = _mm256_fmadd_ps(g[i * n + j], out[i * n + j], d);
				for (int i = 0; i < n; i++) g[i * n + j] = _mm256_mul_ps(_mm256_sub_ps(g[i * n + j], d), ic[j]);
			}
		}
		for (int e = 0; e < nn; e++) g[e] = _mm256_mul_ps(g[e], st[e]);
		store8(dx, g, b, L, nn);
	}
	free(st);
	free(inv);
	free(g);
	return 1;
}
