//go:build cgo && amd64

// The hyper-connection kernels (hc.go): hc.read and hc.write forward and
// backward, and hc.coeffs' thin projection (with an AVX-512 tile), its
// weight gradient and the RMS term of its input gradient.

#include <string.h>
#include "vecmath.h"
#include "kernels.h"

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

// The sum of squares of one row of x, a K-block (kb floats from k0) at a
// time from the packed copy xr, in exactly vdot's order (vecmath.h): its
// two accumulators, 16 floats a step, live in sq between blocks (every
// block but the last is a multiple of 16 long); after the last block it
// sets *inv = 1/sqrt(Σx²/K + eps) as mhcc_rms_inv does.
TGT static inline void proj_sumsq(const float *xr, float *sq, int k0, int kb, int K, double eps, float *inv) {
	__m256 s0 = k0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(sq);
	__m256 s1 = k0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(sq + 8);
	int i = 0;
	for (; i <= kb - 16; i += 16) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(xr + i), _mm256_loadu_ps(xr + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(xr + i + 8), _mm256_loadu_ps(xr + i + 8), s1);
	}
	if (k0 + kb < K) {
		_mm256_storeu_ps(sq, s0);
		_mm256_storeu_ps(sq + 8, s1);
		return;
	}
	for (; i <= kb - 8; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(xr + i), _mm256_loadu_ps(xr + i), s0);
	float s = hsum(_mm256_add_ps(s0, s1));
	for (; i < kb; i++) s += xr[i] * xr[i];
	*inv = (float)(1.0 / __builtin_sqrt((double)s / K + eps));
}

#define TGT512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))
#define ROWS8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define P512_INIT(r)                                                                                              \
	__m512 a##r = first || r >= tr ? _mm512_setzero_ps() : _mm512_loadu_ps(m + (size_t)(r) * w);             \
	__m256 b##r = first || r >= tr ? _mm256_setzero_ps() : _mm256_loadu_ps(m + (size_t)(r) * w + 16);
#define P512_STEP(r)                                                                      \
	{                                                                                 \
		__m512 xb = _mm512_set1_ps(xp[(r) * PROJ_KB + kk]);                       \
		a##r = _mm512_fmadd_ps(xb, p0, a##r);                                     \
		b##r = _mm256_fmadd_ps(_mm512_castps512_ps256(xb), p1, b##r);             \
	}
#define P512_STORE(r)                                                    \
	if (r < tr) {                                                    \
		_mm512_storeu_ps(m + (size_t)(r) * w, a##r);             \
		_mm256_storeu_ps(m + (size_t)(r) * w + 16, b##r);        \
	}

// The AVX-512 tile: 8 tokens × 24 columns (a zmm and a ymm per token, 16
// accumulators in named registers), for the K-block of kb rows of phi at pk
// and the 8 packed rows of x in xp; it adds to the tr rows of m (from zero
// when first). Per row of phi: two loads, 8 broadcasts, 16 FMAs where the
// AVX2 tile needs 24 for the same 8 tokens. Every m[t, j] takes the same
// FMAs in the same order as in proj_4x24.
TGT512 static void proj_8x24_512(const float *xp, const float *pk, int w, int kb, float *m, int tr, int first) {
	ROWS8(P512_INIT)
	for (int kk = 0; kk < kb; kk++, pk += w) {
		__m512 p0 = _mm512_loadu_ps(pk);
		__m256 p1 = _mm256_loadu_ps(pk + 16);
		ROWS8(P512_STEP)
	}
	ROWS8(P512_STORE)
}

// m[t, 0:w] = x[t, 0:K]·phi[K, w] for t in [t0, t1): the thin product of
// hc.coeffs. For each block of PROJ_KB rows of phi (24 KiB at w = 24, kept
// in L1) every tile of 4 tokens × 24 columns accumulates in 12 registers;
// the tile's 4 rows of x are first copied into a contiguous buffer, because
// they are K floats apart (a power of two at the usual widths) and read in
// step they would evict each other from L1. With wide (AVX-512, w a
// multiple of 24) the tiles are 8 tokens × 24 columns (proj_8x24_512).
//
// With inv (and sq: scratch of 16 floats per token of [t0, t1)), it also
// sets inv[t] = 1/sqrt(mean(x_t²) + eps) from the packed copies, equal to
// mhcc_rms_inv's, so that x is read once.
TGT static void hc_proj(const float *x, const float *phi, float *m, int t0, int t1, int K, int w, float *inv, float *sq, double eps, int wide) {
	float xp[8 * PROJ_KB] __attribute__((aligned(32)));
	int tt = wide ? 8 : 4;
	for (int j0 = 0; j0 < w; j0 += 24) {
		__m256i mk[3];
		int nv, full;
		colblock(w, j0, mk, &nv, &full);
		for (int k0 = 0; k0 < K; k0 += PROJ_KB) {
			int kb = K - k0 < PROJ_KB ? K - k0 : PROJ_KB;
			for (int t = t0; t < t1; t += tt) {
				int tr = t1 - t < tt ? t1 - t : tt;
				for (int r = 0; r < tt; r++) {
					if (r < tr) memcpy(xp + r * PROJ_KB, x + (size_t)(t + r) * K + k0, sizeof(float) * kb);
					else memset(xp + r * PROJ_KB, 0, sizeof(float) * kb);
				}
				if (inv && j0 == 0)
					for (int r = 0; r < tr; r++)
						proj_sumsq(xp + r * PROJ_KB, sq + (size_t)(t + r - t0) * 16, k0, kb, K, eps, inv + t + r);
				if (wide) {
					proj_8x24_512(xp, phi + (size_t)k0 * w + j0, w, kb, m + (size_t)t * w + j0, tr, k0 == 0);
					continue;
				}
				__m256 acc[4][3];
				for (int r = 0; r < 4; r++)
					for (int v = 0; v < 3; v++)
						acc[r][v] = k0 == 0 || r >= tr || v >= nv ? _mm256_setzero_ps()
						                                          : _mm256_maskload_ps(m + (size_t)(t + r) * w + j0 + 8 * v, mk[v]);
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

#define PROJ_TT 128

// hc_proj over [t0, t1); with inv, PROJ_TT tokens at a time, whose sums of
// squares fit in scratch on the stack (every m[t, j] and inv[t] sums in the
// same order whatever the range). avx512 asks for the AVX-512 tiles (the
// caller has checked the CPU), used when w is a multiple of 24.
TGT void mhcc_hc_proj(const float *x, const float *phi, float *m, int t0, int t1, int K, int w, float *inv, double eps, int avx512) {
	int wide = avx512 && w % 24 == 0;
	if (!inv) {
		hc_proj(x, phi, m, t0, t1, K, w, NULL, NULL, eps, wide);
		return;
	}
	float sq[PROJ_TT * 16];
	for (int t = t0; t < t1; t += PROJ_TT) hc_proj(x, phi, m, t, t1 - t < PROJ_TT ? t1 : t + PROJ_TT, K, w, inv, sq, eps, wide);
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

// dX_tj = Σ_i R[t,i,j]·G_ti + h[t,j]·gu_t + cs[t]·X_tj: the parts of a stream
// tensor's gradient from hc.write, hc.read and hc.coeffs' RMS term in one
// pass (hc.go, HCXParts; the GEMM adds dz·phiᵀ afterwards). For n ≤ 8 every
// 8 columns of a token load G_t's n rows and gu_t once for all n outputs
// (0.91–0.93 of the time of a loop over the outputs first at d 1536,
// BenchmarkHCStreamPasses).
TGT static inline void hc_xparts(const float *R, const float *G, const float *h, const float *gu, const float *cs, const float *X,
                                 float *dX, int t0, int t1, int n, int c) {
	for (int t = t0; t < t1; t++) {
		const float *gt = G + (size_t)t * n * c, *rt = R + (size_t)t * n * n, *ut = gu + (size_t)t * c, *ht = h + (size_t)t * n;
		const float *xt = X + (size_t)t * n * c;
		float *dt = dX + (size_t)t * n * c;
		__m256 ct = _mm256_set1_ps(cs[t]);
		int k = 0;
		if (n <= 8)
			for (; k <= c - 8; k += 8) { // each G_ti and gu_t loaded once for all n outputs
				__m256 g[8];
				for (int i = 0; i < n; i++) g[i] = _mm256_loadu_ps(gt + i * c + k);
				__m256 u = _mm256_loadu_ps(ut + k);
				for (int j = 0; j < n; j++) {
					__m256 acc = _mm256_mul_ps(_mm256_broadcast_ss(rt + j), g[0]);
					for (int i = 1; i < n; i++) acc = _mm256_fmadd_ps(_mm256_broadcast_ss(rt + i * n + j), g[i], acc);
					acc = _mm256_fmadd_ps(_mm256_broadcast_ss(ht + j), u, acc);
					_mm256_storeu_ps(dt + j * c + k, _mm256_fmadd_ps(ct, _mm256_loadu_ps(xt + j * c + k), acc));
				}
			}
		for (int j = 0; j < n; j++) {
			const float *xj = xt + (size_t)j * c;
			float *d = dt + (size_t)j * c;
			int kk = k;
			for (; kk <= c - 8; kk += 8) {
				__m256 acc = _mm256_mul_ps(_mm256_set1_ps(rt[j]), _mm256_loadu_ps(gt + kk));
				for (int i = 1; i < n; i++) acc = _mm256_fmadd_ps(_mm256_set1_ps(rt[i * n + j]), _mm256_loadu_ps(gt + i * c + kk), acc);
				acc = _mm256_fmadd_ps(_mm256_set1_ps(ht[j]), _mm256_loadu_ps(ut + kk), acc);
				_mm256_storeu_ps(d + kk, _mm256_fmadd_ps(ct, _mm256_loadu_ps(xj + kk), acc));
			}
			for (; kk < c; kk++) {
				float a = rt[j] * gt[kk];
				for (int i = 1; i < n; i++) a += rt[i * n + j] * gt[i * c + kk];
				d[kk] = a + ht[j] * ut[kk] + cs[t] * xj[kk];
			}
		}
	}
}

TGT void mhcc_hc_xparts(const float *R, const float *G, const float *h, const float *gu, const float *cs, const float *X, float *dX,
                        int t0, int t1, int n, int c) {
	switch (n) {
	case 1: hc_xparts(R, G, h, gu, cs, X, dX, t0, t1, 1, c); break;
	case 2: hc_xparts(R, G, h, gu, cs, X, dX, t0, t1, 2, c); break;
	case 4: hc_xparts(R, G, h, gu, cs, X, dX, t0, t1, 4, c); break;
	default: hc_xparts(R, G, h, gu, cs, X, dX, t0, t1, n, c);
	}
}
