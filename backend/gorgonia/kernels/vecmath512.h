// AVX-512 twins of vecmath.h's vector exp and tanh: the same float32
// operations in the same order on 16 lanes instead of 8 (compares into
// mask registers, blends by mask; both from vecmath_impl.h), so every
// lane's result is bit for bit the one exp256 and tanh256 give. Only run
// where mhcc_cpu_level reports AVX-512; compiled for it by function
// attribute alone.

#ifndef MHCC_VECMATH512_H
#define MHCC_VECMATH512_H

#include <immintrin.h>

#define TGT512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))

// exp512 and tanh512: exp256 and tanh256 on 16 lanes (vecmath_impl.h).
#define VT __m512
#define VI __m512i
#define VP _mm512
#define VTGT TGT512
#define VMASK __mmask16
#define VCMP(a, b, op) _mm512_cmp_ps_mask(a, b, op)
#define VSEL(m, a, b) _mm512_mask_blend_ps(m, a, b)
#define VZERO(m, y) _mm512_maskz_mov_ps((__mmask16)~(m), y)
#define VFLOOR(x) _mm512_roundscale_ps(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)
#define VCASTI(x) _mm512_castsi512_ps(x)
#define VEXP exp512
#define VTANH tanh512
#include "vecmath_impl.h"

// the first k < 16 lanes
static inline __mmask16 lanemask16(int k) { return (__mmask16)((1u << k) - 1); }

#endif
