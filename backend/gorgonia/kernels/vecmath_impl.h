// The vector exp and tanh of vecmath.h (8 lanes, AVX2) and vecmath512.h
// (16 lanes, AVX-512), written once: each includes this file with its
// width's definitions, so both do the same float32 operations in the same
// order and every lane's result is the same bit for bit. Before including
// it, define:
//
//	VT, VI         the float and integer vector types (__m256, __m256i, …)
//	VP             the intrinsics' prefix (_mm256, _mm512)
//	VTGT           the target attribute of the functions
//	VMASK          the type of a comparison's result
//	VCMP(a, b, op) a per-lane comparison, a VMASK
//	VSEL(m, a, b)  b in the lanes of m, a elsewhere
//	VZERO(m, y)    y with the lanes of m set to +0
//	VFLOOR(x)      rounding down to an integer
//	VCASTI(x)      an integer vector's bits as floats
//	VEXP, VTANH    the names of the two functions
//
// It undefines them all at the end.

#define VCAT_(a, b) a##b
#define VCAT(a, b) VCAT_(a, b)
#define VF(op) VCAT(VP, op)

// Cephes expf: n = round(x/ln2), r = x − n·ln2, e^r by a degree-6
// polynomial, times 2^n. Inputs below −87.34 give 0, above 88.37 +Inf.
VTGT static inline VT VEXP(VT x) {
	VT x0 = x;
	const VT hi = VF(_set1_ps)(88.3762626647949f), lo = VF(_set1_ps)(-87.33654f);
	VMASK under = VCMP(x, lo, _CMP_LT_OQ);
	VMASK over = VCMP(x, hi, _CMP_GT_OQ);
	x = VF(_max_ps)(VF(_min_ps)(x, hi), lo);
	VT fx = VFLOOR(VF(_fmadd_ps)(x, VF(_set1_ps)(1.44269504088896341f), VF(_set1_ps)(0.5f)));
	VT r = VF(_fnmadd_ps)(fx, VF(_set1_ps)(0.693359375f), x);
	r = VF(_fnmadd_ps)(fx, VF(_set1_ps)(-2.12194440e-4f), r);
	VT p = VF(_set1_ps)(1.9875691500e-4f);
	p = VF(_fmadd_ps)(p, r, VF(_set1_ps)(1.3981999507e-3f));
	p = VF(_fmadd_ps)(p, r, VF(_set1_ps)(8.3334519073e-3f));
	p = VF(_fmadd_ps)(p, r, VF(_set1_ps)(4.1665795894e-2f));
	p = VF(_fmadd_ps)(p, r, VF(_set1_ps)(1.6666665459e-1f));
	p = VF(_fmadd_ps)(p, r, VF(_set1_ps)(5.0000001201e-1f));
	p = VF(_fmadd_ps)(p, VF(_mul_ps)(r, r), VF(_add_ps)(r, VF(_set1_ps)(1.0f)));
	// 2^n in two halves so that n = 128 (x near the top) stays finite
	VI n = VF(_cvttps_epi32)(fx);
	VI h = VF(_srai_epi32)(n, 1);
	VT p1 = VCASTI(VF(_slli_epi32)(VF(_add_epi32)(h, VF(_set1_epi32)(127)), 23));
	VT p2 = VCASTI(VF(_slli_epi32)(VF(_add_epi32)(VF(_sub_epi32)(n, h), VF(_set1_epi32)(127)), 23));
	VT y = VF(_mul_ps)(VF(_mul_ps)(p, p1), p2);
	y = VZERO(under, y);
	y = VSEL(over, y, VF(_set1_ps)(__builtin_inff()));
	return VSEL(VCMP(x0, x0, _CMP_UNORD_Q), y, x0); // NaN stays NaN
}

VTGT static inline VT VTANH(VT x) {
	const VT sign = VF(_set1_ps)(-0.0f);
	VT a = VF(_andnot_ps)(sign, x);
	VT z = VF(_mul_ps)(x, x);
	VT p = VF(_set1_ps)(-5.70498872745e-3f);
	p = VF(_fmadd_ps)(p, z, VF(_set1_ps)(2.06390887954e-2f));
	p = VF(_fmadd_ps)(p, z, VF(_set1_ps)(-5.37397155531e-2f));
	p = VF(_fmadd_ps)(p, z, VF(_set1_ps)(1.33314422036e-1f));
	p = VF(_fmadd_ps)(p, z, VF(_set1_ps)(-3.33332819422e-1f));
	VT small = VF(_fmadd_ps)(VF(_mul_ps)(p, z), x, x);
	small = VF(_or_ps)(small, VF(_and_ps)(sign, x)); // tanh(−0) = −0; no change elsewhere
	VT e = VEXP(VF(_add_ps)(a, a));
	VT big = VF(_sub_ps)(VF(_set1_ps)(1.0f), VF(_div_ps)(VF(_set1_ps)(2.0f), VF(_add_ps)(e, VF(_set1_ps)(1.0f))));
	big = VF(_or_ps)(big, VF(_and_ps)(sign, x));
	return VSEL(VCMP(a, VF(_set1_ps)(0.625f), _CMP_LT_OQ), big, small);
}

#undef VCAT_
#undef VCAT
#undef VF
#undef VT
#undef VI
#undef VP
#undef VTGT
#undef VMASK
#undef VCMP
#undef VSEL
#undef VZERO
#undef VFLOOR
#undef VCASTI
#undef VEXP
#undef VTANH
