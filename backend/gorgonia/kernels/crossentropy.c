//go:build cgo && amd64

// Cross-entropy rows: probabilities and the loss (crossentropy.go).

#include "vecmath.h"
#include "kernels.h"

// cross-entropy rows [r0, r1): P = softmax(x), returns Σ (lse − x[target])
TGT double mhcc_ce_rows(const float *x, const long long *tgt, float *P, int r0, int r1, int V) {
	double l = 0;
	for (int r = r0; r < r1; r++) {
		const float *xr = x + (size_t)r * V;
		float *pr = P + (size_t)r * V;
		float m = vmax(xr, V);
		double s = mhcc_exp_shift(xr, pr, V, m);
		l += __builtin_log(s) + m - xr[tgt[r]];
		vscale(pr, V, (float)(1.0 / s));
	}
	return l;
}
