//go:build cgo && amd64

// RMSNorm forward and backward, and the row RMS of hc.coeffs (rmsnorm.go).

#include "vecmath.h"
#include "kernels.h"

// ---------------------------------------------------------------- rmsnorm

// inv[r] = 1/sqrt(mean(x_r²) + eps) for rows [r0, r1) of length c
TGT void mhcc_rms_inv(const float *x, float *inv, int r0, int r1, int c, double eps) {
	for (int r = r0; r < r1; r++) {
		const float *xr = x + (size_t)r * c;
		inv[r] = (float)(1.0 / __builtin_sqrt((double)vdot(xr, xr, c) / c + eps));
	}
}

// y = x·inv·g
TGT void mhcc_rms_fwd(const float *x, const float *g, float *y, int r0, int r1, int c, double eps) {
	for (int r = r0; r < r1; r++) {
		const float *xr = x + (size_t)r * c;
		float *yr = y + (size_t)r * c;
		__m256 inv = _mm256_set1_ps((float)(1.0 / __builtin_sqrt((double)vdot(xr, xr, c) / c + eps)));
		int i = 0;
		for (; i <= c - 8; i += 8)
			_mm256_storeu_ps(yr + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(xr + i), inv), _mm256_loadu_ps(g + i)));
		float s = _mm256_cvtss_f32(inv);
		for (; i < c; i++) yr[i] = xr[i] * s * g[i];
	}
}

// dx = inv·gy⊙g − x·inv³·⟨gy⊙g, x⟩/c (dx may be NULL); dg += gy⊙x·inv
// (dg may be NULL)
TGT void mhcc_rms_bwd(const float *x, const float *g, const float *gy, float *dx, float *dg, int r0, int r1, int c, double eps) {
	for (int r = r0; r < r1; r++) {
		const float *xr = x + (size_t)r * c, *gr = gy + (size_t)r * c;
		float inv = (float)(1.0 / __builtin_sqrt((double)vdot(xr, xr, c) / c + eps));
		__m256 vi = _mm256_set1_ps(inv);
		if (dx) {
			__m256 s0 = _mm256_setzero_ps();
			int i = 0;
			for (; i <= c - 8; i += 8)
				s0 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(gr + i), _mm256_loadu_ps(g + i)), _mm256_loadu_ps(xr + i), s0);
			float d = hsum(s0);
			for (int j = i; j < c; j++) d += gr[j] * g[j] * xr[j];
			float kk = d * inv * inv * inv / c;
			__m256 vk = _mm256_set1_ps(kk);
			float *dr = dx + (size_t)r * c;
			for (i = 0; i <= c - 8; i += 8) {
				__m256 a = _mm256_mul_ps(vi, _mm256_mul_ps(_mm256_loadu_ps(gr + i), _mm256_loadu_ps(g + i)));
				_mm256_storeu_ps(dr + i, _mm256_fnmadd_ps(_mm256_loadu_ps(xr + i), vk, a));
			}
			for (; i < c; i++) dr[i] = inv * gr[i] * g[i] - xr[i] * kk;
		}
		if (dg) {
			int i = 0;
			for (; i <= c - 8; i += 8)
				_mm256_storeu_ps(dg + i, _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(gr + i), _mm256_loadu_ps(xr + i)), vi, _mm256_loadu_ps(dg + i)));
			for (; i < c; i++) dg[i] += gr[i] * xr[i] * inv;
		}
	}
}
