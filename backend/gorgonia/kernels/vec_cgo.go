//go:build cgo && amd64

package kernels

/*
#cgo CFLAGS: -O3
#cgo LDFLAGS: -lm
#include <stdlib.h>
#include <string.h>
#include <immintrin.h>

// AVX2/FMA float32 kernels for the elementwise and stream-mixing work of
// the fused ops and of exp/tanh/sigmoid/softmax. Callers check
// mhcc_sgemm_supported() (sgemm_cgo.go) first. Every function works on a
// range of rows so Go can split the work across goroutines.

#define TGT __attribute__((target("avx2,fma")))

// ---------------------------------------------------------------- exp, tanh, sigmoid

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

TGT static float vmax(const float *x, int n) {
	__m256 m = _mm256_set1_ps(-__builtin_inff());
	int i = 0;
	for (; i <= n - 8; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
	float r = hmax(m);
	for (; i < n; i++) r = x[i] > r ? x[i] : r;
	return r;
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

TGT static void vscale(float *y, int n, float a) {
	__m256 va = _mm256_set1_ps(a);
	int i = 0;
	for (; i <= n - 8; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), va));
	for (; i < n; i++) y[i] *= a;
}

TGT static float vdot(const float *a, const float *b, int n) {
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

// ---------------------------------------------------------------- hc.read / hc.write

// u_t = Σ_j h[t,j]·X[t,j,:]
TGT static inline void hc_read_fwd(const float *h, const float *X, float *u, int t0, int t1, int n, int c) {
	for (int t = t0; t < t1; t++) {
		const float *ht = h + (size_t)t * n, *xt = X + (size_t)t * n * c;
		float *ut = u + (size_t)t * c;
		int k = 0;
		for (; k <= c - 8; k += 8) {
			__m256 acc = _mm256_mul_ps(_mm256_set1_ps(ht[0]), _mm256_loadu_ps(xt + k));
			for (int j = 1; j < n; j++) acc = _mm256_fmadd_ps(_mm256_set1_ps(ht[j]), _mm256_loadu_ps(xt + j * c + k), acc);
			_mm256_storeu_ps(ut + k, acc);
		}
		for (; k < c; k++) {
			float a = ht[0] * xt[k];
			for (int j = 1; j < n; j++) a += ht[j] * xt[j * c + k];
			ut[k] = a;
		}
	}
}

TGT void mhcc_hc_read_fwd(const float *h, const float *X, float *u, int t0, int t1, int n, int c) {
	switch (n) { // constant n lets the compiler unroll the stream loop
	case 1: hc_read_fwd(h, X, u, t0, t1, 1, c); break;
	case 2: hc_read_fwd(h, X, u, t0, t1, 2, c); break;
	case 4: hc_read_fwd(h, X, u, t0, t1, 4, c); break;
	default: hc_read_fwd(h, X, u, t0, t1, n, c);
	}
}

// dh[t,j] = ⟨gy_t, X_tj⟩, dX_tj = h[t,j]·gy_t (dh or dX may be NULL)
// add != 0: dX += h·gy instead of dX = h·gy.
TGT void mhcc_hc_read_bwd(const float *h, const float *X, const float *gy, float *dh, float *dX, int add, int t0, int t1, int n, int c) {
	for (int t = t0; t < t1; t++) {
		const float *gt = gy + (size_t)t * c;
		for (int j = 0; j < n; j++) {
			size_t o = ((size_t)t * n + j) * c;
			if (dh) dh[(size_t)t * n + j] = vdot(gt, X + o, c);
			if (dX) {
				__m256 hj = _mm256_set1_ps(h[(size_t)t * n + j]);
				int k = 0;
				if (add) {
					for (; k <= c - 8; k += 8) _mm256_storeu_ps(dX + o + k, _mm256_fmadd_ps(hj, _mm256_loadu_ps(gt + k), _mm256_loadu_ps(dX + o + k)));
					for (; k < c; k++) dX[o + k] += h[(size_t)t * n + j] * gt[k];
				} else {
					for (; k <= c - 8; k += 8) _mm256_storeu_ps(dX + o + k, _mm256_mul_ps(hj, _mm256_loadu_ps(gt + k)));
					for (; k < c; k++) dX[o + k] = h[(size_t)t * n + j] * gt[k];
				}
			}
		}
	}
}

// out[t,i,:] = Σ_j R[t,i,j]·X[t,j,:] + p[t,i]·y_t
TGT static inline void hc_write_fwd(const float *R, const float *X, const float *p, const float *y, float *out, int t0, int t1, int n, int c) {
	for (int t = t0; t < t1; t++) {
		const float *xt = X + (size_t)t * n * c, *yt = y + (size_t)t * c;
		for (int i = 0; i < n; i++) {
			const float *ri = R + ((size_t)t * n + i) * n;
			float pi = p[(size_t)t * n + i];
			float *o = out + ((size_t)t * n + i) * c;
			int k = 0;
			for (; k <= c - 8; k += 8) {
				__m256 acc = _mm256_mul_ps(_mm256_set1_ps(pi), _mm256_loadu_ps(yt + k));
				for (int j = 0; j < n; j++) acc = _mm256_fmadd_ps(_mm256_set1_ps(ri[j]), _mm256_loadu_ps(xt + j * c + k), acc);
				_mm256_storeu_ps(o + k, acc);
			}
			for (; k < c; k++) {
				float a = pi * yt[k];
				for (int j = 0; j < n; j++) a += ri[j] * xt[j * c + k];
				o[k] = a;
			}
		}
	}
}

TGT void mhcc_hc_write_fwd(const float *R, const float *X, const float *p, const float *y, float *out, int t0, int t1, int n, int c) {
	switch (n) {
	case 1: hc_write_fwd(R, X, p, y, out, t0, t1, 1, c); break;
	case 2: hc_write_fwd(R, X, p, y, out, t0, t1, 2, c); break;
	case 4: hc_write_fwd(R, X, p, y, out, t0, t1, 4, c); break;
	default: hc_write_fwd(R, X, p, y, out, t0, t1, n, c);
	}
}

// dR[t,i,j] = ⟨G_ti, X_tj⟩, dp[t,i] = ⟨G_ti, y_t⟩, dX_tj = Σ_i R[t,i,j]·G_ti,
// dy_t = Σ_i p[t,i]·G_ti (any output may be NULL). For n ≤ 8 the n+1 dot
// products of one G_ti share a single pass over it.
TGT static inline void hc_write_bwd(const float *R, const float *X, const float *p, const float *y, const float *G,
                                    float *dR, float *dX, float *dp, float *dy, int t0, int t1, int n, int c) {
	for (int t = t0; t < t1; t++) {
		const float *gt = G + (size_t)t * n * c, *xt = X + (size_t)t * n * c, *yt = y + (size_t)t * c;
		const float *rt = R + (size_t)t * n * n, *pt = p + (size_t)t * n;
		if (dR || dp) {
			for (int i = 0; i < n; i++) {
				const float *gi = gt + (size_t)i * c;
				if (n <= 8 && dR && dp) {
					__m256 acc[9];
					for (int j = 0; j <= n; j++) acc[j] = _mm256_setzero_ps();
					int k = 0;
					for (; k <= c - 8; k += 8) {
						__m256 g = _mm256_loadu_ps(gi + k);
						for (int j = 0; j < n; j++) acc[j] = _mm256_fmadd_ps(g, _mm256_loadu_ps(xt + j * c + k), acc[j]);
						acc[n] = _mm256_fmadd_ps(g, _mm256_loadu_ps(yt + k), acc[n]);
					}
					for (int j = 0; j < n; j++) {
						float s = hsum(acc[j]);
						for (int kk = k; kk < c; kk++) s += gi[kk] * xt[j * c + kk];
						dR[((size_t)t * n + i) * n + j] = s;
					}
					float s = hsum(acc[n]);
					for (int kk = k; kk < c; kk++) s += gi[kk] * yt[kk];
					dp[(size_t)t * n + i] = s;
				} else {
					if (dp) dp[(size_t)t * n + i] = vdot(gi, yt, c);
					if (dR)
						for (int j = 0; j < n; j++) dR[((size_t)t * n + i) * n + j] = vdot(gi, xt + j * c, c);
				}
			}
		}
		if (dX) {
			for (int j = 0; j < n; j++) {
				float *d = dX + ((size_t)t * n + j) * c;
				int k = 0;
				for (; k <= c - 8; k += 8) {
					__m256 acc = _mm256_mul_ps(_mm256_set1_ps(rt[j]), _mm256_loadu_ps(gt + k));
					for (int i = 1; i < n; i++) acc = _mm256_fmadd_ps(_mm256_set1_ps(rt[i * n + j]), _mm256_loadu_ps(gt + i * c + k), acc);
					_mm256_storeu_ps(d + k, acc);
				}
				for (; k < c; k++) {
					float a = rt[j] * gt[k];
					for (int i = 1; i < n; i++) a += rt[i * n + j] * gt[i * c + k];
					d[k] = a;
				}
			}
		}
		if (dy) {
			float *d = dy + (size_t)t * c;
			int k = 0;
			for (; k <= c - 8; k += 8) {
				__m256 acc = _mm256_mul_ps(_mm256_set1_ps(pt[0]), _mm256_loadu_ps(gt + k));
				for (int i = 1; i < n; i++) acc = _mm256_fmadd_ps(_mm256_set1_ps(pt[i]), _mm256_loadu_ps(gt + i * c + k), acc);
				_mm256_storeu_ps(d + k, acc);
			}
			for (; k < c; k++) {
				float a = pt[0] * gt[k];
				for (int i = 1; i < n; i++) a += pt[i] * gt[i * c + k];
				d[k] = a;
			}
		}
	}
}

TGT void mhcc_hc_write_bwd(const float *R, const float *X, const float *p, const float *y, const float *G,
                           float *dR, float *dX, float *dp, float *dy, int t0, int t1, int n, int c) {
	switch (n) {
	case 1: hc_write_bwd(R, X, p, y, G, dR, dX, dp, dy, t0, t1, 1, c); break;
	case 2: hc_write_bwd(R, X, p, y, G, dR, dX, dp, dy, t0, t1, 2, c); break;
	case 4: hc_write_bwd(R, X, p, y, G, dR, dX, dp, dy, t0, t1, 4, c); break;
	default: hc_write_bwd(R, X, p, y, G, dR, dX, dp, dy, t0, t1, n, c);
	}
}

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

// matrices [m0, m1) of n×n
TGT void mhcc_sinkhorn_fwd(const float *x, float *y, int m0, int m1, int n, int iters) {
	int nn = n * n;
	__m256 *M = aligned_alloc(32, sizeof(__m256) * nn);
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
}

// backward: recompute and keep every iterate, then backpropagate through
// each half-step (see SinkhornBwd in sinkhorn.go)
TGT void mhcc_sinkhorn_bwd(const float *x, const float *gy, float *dx, int m0, int m1, int n, int iters) {
	int nn = n * n;
	__m256 *st = aligned_alloc(32, sizeof(__m256) * (size_t)(2 * iters + 1) * nn);
	__m256 *inv = aligned_alloc(32, sizeof(__m256) * (size_t)(2 * iters) * n);
	__m256 *g = aligned_alloc(32, sizeof(__m256) * nn);
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
}

// ---------------------------------------------------------------- hc.coeffs projection

// colblock describes the column block [j0, j0+24) of a w-wide row: its
// lane masks per 8-column vector, how many vectors it has, and whether
// they are all full.
TGT static inline void colblock(int w, int j0, __m256i mk[3], int *nv, int *full) {
	int nw = w - j0 < 24 ? w - j0 : 24;
	*nv = (nw + 7) / 8;
	*full = nw % 8 == 0;
	for (int v = 0; v < 3; v++) {
		int left = nw - 8 * v;
		mk[v] = lanemask(left > 8 ? 8 : left < 0 ? 0 : left);
	}
}

#define PROJ_KB 256

// Columns [j0, j0+8·NV) of m[t, :] = x[t, :]·phi for the TR tokens whose
// current K-block is packed in xp (rows PROJ_KB floats apart).
#define PROJ_KBLOCK(TR, NV) do { \
	for (int kk = 0; kk < kb; kk++) { \
		const float *pk = phi + (size_t)(k0 + kk) * w + j0; \
		__m256 p[3]; \
		for (int v = 0; v < NV; v++) p[v] = full ? _mm256_loadu_ps(pk + 8 * v) : _mm256_maskload_ps(pk + 8 * v, mk[v]); \
		for (int r = 0; r < TR; r++) { \
			__m256 xr = _mm256_broadcast_ss(xp + r * PROJ_KB + kk); \
			for (int v = 0; v < NV; v++) acc[r][v] = _mm256_fmadd_ps(xr, p[v], acc[r][v]); \
		} \
	} \
} while (0)

// The common tile (4 tokens × 24 full columns) with its 12 accumulators in
// named registers, which GCC keeps out of memory (it spills an array).
TGT static void proj_4x24(const float *xp, const float *pk, int w, int kb, __m256 acc[4][3]) {
	__m256 a00 = acc[0][0], a01 = acc[0][1], a02 = acc[0][2], a10 = acc[1][0], a11 = acc[1][1], a12 = acc[1][2];
	__m256 a20 = acc[2][0], a21 = acc[2][1], a22 = acc[2][2], a30 = acc[3][0], a31 = acc[3][1], a32 = acc[3][2];
	for (int kk = 0; kk < kb; kk++, pk += w) {
		__m256 p0 = _mm256_loadu_ps(pk), p1 = _mm256_loadu_ps(pk + 8), p2 = _mm256_loadu_ps(pk + 16);
		__m256 b = _mm256_broadcast_ss(xp + kk);
		a00 = _mm256_fmadd_ps(b, p0, a00); a01 = _mm256_fmadd_ps(b, p1, a01); a02 = _mm256_fmadd_ps(b, p2, a02);
		b = _mm256_broadcast_ss(xp + PROJ_KB + kk);
		a10 = _mm256_fmadd_ps(b, p0, a10); a11 = _mm256_fmadd_ps(b, p1, a11); a12 = _mm256_fmadd_ps(b, p2, a12);
		b = _mm256_broadcast_ss(xp + 2 * PROJ_KB + kk);
		a20 = _mm256_fmadd_ps(b, p0, a20); a21 = _mm256_fmadd_ps(b, p1, a21); a22 = _mm256_fmadd_ps(b, p2, a22);
		b = _mm256_broadcast_ss(xp + 3 * PROJ_KB + kk);
		a30 = _mm256_fmadd_ps(b, p0, a30); a31 = _mm256_fmadd_ps(b, p1, a31); a32 = _mm256_fmadd_ps(b, p2, a32);
	}
	acc[0][0] = a00; acc[0][1] = a01; acc[0][2] = a02; acc[1][0] = a10; acc[1][1] = a11; acc[1][2] = a12;
	acc[2][0] = a20; acc[2][1] = a21; acc[2][2] = a22; acc[3][0] = a30; acc[3][1] = a31; acc[3][2] = a32;
}

// m[t, 0:w] = x[t, 0:K]·phi[K, w] for t in [t0, t1): the thin product of
// hc.coeffs. For each block of PROJ_KB rows of phi (24 KiB at w = 24, kept
// in L1) every tile of 4 tokens × 24 columns accumulates in 12 registers;
// the tile's 4 rows of x are first copied into a contiguous buffer, because
// they are K floats apart (a power of two at the usual widths) and read in
// step they would evict each other from L1.
TGT void mhcc_hc_proj(const float *x, const float *phi, float *m, int t0, int t1, int K, int w) {
	float xp[4 * PROJ_KB] __attribute__((aligned(32)));
	for (int j0 = 0; j0 < w; j0 += 24) {
		__m256i mk[3];
		int nv, full;
		colblock(w, j0, mk, &nv, &full);
		for (int k0 = 0; k0 < K; k0 += PROJ_KB) {
			int kb = K - k0 < PROJ_KB ? K - k0 : PROJ_KB;
			for (int t = t0; t < t1; t += 4) {
				int tr = t1 - t < 4 ? t1 - t : 4;
				__m256 acc[4][3];
				for (int r = 0; r < 4; r++)
					for (int v = 0; v < 3; v++)
						acc[r][v] = k0 == 0 || r >= tr || v >= nv ? _mm256_setzero_ps()
						                                          : _mm256_maskload_ps(m + (size_t)(t + r) * w + j0 + 8 * v, mk[v]);
				for (int r = 0; r < 4; r++) {
					if (r < tr) memcpy(xp + r * PROJ_KB, x + (size_t)(t + r) * K + k0, sizeof(float) * kb);
					else memset(xp + r * PROJ_KB, 0, sizeof(float) * kb);
				}
				if (nv == 3 && full) proj_4x24(xp, phi + (size_t)k0 * w + j0, w, kb, acc);
				else if (nv == 3) PROJ_KBLOCK(4, 3);
				else if (nv == 2) PROJ_KBLOCK(4, 2);
				else PROJ_KBLOCK(4, 1);
				for (int r = 0; r < tr; r++)
					for (int v = 0; v < nv; v++) _mm256_maskstore_ps(m + (size_t)(t + r) * w + j0 + 8 * v, mk[v], acc[r][v]);
			}
		}
	}
}

// ---------------------------------------------------------------- hc.coeffs weight gradient

// dphi rows [k, k+KR) × columns [j0, j0+8·NV) += Σ_{t ∈ [tb, te)} x[t, k+a]·dz[t, j0:]
TGT static inline void dphi_block(const float *x, const float *dz, float *dphi, int tb, int te, int K, int w, int k, int j0, int KR, int NV, int full, const __m256i *mk) {
	__m256 acc[4][3];
	for (int a = 0; a < KR; a++)
		for (int v = 0; v < NV; v++) {
			const float *p = dphi + (size_t)(k + a) * w + j0 + 8 * v;
			acc[a][v] = full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mk[v]);
		}
	for (int t = tb; t < te; t++) {
		__m256 d[3];
		for (int v = 0; v < NV; v++) {
			const float *p = dz + (size_t)t * w + j0 + 8 * v;
			d[v] = full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mk[v]);
		}
		const float *xt = x + (size_t)t * K + k;
		for (int a = 0; a < KR; a++) {
			__m256 xa = _mm256_broadcast_ss(xt + a);
			for (int v = 0; v < NV; v++) acc[a][v] = _mm256_fmadd_ps(xa, d[v], acc[a][v]);
		}
	}
	for (int a = 0; a < KR; a++)
		for (int v = 0; v < NV; v++) {
			float *p = dphi + (size_t)(k + a) * w + j0 + 8 * v;
			if (full) _mm256_storeu_ps(p, acc[a][v]);
			else _mm256_maskstore_ps(p, mk[v], acc[a][v]);
		}
}

// dphi[K, w] = Σ_{t ∈ [t0, t1)} x_tᵀ·dz_t (overwritten), in token tiles so
// that x is read once
TGT void mhcc_hc_dphi(const float *x, const float *dz, float *dphi, int t0, int t1, int K, int w) {
	memset(dphi, 0, sizeof(float) * (size_t)K * w);
	for (int tb = t0; tb < t1; tb += 64) {
		int te = t1 - tb < 64 ? t1 : tb + 64;
		for (int j0 = 0; j0 < w; j0 += 24) {
			__m256i mk[3];
			int nv, full;
			colblock(w, j0, mk, &nv, &full);
			int k = 0;
			for (; k + 4 <= K; k += 4) { // constant KR, NV, full: acc stays in registers
				if (full && nv == 3) dphi_block(x, dz, dphi, tb, te, K, w, k, j0, 4, 3, 1, mk);
				else if (full && nv == 1) dphi_block(x, dz, dphi, tb, te, K, w, k, j0, 4, 1, 1, mk);
				else if (nv == 1) dphi_block(x, dz, dphi, tb, te, K, w, k, j0, 4, 1, 0, mk);
				else dphi_block(x, dz, dphi, tb, te, K, w, k, j0, 4, nv, full, mk);
			}
			for (; k < K; k++) dphi_block(x, dz, dphi, tb, te, K, w, k, j0, 1, nv, full, mk);
		}
	}
}

// y[r,:] += c[r]·x[r,:] for rows [r0, r1) of length k
TGT void mhcc_axpy_rows(const float *x, const float *c, float *y, int r0, int r1, int k) {
	for (int r = r0; r < r1; r++) {
		const float *xr = x + (size_t)r * k;
		float *yr = y + (size_t)r * k;
		__m256 cr = _mm256_set1_ps(c[r]);
		int i = 0;
		for (; i <= k - 8; i += 8) _mm256_storeu_ps(yr + i, _mm256_fmadd_ps(cr, _mm256_loadu_ps(xr + i), _mm256_loadu_ps(yr + i)));
		for (; i < k; i++) yr[i] += c[r] * xr[i];
	}
}

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

// ---------------------------------------------------------------- elementwise

// y = a ∘ b; mode 0: vectors a, b; 1: vector a, scalar c; 2: scalar c,
// vector b. kind: 0 add, 1 sub, 2 mul, 3 div.
TGT void mhcc_vbin(int kind, int mode, const float *a, const float *b, float c, float *y, int n) {
	__m256 vc = _mm256_set1_ps(c);
	int i = 0;
	for (; i <= n - 8; i += 8) {
		__m256 x = mode == 2 ? vc : _mm256_loadu_ps(a + i);
		__m256 z = mode == 1 ? vc : _mm256_loadu_ps(b + i);
		__m256 r;
		switch (kind) {
		case 0: r = _mm256_add_ps(x, z); break;
		case 1: r = _mm256_sub_ps(x, z); break;
		case 2: r = _mm256_mul_ps(x, z); break;
		default: r = _mm256_div_ps(x, z);
		}
		_mm256_storeu_ps(y + i, r);
	}
	for (; i < n; i++) {
		float x = mode == 2 ? c : a[i], z = mode == 1 ? c : b[i];
		y[i] = kind == 0 ? x + z : kind == 1 ? x - z : kind == 2 ? x * z : x / z;
	}
}

// gradient of operand w of y = a ∘ b where that operand has y's shape:
// mul: g·other; div: g/b (w = 0) or −g·a/b² (w = 1). The other operand is
// a vector, or the scalar c when its pointer is NULL.
TGT void mhcc_vbingrad(int kind, int w, const float *a, const float *b, float c, const float *g, float *y, int n) {
	__m256 vc = _mm256_set1_ps(c);
	int i = 0;
	for (; i <= n - 8; i += 8) {
		__m256 gv = _mm256_loadu_ps(g + i);
		__m256 av = a ? _mm256_loadu_ps(a + i) : vc, bv = b ? _mm256_loadu_ps(b + i) : vc;
		__m256 r;
		if (kind == 2) r = _mm256_mul_ps(gv, w == 0 ? bv : av);
		else if (w == 0) r = _mm256_div_ps(gv, bv);
		else r = _mm256_sub_ps(_mm256_setzero_ps(), _mm256_div_ps(_mm256_mul_ps(gv, av), _mm256_mul_ps(bv, bv)));
		_mm256_storeu_ps(y + i, r);
	}
	for (; i < n; i++) {
		float av = a ? a[i] : c, bv = b ? b[i] : c;
		y[i] = kind == 2 ? g[i] * (w == 0 ? bv : av) : w == 0 ? g[i] / bv : -(g[i] * av) / (bv * bv);
	}
}

// gradient of a unary op from xy (its input or output, see UnaryGradUsesY)
// kind as in elementwise.go: 0 neg, 1 exp, 2 log, 3 sqrt, 4 square, 5 sigmoid,
// 6 tanh, 7 relu
TGT void mhcc_vunary_grad(int kind, const float *xy, const float *g, float *dx, int n) {
	const __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f), zero = _mm256_setzero_ps();
	int i = 0;
	for (; i <= n - 8; i += 8) {
		__m256 v = _mm256_loadu_ps(xy + i), gv = _mm256_loadu_ps(g + i), r;
		switch (kind) {
		case 0: r = _mm256_sub_ps(zero, gv); break;
		case 1: r = _mm256_mul_ps(gv, v); break;
		case 2: r = _mm256_div_ps(gv, v); break;
		case 3: r = _mm256_div_ps(gv, _mm256_mul_ps(two, v)); break;
		case 4: r = _mm256_mul_ps(_mm256_mul_ps(two, v), gv); break;
		case 5: r = _mm256_mul_ps(_mm256_mul_ps(gv, v), _mm256_sub_ps(one, v)); break;
		case 6: r = _mm256_mul_ps(gv, _mm256_sub_ps(one, _mm256_mul_ps(v, v))); break;
		default: r = _mm256_and_ps(gv, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
		}
		_mm256_storeu_ps(dx + i, r);
	}
	for (; i < n; i++) {
		float v = xy[i], gv = g[i];
		switch (kind) {
		case 0: dx[i] = -gv; break;
		case 1: dx[i] = gv * v; break;
		case 2: dx[i] = gv / v; break;
		case 3: dx[i] = gv / (2 * v); break;
		case 4: dx[i] = 2 * v * gv; break;
		case 5: dx[i] = gv * v * (1 - v); break;
		case 6: dx[i] = gv * (1 - v * v); break;
		default: dx[i] = v > 0 ? gv : 0;
		}
	}
}
*/
import "C"

import "unsafe"

// useVec reports whether the AVX2 float32 kernels of this file run (the
// same CPU check as the native GEMM; UseNativeSgemm does not affect them).
var useVec = cSgemmOK

// setVectorKernels switches the AVX2 float32 kernels on or off (off: every
// float32 kernel runs the generic Go code) and returns the old setting; a
// test hook.
func setVectorKernels(on bool) (old bool) {
	old = useVec
	useVec = on && cSgemmOK
	return old
}

func fp(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

// Unary kinds of vUnary.
const (
	vExp = iota
	vTanh
	vSigmoid
)

func vUnary(kind int, x, y []float32) {
	parallelFor(len(x), 16, func(lo, hi int) {
		if hi > lo {
			C.mhcc_vunary(C.int(kind), fp(x[lo:hi]), fp(y[lo:hi]), C.int(hi-lo))
		}
	})
}

func vExpShift(x, y []float32, m float32) float64 {
	if len(x) == 0 {
		return 0
	}
	return float64(C.mhcc_exp_shift(fp(x), fp(y[:len(x)]), C.int(len(x)), C.float(m)))
}

func vSoftmaxRows(x, y []float32, r0, r1, n int, logOut bool) {
	l := C.int(0)
	if logOut {
		l = 1
	}
	C.mhcc_softmax_rows(fp(x), fp(y), C.int(r0), C.int(r1), C.int(n), l)
}

func vAttnSoftmax(s []float32, t int, causal bool, scale float32) {
	C.mhcc_attn_softmax(fp(s[:t*t]), C.int(t), cbool(causal), C.float(scale))
}

func vAttnDSoftmax(p, ds []float32, t int, causal bool, scale float32) {
	C.mhcc_attn_dsoftmax(fp(p[:t*t]), fp(ds[:t*t]), C.int(t), cbool(causal), C.float(scale))
}

func vCERows(x []float32, tgt []int, p []float32, r0, r1, v int) float64 {
	return float64(C.mhcc_ce_rows(fp(x), (*C.longlong)(unsafe.Pointer(&tgt[0])), fp(p), C.int(r0), C.int(r1), C.int(v)))
}

func vHCReadFwd(h, X, u []float32, t0, t1, n, c int) {
	C.mhcc_hc_read_fwd(fp(h), fp(X), fp(u), C.int(t0), C.int(t1), C.int(n), C.int(c))
}

func vHCReadBwd(h, X, gy, dh, dX []float32, add bool, t0, t1, n, c int) {
	C.mhcc_hc_read_bwd(fp(h), fp(X), fp(gy), fp(dh), fp(dX), cbool(add), C.int(t0), C.int(t1), C.int(n), C.int(c))
}

func vHCWriteFwd(R, X, p, y, out []float32, t0, t1, n, c int) {
	C.mhcc_hc_write_fwd(fp(R), fp(X), fp(p), fp(y), fp(out), C.int(t0), C.int(t1), C.int(n), C.int(c))
}

func vHCWriteBwd(R, X, p, y, G, dR, dX, dp, dy []float32, t0, t1, n, c int) {
	C.mhcc_hc_write_bwd(fp(R), fp(X), fp(p), fp(y), fp(G), fp(dR), fp(dX), fp(dp), fp(dy), C.int(t0), C.int(t1), C.int(n), C.int(c))
}

func vSinkFwd(x, y []float32, m0, m1, n, iters int) {
	C.mhcc_sinkhorn_fwd(fp(x), fp(y), C.int(m0), C.int(m1), C.int(n), C.int(iters))
}

func vSinkBwd(x, gy, dx []float32, m0, m1, n, iters int) {
	C.mhcc_sinkhorn_bwd(fp(x), fp(gy), fp(dx), C.int(m0), C.int(m1), C.int(n), C.int(iters))
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func vHCProj(x, phi, m []float32, t0, t1, k, w int) {
	C.mhcc_hc_proj(fp(x), fp(phi), fp(m), C.int(t0), C.int(t1), C.int(k), C.int(w))
}

func vHCDphi(x, dz, dphi []float32, t0, t1, k, w int) {
	C.mhcc_hc_dphi(fp(x), fp(dz), fp(dphi), C.int(t0), C.int(t1), C.int(k), C.int(w))
}

func vAxpyRows(x, c, y []float32, r0, r1, k int) {
	C.mhcc_axpy_rows(fp(x), fp(c), fp(y), C.int(r0), C.int(r1), C.int(k))
}

func vRMSInv(x, inv []float32, r0, r1, c int, eps float64) {
	C.mhcc_rms_inv(fp(x), fp(inv), C.int(r0), C.int(r1), C.int(c), C.double(eps))
}

func vRMSFwd(x, g, y []float32, r0, r1, c int, eps float64) {
	C.mhcc_rms_fwd(fp(x), fp(g), fp(y), C.int(r0), C.int(r1), C.int(c), C.double(eps))
}

func vRMSBwd(x, g, gy, dx, dg []float32, r0, r1, c int, eps float64) {
	C.mhcc_rms_bwd(fp(x), fp(g), fp(gy), fp(dx), fp(dg), C.int(r0), C.int(r1), C.int(c), C.double(eps))
}

// vBin computes y = a ∘ b (mode 0), a ∘ c (1) or c ∘ b (2) over n elements.
func vBin(kind, mode int, a, b []float32, c float32, y []float32) {
	parallelFor(len(y), 1, func(lo, hi int) {
		if hi == lo {
			return
		}
		var pa, pb *C.float
		if mode != 2 {
			pa = fp(a[lo:hi])
		}
		if mode != 1 {
			pb = fp(b[lo:hi])
		}
		C.mhcc_vbin(C.int(kind), C.int(mode), pa, pb, C.float(c), fp(y[lo:hi]), C.int(hi-lo))
	})
}

// vBinGrad: see mhcc_vbingrad; a or b nil means the scalar c.
func vBinGrad(kind, w int, a, b []float32, c float32, g, y []float32) {
	parallelFor(len(y), 1, func(lo, hi int) {
		if hi == lo {
			return
		}
		var pa, pb *C.float
		if a != nil {
			pa = fp(a[lo:hi])
		}
		if b != nil {
			pb = fp(b[lo:hi])
		}
		C.mhcc_vbingrad(C.int(kind), C.int(w), pa, pb, C.float(c), fp(g[lo:hi]), fp(y[lo:hi]), C.int(hi-lo))
	})
}

func vUnaryGrad(kind int, xy, g, dx []float32) {
	parallelFor(len(dx), 1, func(lo, hi int) {
		if hi > lo {
			C.mhcc_vunary_grad(C.int(kind), fp(xy[lo:hi]), fp(g[lo:hi]), fp(dx[lo:hi]), C.int(hi-lo))
		}
	})
}
