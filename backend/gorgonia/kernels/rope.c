//go:build cgo && amd64

// The float32 rotary position embedding (sequence.go's Rope) with AVX2:
// the same float32 operations as the Go loop, in the same order (the
// tables' float64 values rounded to float32, the sine negated for the
// inverse, y = a·c − b·s and a·s + b·c with every product rounded), so the
// results are the same bit for bit; fp-contract is off for this file.

#pragma GCC optimize("fp-contract=off")

#include "vecmath.h"
#include "kernels.h"

// Blocks [b0, b1) of x (each t rows of d values) into y; cos and sin hold
// t·d/2 values (row p's pairs at p·d/2).
TGT void mhcc_rope(const float *x, float *y, int b0, int b1, int t, int d, const double *cos, const double *sin, int inverse) {
	const int h = d / 2;
	const __m256 neg = _mm256_set1_ps(inverse ? -0.0f : 0.0f);
	for (long blk = b0; blk < b1; blk++) {
		for (int p = 0; p < t; p++) {
			const float *xr = x + (blk * t + p) * (long)d;
			float *yr = y + (blk * t + p) * (long)d;
			const double *cs = cos + (long)p * h, *sn = sin + (long)p * h;
			int i = 0;
			for (; i + 8 <= h; i += 8) {
				__m256 c = _mm256_set_m128(_mm256_cvtpd_ps(_mm256_loadu_pd(cs + i + 4)), _mm256_cvtpd_ps(_mm256_loadu_pd(cs + i)));
				__m256 s = _mm256_set_m128(_mm256_cvtpd_ps(_mm256_loadu_pd(sn + i + 4)), _mm256_cvtpd_ps(_mm256_loadu_pd(sn + i)));
				s = _mm256_xor_ps(s, neg);
				__m256 a = _mm256_loadu_ps(xr + i), b = _mm256_loadu_ps(xr + i + h);
				__m256 lo = _mm256_sub_ps(_mm256_mul_ps(a, c), _mm256_mul_ps(b, s));
				__m256 hi = _mm256_add_ps(_mm256_mul_ps(a, s), _mm256_mul_ps(b, c));
				_mm256_storeu_ps(yr + i, lo);
				_mm256_storeu_ps(yr + i + h, hi);
			}
			for (; i < h; i++) {
				float c = (float)cs[i], s = (float)sn[i];
				if (inverse) s = -s;
				float a = xr[i], b = xr[i + h];
				yr[i] = a * c - b * s;
				yr[i + h] = a * s + b * c;
			}
		}
	}
}
