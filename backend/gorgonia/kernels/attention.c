//go:build cgo && amd64

// The masked softmax of attention scores and its backward (attention.go).

#include <string.h>
#include "vecmath.h"
#include "kernels.h"

// attention softmax of one T×T block in place: row i is scaled, softmaxed
// over j < lim (lim = i+1 when causal, else T) and zero beyond.
TGT void mhcc_attn_softmax(float *S, int T, int causal, float scale) {
	for (int i = 0; i < T; i++) {
		float *r = S + (size_t)i * T;
		int lim = causal ? i + 1 : T;
		vscale(r, lim, scale);
		double s = mhcc_exp_shift(r, r, lim, vmax(r, lim));
		vscale(r, lim, (float)(1.0 / s));
		if (lim < T) memset(r + lim, 0, sizeof(float) * (T - lim));
	}
}

// dS = P ⊙ (dP − rowsum(P ⊙ dP))·scale in place of dP (one T×T block)
TGT void mhcc_attn_dsoftmax(const float *P, float *dS, int T, int causal, float scale) {
	for (int i = 0; i < T; i++) {
		const float *p = P + (size_t)i * T;
		float *d = dS + (size_t)i * T;
		int lim = causal ? i + 1 : T;
		__m256 s = _mm256_set1_ps(vdot(p, d, lim)), sc = _mm256_set1_ps(scale);
		int j = 0;
		for (; j <= lim - 8; j += 8) {
			__m256 v = _mm256_mul_ps(_mm256_loadu_ps(p + j), _mm256_sub_ps(_mm256_loadu_ps(d + j), s));
			_mm256_storeu_ps(d + j, _mm256_mul_ps(v, sc));
		}
		float ss = _mm256_cvtss_f32(s);
		for (; j < lim; j++) d[j] = p[j] * (d[j] - ss) * scale;
		if (lim < T) memset(d + lim, 0, sizeof(float) * (T - lim));
	}
}
