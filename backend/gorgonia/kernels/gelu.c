//go:build cgo && amd64

// The fused float32 GELU kernels (gelu.go): one pass per element that
// does, in registers, exactly the float32 operations of the former
// sequence of whole-array passes (mhcc_vbin, mhcc_vunary's tanh), in the
// same order and with the same operands, so the results are the same bit
// for bit. Contraction of a multiply and an add into an FMA would change
// them: it is off for this file. AVX2, or AVX-512 (16 lanes, vecmath512.h)
// where the CPU has it.

#pragma GCC optimize("fp-contract=off")

#include "vecmath.h"
#include "vecmath512.h"
#include "kernels.h"

// The constants: a = 0.044715, c = √(2/π), a3 = 3·a, hc = 0.5·c, each
// rounded to float32 by the caller as the former passes' scalars were.
#define GELU_PARAMS float a, float c, float a3, float hc

// u = ((x·x)·x·a + x)·c and the backward's multiplier of (1 − t), as the
// former passes computed them (vbin mul, mul, mul, add, mul and
// mul, mul, add, mul, mul); F(op) names an intrinsic of the width.
#define GELU_U(F, x, A, C) F(_mul_ps)(F(_add_ps)(x, F(_mul_ps)(F(_mul_ps)(F(_mul_ps)(x, x), x), A)), C)
#define GELU_S(F, x, A3, HC, ONE) F(_mul_ps)(F(_mul_ps)(F(_add_ps)(F(_mul_ps)(F(_mul_ps)(x, x), A3), ONE), x), HC)
// y = ((t + 1)·x)·0.5
#define GELU_Y(F, t, x, ONE, HALF) F(_mul_ps)(F(_mul_ps)(F(_add_ps)(t, ONE), x), HALF)
// dx = ((t + 1)·(s·(1 − t) + 0.5))·g
#define GELU_D(F, t, s, g, ONE, HALF) \
	F(_mul_ps)(F(_mul_ps)(F(_add_ps)(t, ONE), F(_add_ps)(F(_mul_ps)(s, F(_sub_ps)(ONE, t)), HALF)), g)

// gelu_fwd256, gelu_bwd256: AVX2, 8 lanes (masked loads and stores, all
// lanes but at the end).
#define VT __m256
#define VP _mm256
#define VTGT TGT
#define VW 8
#define VLM __m256i
#define VLANES(k) lanemask(k)
#define VLOAD(m, p) _mm256_maskload_ps(p, m)
#define VSTORE(p, m, v) _mm256_maskstore_ps(p, m, v)
#define VTANH tanh256
#define FWD gelu_fwd256
#define BWD gelu_bwd256
#include "gelu_impl.h"

// gelu_fwd512, gelu_bwd512: AVX-512, 16 lanes.
#define VT __m512
#define VP _mm512
#define VTGT TGT512
#define VW 16
#define VLM __mmask16
#define VLANES(k) ((k) >= 16 ? (__mmask16)0xffff : lanemask16(k))
#define VLOAD(m, p) _mm512_maskz_loadu_ps(m, p)
#define VSTORE(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define VTANH tanh512
#define FWD gelu_fwd512
#define BWD gelu_bwd512
#include "gelu_impl.h"

void mhcc_gelu_fwd(int avx512, const float *x, float *y, float *t, int n, GELU_PARAMS) {
	if (avx512) gelu_fwd512(x, y, t, n, a, c, a3, hc);
	else gelu_fwd256(x, y, t, n, a, c, a3, hc);
}

void mhcc_gelu_bwd(int avx512, const float *x, const float *t, const float *g, float *dx, int n, GELU_PARAMS) {
	if (avx512) gelu_bwd512(x, t, g, dx, n, a, c, a3, hc);
	else gelu_bwd256(x, t, g, dx, n, a, c, a3, hc);
}
