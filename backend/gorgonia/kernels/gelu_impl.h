// The fused GELU kernels of gelu.c, written once for both widths: gelu.c
// includes this file for AVX2 and for AVX-512 after defining
//
//	VT, VP, VTGT    the vector type, intrinsics' prefix and target
//	VW              the lanes of a vector
//	VLM             the type of a load/store mask
//	VLANES(k)       the mask of the first min(k, VW) lanes
//	VLOAD(m, p)     the lanes of m loaded from p (0 elsewhere)
//	VSTORE(p, m, v) the lanes of m stored to p
//	VTANH           the vector tanh (tanh256, tanh512)
//	FWD, BWD        the names of the two kernels
//
// and undefines them at the end. The operations are those of gelu.c's
// GELU_* macros.

#define VCAT_(a, b) a##b
#define VCAT(a, b) VCAT_(a, b)
#define VF(op) VCAT(VP, op)

VTGT static void FWD(const float *x, float *y, float *t, int n, GELU_PARAMS) {
	const VT A = VF(_set1_ps)(a), C = VF(_set1_ps)(c), ONE = VF(_set1_ps)(1), HALF = VF(_set1_ps)(0.5f);
	for (int i = 0; i < n; i += VW) {
		VLM m = VLANES(n - i);
		VT xv = VLOAD(m, x + i);
		VT th = VTANH(GELU_U(VF, xv, A, C));
		if (t) VSTORE(t + i, m, th);
		VSTORE(y + i, m, GELU_Y(VF, th, xv, ONE, HALF));
	}
}

VTGT static void BWD(const float *x, const float *t, const float *g, float *dx, int n, GELU_PARAMS) {
	const VT A = VF(_set1_ps)(a), C = VF(_set1_ps)(c), A3 = VF(_set1_ps)(a3), HC = VF(_set1_ps)(hc);
	const VT ONE = VF(_set1_ps)(1), HALF = VF(_set1_ps)(0.5f);
	for (int i = 0; i < n; i += VW) {
		VLM m = VLANES(n - i);
		VT xv = VLOAD(m, x + i);
		VT th = t ? VLOAD(m, t + i) : VTANH(GELU_U(VF, xv, A, C));
		VT s = GELU_S(VF, xv, A3, HC, ONE);
		VSTORE(dx + i, m, GELU_D(VF, th, s, VLOAD(m, g + i), ONE, HALF));
	}
}

#undef VCAT_
#undef VCAT
#undef VF
#undef VT
#undef VP
#undef VTGT
#undef VW
#undef VLM
#undef VLANES
#undef VLOAD
#undef VSTORE
#undef VTANH
#undef FWD
#undef BWD
