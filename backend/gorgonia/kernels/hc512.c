//go:build cgo && amd64

// The AVX-512 versions of hc.coeffs' thin products (hc.c holds the AVX2
// ones): compiled for AVX-512 by function attribute only and run only
// where mhcc_cpu_level reports AVX-512 and the native level is not capped
// below it (hc.go, hc512). Each sums every element in the same order as its
// AVX2 twin, so the two agree bit for bit.

#include <stddef.h>
#include <string.h>
#include <immintrin.h>
#include "kernels.h"

#define TGT512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))

// ---------------------------------------------------------------- weight gradient

#define DPHI_TB 32

// DPHI_12(X) expands X(0) … X(11): the 12 columns of a block, whose 24
// accumulators (two zmm of 16 rows each) are named variables so that GCC
// keeps them in registers.
#define DPHI_12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define DPHI_LOAD(j)                                                            \
	__m512 a##j##0 = _mm512_maskz_loadu_ps(m0, S + (size_t)(j) * K);        \
	__m512 a##j##1 = _mm512_maskz_loadu_ps(m1, S + (size_t)(j) * K + 16);
#define DPHI_STEP(j)                                                            \
	{                                                                       \
		__m512 b = _mm512_set1_ps(dt[j]);                               \
		a##j##0 = _mm512_fmadd_ps(x0, b, a##j##0);                      \
		a##j##1 = _mm512_fmadd_ps(x1, b, a##j##1);                      \
	}
#define DPHI_STORE(j)                                                           \
	_mm512_mask_storeu_ps(S + (size_t)(j) * K, m0, a##j##0);                \
	_mm512_mask_storeu_ps(S + (size_t)(j) * K + 16, m1, a##j##1);

// S[j, k0 + 0..32) += Σ_t xp[t, 0..32)·dz[t, j] for 12 columns j and the
// nt packed tokens (rows of 32 floats); S is transposed ([w][K]), so each
// column's 32 rows are two zmm. Per token: two loads of x, 12 broadcasts,
// 24 FMAs.
TGT512 static void dphi_32x12(const float *xp, const float *dz, int w, float *S, int K, int nt, __mmask16 m0, __mmask16 m1) {
	DPHI_12(DPHI_LOAD)
	for (int t = 0; t < nt; t++) {
		__m512 x0 = _mm512_load_ps(xp + t * 32), x1 = _mm512_load_ps(xp + t * 32 + 16);
		const float *dt = dz + (size_t)t * w;
		DPHI_12(DPHI_STEP)
	}
	DPHI_12(DPHI_STORE)
}

// The same for nj < 12 columns (accumulators in an array).
TGT512 static void dphi_32xj(const float *xp, const float *dz, int w, float *S, int K, int nt, int nj, __mmask16 m0, __mmask16 m1) {
	__m512 a[12][2];
	for (int j = 0; j < nj; j++) {
		a[j][0] = _mm512_maskz_loadu_ps(m0, S + (size_t)j * K);
		a[j][1] = _mm512_maskz_loadu_ps(m1, S + (size_t)j * K + 16);
	}
	for (int t = 0; t < nt; t++) {
		__m512 x0 = _mm512_load_ps(xp + t * 32), x1 = _mm512_load_ps(xp + t * 32 + 16);
		for (int j = 0; j < nj; j++) {
			__m512 b = _mm512_set1_ps(dz[(size_t)t * w + j]);
			a[j][0] = _mm512_fmadd_ps(x0, b, a[j][0]);
			a[j][1] = _mm512_fmadd_ps(x1, b, a[j][1]);
		}
	}
	for (int j = 0; j < nj; j++) {
		_mm512_mask_storeu_ps(S + (size_t)j * K, m0, a[j][0]);
		_mm512_mask_storeu_ps(S + (size_t)j * K + 16, m1, a[j][1]);
	}
}

// dphi[K, w] = Σ_{t ∈ [t0, t1)} x_tᵀ·dz_t (overwritten), as mhcc_hc_dphi
// (hc.c) but with the rows of dphi in the vector lanes: the sums build up
// transposed in per-thread scratch S [w][K] (mhcc_sgemm_buf; 192 KiB at
// K = 2048, w = 24, kept in L2), DPHI_TB tokens at a time; for each 32
// rows of x the block's rows are first packed (they are K floats apart,
// a power of two at the usual widths, and would evict each other from L1),
// then each 12 columns take two zmm of x and 12 broadcasts per token for 24
// FMAs. Every element sums its tokens in order from zero with the same
// FMAs as there, so the two agree bit for bit; without scratch it runs
// mhcc_hc_dphi.
TGT512 void mhcc_hc_dphi512(const float *x, const float *dz, float *dphi, int t0, int t1, int K, int w) {
	float *S = mhcc_sgemm_buf((unsigned long)K * w);
	if (!S) {
		mhcc_hc_dphi(x, dz, dphi, t0, t1, K, w);
		return;
	}
	memset(S, 0, sizeof(float) * (size_t)K * w);
	float xp[DPHI_TB * 32] __attribute__((aligned(64)));
	for (int tb = t0; tb < t1; tb += DPHI_TB) {
		int nt = t1 - tb < DPHI_TB ? t1 - tb : DPHI_TB;
		const float *dzb = dz + (size_t)tb * w;
		for (int k0 = 0; k0 < K; k0 += 32) {
			int kr = K - k0 < 32 ? K - k0 : 32;
			__mmask16 m0 = kr >= 16 ? 0xFFFF : (__mmask16)((1u << kr) - 1);
			__mmask16 m1 = kr >= 32 ? 0xFFFF : kr > 16 ? (__mmask16)((1u << (kr - 16)) - 1) : 0;
			for (int t = 0; t < nt; t++) {
				const float *xr = x + (size_t)(tb + t) * K + k0;
				_mm512_store_ps(xp + t * 32, _mm512_maskz_loadu_ps(m0, xr));
				_mm512_store_ps(xp + t * 32 + 16, _mm512_maskz_loadu_ps(m1, xr + 16));
			}
			for (int j0 = 0; j0 < w; j0 += 12) {
				int nj = w - j0 < 12 ? w - j0 : 12;
				if (nj == 12) dphi_32x12(xp, dzb + j0, w, S + (size_t)j0 * K + k0, K, nt, m0, m1);
				else dphi_32xj(xp, dzb + j0, w, S + (size_t)j0 * K + k0, K, nt, nj, m0, m1);
			}
		}
	}
	for (int k = 0; k < K; k++)
		for (int j = 0; j < w; j++) dphi[(size_t)k * w + j] = S[(size_t)j * K + k];
}
