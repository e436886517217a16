// Shared AVX2/FMA helpers of the float32 kernels (the *.c files of this
// package): the vector exp, tanh and sigmoid, lane masks, horizontal sums
// and maxima, and the max, scale and dot product of a float array. All are
// static inline, so every file that includes this header gets its own copy.

#ifndef MHCC_VECMATH_H
#define MHCC_VECMATH_H

#include <immintrin.h>

#define TGT __attribute__((target("avx2,fma")))

// exp256 and tanh256: the vector exp and tanh on 8 lanes (vecmath_impl.h).
#define VT __m256
#define VI __m256i
#define VP _mm256
#define VTGT TGT
#define VMASK __m256
#define VCMP(a, b, op) _mm256_cmp_ps(a, b, op)
#define VSEL(m, a, b) _mm256_blendv_ps(a, b, m)
#define VZERO(m, y) _mm256_andnot_ps(m, y)
#define VFLOOR(x) _mm256_floor_ps(x)
#define VCASTI(x) _mm256_castsi256_ps(x)
#define VEXP exp256
#define VTANH tanh256
#include "vecmath_impl.h"

TGT static inline __m256 sigmoid256(__m256 x) {
	__m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), x));
	return _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

// load/store the first k < 8 lanes
TGT static inline __m256i lanemask(int k) {
	return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

TGT static inline float hsum(__m256 v) {
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

TGT static inline float hmax(__m256 v) {
	__m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_max_ps(s, _mm_movehl_ps(s, s));
	s = _mm_max_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

TGT static inline float vmax(const float *x, int n) {
	__m256 m = _mm256_set1_ps(-__builtin_inff());
	int i = 0;
	for (; i <= n - 8; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
	float r = hmax(m);
	for (; i < n; i++) r = x[i] > r ? x[i] : r;
	return r;
}

TGT static inline void vscale(float *y, int n, float a) {
	__m256 va = _mm256_set1_ps(a);
	int i = 0;
	for (; i <= n - 8; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), va));
	for (; i < n; i++) y[i] *= a;
}

TGT static inline float vdot(const float *a, const float *b, int n) {
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	int i = 0;
	for (; i <= n - 16; i += 16) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
	}
	for (; i <= n - 8; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
	float s = hsum(_mm256_add_ps(s0, s1));
	for (; i < n; i++) s += a[i] * b[i];
	return s;
}

#endif
