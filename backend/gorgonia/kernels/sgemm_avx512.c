//go:build cgo && amd64

// The AVX-512 level of the float32 GEMM (sgemm.c dispatches to it): a
// 12×32 micro-kernel (24 zmm accumulators; per step of k two loads of B,
// twelve broadcasts of A and 24 FMAs) and packing that transposes 16×16
// blocks in registers. Compiled for AVX-512 by function attribute only,
// so the package builds with plain flags, and run only where
// mhcc_cpu_level reports AVX-512. MR = 14 (28 accumulators) measured
// slower (GCC spills), MR = 8 no faster.

#include <stddef.h>
#include <string.h>
#include <immintrin.h>
#include "kernels.h"

#define MR 12
#define NR 32
#define MC 144
#define NCB 512
#define TARGET __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))
#define FN(x) mhcc_sgemm_avx512_##x
#define KERNEL kernel512

// ROWS(X) expands X(0) … X(11): the rows of the tile, as named variables
// (GCC keeps those in registers; an array of accumulators it may spill).
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

#define DECL(i) __m512 c##i##a = _mm512_setzero_ps(), c##i##b = _mm512_setzero_ps();
#define STEP(i)                                                  \
	{                                                        \
		__m512 ai = _mm512_set1_ps(Ap[i]);               \
		c##i##a = _mm512_fmadd_ps(ai, b0, c##i##a);      \
		c##i##b = _mm512_fmadd_ps(ai, b1, c##i##b);      \
	}
#define PREFETCH_C(i)                                                         \
	if (i < mr) {                                                         \
		_mm_prefetch((const char *)(C + (size_t)(i) * ldc), _MM_HINT_T0);      \
		_mm_prefetch((const char *)(C + (size_t)(i) * ldc + 16), _MM_HINT_T0); \
	}
#define STORE(i)                                                                          \
	if (i < mr) {                                                                     \
		float *ci = C + (size_t)(i) * ldc;                                        \
		if (add) {                                                                \
			c##i##a = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, ci), c##i##a);  \
			c##i##b = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, ci + 16), c##i##b); \
		}                                                                         \
		_mm512_mask_storeu_ps(ci, m0, c##i##a);                                   \
		_mm512_mask_storeu_ps(ci + 16, m1, c##i##b);                              \
	}

// C[mr×nr] (+)= Ap[kc×MR]ᵀ-panel · Bp[kc×32]: the full MR×32 tile is
// computed, the mr×nr corner stored (masked), added to C when add.
TARGET static void kernel512(int kc, const float *Ap, const float *Bp, float *C, int ldc, int mr, int nr, int add) {
	ROWS(DECL)
	ROWS(PREFETCH_C)
	for (int p = 0; p < kc; p++) {
		// the B panel streams from L2: fetch its lines 8 steps ahead
		_mm_prefetch((const char *)(Bp + 8 * NR), _MM_HINT_T0);
		_mm_prefetch((const char *)(Bp + 8 * NR + 16), _MM_HINT_T0);
		__m512 b0 = _mm512_loadu_ps(Bp), b1 = _mm512_loadu_ps(Bp + 16);
		ROWS(STEP)
		Ap += MR;
		Bp += NR;
	}
	__mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
	__mmask16 m1 = nr >= 32 ? 0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
	ROWS(STORE)
}

// transpose16 transposes the 16×16 block r[0..15] (rows) in place.
TARGET static inline void transpose16(__m512 r[16]) {
	__m512 t[16], u[16];
	for (int i = 0; i < 8; i++) {
		t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
		t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
	}
	// u[4g+c], 128-bit lane L: column 4L+c of rows 4g..4g+3
	for (int g = 0; g < 4; g++) {
		u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g + 0], t[4 * g + 2], 0x44);
		u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g + 0], t[4 * g + 2], 0xEE);
		u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
		u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
	}
	// row 4L+c of the result: lane L of u[c], u[4+c], u[8+c], u[12+c]
	for (int c = 0; c < 4; c++) {
		__m512 s0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
		__m512 s1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
		__m512 s2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
		__m512 s3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
		r[c] = _mm512_shuffle_f32x4(s0, s2, 0x88);
		r[8 + c] = _mm512_shuffle_f32x4(s0, s2, 0xDD);
		r[4 + c] = _mm512_shuffle_f32x4(s1, s3, 0x88);
		r[12 + c] = _mm512_shuffle_f32x4(s1, s3, 0xDD);
	}
}

// tpanel writes the transpose of rows [0, rows) × columns [0, kc) of X
// (leading dimension ld; rows ≤ 16) as kc rows of w floats at Y + p·ys
// (w ≤ 16 with the columns past rows zero): 16 columns at a time.
TARGET static inline void tpanel(const float *X, int ld, int rows, int kc, float *Y, int ys, int w) {
	__mmask16 wm = (__mmask16)((1u << w) - 1);
	for (int p0 = 0; p0 < kc; p0 += 16) {
		int np = kc - p0 < 16 ? kc - p0 : 16;
		__mmask16 pm = (__mmask16)((1u << np) - 1);
		__m512 r[16];
		for (int i = 0; i < 16; i++)
			r[i] = i < rows ? _mm512_maskz_loadu_ps(pm, X + (size_t)i * ld + p0) : _mm512_setzero_ps();
		transpose16(r);
		for (int p = 0; p < np; p++) _mm512_mask_storeu_ps(Y + (size_t)(p0 + p) * ys, wm, r[p]);
	}
}

// transpose_panel512 is the template's transpose_panel (sgemm_impl.h) in
// 16×16 blocks: rows j of src become columns j of dst, 16 at a time.
TARGET static void transpose_panel512(const float *src, int ld, int x, int w, int kc, float *dst) {
	for (int h = 0; h < w; h += 16) {
		int rows = x - h < 0 ? 0 : x - h < 16 ? x - h : 16;
		tpanel(src + (size_t)h * ld, ld, rows, kc, dst + h, w, w - h < 16 ? w - h : 16);
	}
}
#define TRANSPOSE_PANEL transpose_panel512

#include "sgemm_impl.h"
