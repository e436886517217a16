//go:build cgo && amd64

// The vector exp, tanh and sigmoid over arrays, and the shifted exp that
// every softmax is built on (fastmath.go).

#include "vecmath.h"
#include "kernels.h"

// kind: 0 exp, 1 tanh, 2 sigmoid
TGT void mhcc_vunary(int kind, const float *x, float *y, int n) {
	int i = 0;
	for (; i <= n - 8; i += 8) {
		__m256 v = _mm256_loadu_ps(x + i);
		v = kind == 0 ? exp256(v) : kind == 1 ? tanh256(v) : sigmoid256(v);
		_mm256_storeu_ps(y + i, v);
	}
	if (i < n) {
		__m256i m = lanemask(n - i);
		__m256 v = _mm256_maskload_ps(x + i, m);
		v = kind == 0 ? exp256(v) : kind == 1 ? tanh256(v) : sigmoid256(v);
		_mm256_maskstore_ps(y + i, m, v);
	}
}

// y = exp(x − m), returns Σ y (in double)
TGT double mhcc_exp_shift(const float *x, float *y, int n, float m) {
	__m256 vm = _mm256_set1_ps(m), s = _mm256_setzero_ps();
	int i = 0;
	for (; i <= n - 8; i += 8) {
		__m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
		_mm256_storeu_ps(y + i, e);
		s = _mm256_add_ps(s, e);
	}
	if (i < n) {
		__m256i k = lanemask(n - i);
		__m256 e = exp256(_mm256_sub_ps(_mm256_maskload_ps(x + i, k), vm));
		e = _mm256_and_ps(e, _mm256_castsi256_ps(k));
		_mm256_maskstore_ps(y + i, k, e);
		s = _mm256_add_ps(s, e);
	}
	return (double)hsum(s);
}
