// Shared AVX2/FMA helpers of the float32 kernels (the *.c files of this
// package): the vector exp, tanh and sigmoid, lane masks, horizontal sums
// and maxima, and the max, scale and dot product of a float array. All are
// static inline, so every file that includes this header gets its own copy.

#ifndef MHCC_VECMATH_H
#define MHCC_VECMATH_H

#include <immintrin.h>

#define TGT __attribute__((target("avx2,fma")))

// Cephes expf: n = round(x/ln2), r = x − n·ln2, e^r by a degree-6
// polynomial, times 2^n. Inputs below −87.34 give 0, above 88.37 +Inf.
TGT static inline __m256 exp256(__m256 x) {
	__m256 x0 = x;
	const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-87.33654f);
	__m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
	__m256 over = _mm256_cmp_ps(x, hi, _CMP_GT_OQ);
	x = _mm256_max_ps(_mm256_min_ps(x, hi), lo);
	__m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
	__m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
	r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
	__m256 p = _mm256_set1_ps(1.9875691500e-4f);
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
	p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
	// 2^n in two halves so that n = 128 (x near the top) stays finite
	__m256i n = _mm256_cvttps_epi32(fx);
	__m256i h = _mm256_srai_epi32(n, 1);
	__m256 p1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, _mm256_set1_epi32(127)), 23));
	__m256 p2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(n, h), _mm256_set1_epi32(127)), 23));
	__m256 y = _mm256_mul_ps(_mm256_mul_ps(p, p1), p2);
	y = _mm256_andnot_ps(under, y);
	y = _mm256_blendv_ps(y, _mm256_set1_ps(__builtin_inff()), over);
	return _mm256_blendv_ps(y, x0, _mm256_cmp_ps(x0, x0, _CMP_UNORD_Q)); // NaN stays NaN
}

TGT static inline __m256 tanh256(__m256 x) {
	const __m256 sign = _mm256_set1_ps(-0.0f);
	__m256 a = _mm256_andnot_ps(sign, x);
	__m256 z = _mm256_mul_ps(x, x);
	__m256 p = _mm256_set1_ps(-5.70498872745e-3f);
	p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
	p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
	p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
	p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
	__m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
	small = _mm256_or_ps(small, _mm256_and_ps(sign, x)); // tanh(−0) = −0; no change elsewhere
	__m256 e = exp256(_mm256_add_ps(a, a));
	__m256 big = _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
	big = _mm256_or_ps(big, _mm256_and_ps(sign, x));
	return _mm256_blendv_ps(big, small, _mm256_cmp_ps(a, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
}

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
