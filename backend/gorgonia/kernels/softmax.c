//go:build cgo && amd64

// Softmax and log-softmax rows (softmax.go).

#include "vecmath.h"
#include "kernels.h"

// softmax (logout 0) or log-softmax (1) of rows [r0, r1) of length n
TGT void mhcc_softmax_rows(const float *x, float *y, int r0, int r1, int n, int logout) {
	for (int r = r0; r < r1; r++) {
		const float *xr = x + (size_t)r * n;
		float *yr = y + (size_t)r * n;
		float m = vmax(xr, n);
		double s = mhcc_exp_shift(xr, yr, n, m);
		if (logout) {
			__m256 ls = _mm256_set1_ps((float)__builtin_log(s) + m);
			int i = 0;
			for (; i <= n - 8; i += 8) _mm256_storeu_ps(yr + i, _mm256_sub_ps(_mm256_loadu_ps(xr + i), ls));
			for (; i < n; i++) yr[i] = xr[i] - ((float)__builtin_log(s) + m);
		} else {
			vscale(yr, n, (float)(1.0 / s));
		}
	}
}
