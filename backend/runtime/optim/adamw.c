//go:build cgo && amd64

// The AdamW update kernels (adamw_cgo.go), AVX2, for float64 and float32
// moments, in exactly the operation order of the Go loop in adamw.go, so
// that both give bit-identical results. No FMA contraction: fp-contract is
// off for this file and every multiply and add is written out.

#pragma GCC optimize("fp-contract=off")

#include <immintrin.h>
#include <math.h>

int mhcc_adamw_supported(void) {
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2");
}

// The hyper-parameters of one update.
#define ADAMW_ARGS double b1, double b2, double step, double bc2s, double eps, double decay, double gscale
#define ADAMW_PASS b1, b2, step, bc2s, eps, decay, gscale

// The gradient as the update uses it: scaled by gscale (the clipping
// factor) and rounded to float32 when gscale ≠ 1, as ClipGlobalNorm
// stores it.
static inline double grad(const float *g, long i, double gscale) {
	double gd = g[i];
	return gscale != 1 ? (double)(float)(gd * gscale) : gd;
}

// The scalar updates of elements [i, n), the vector kernels' tails.
static void adamw_tail(float *p, const float *g, double *m, double *v, long i, long n, ADAMW_ARGS) {
	for (; i < n; i++) {
		double gd = grad(g, i, gscale);
		m[i] = b1 * m[i] + (1 - b1) * gd;
		v[i] = b2 * v[i] + (1 - b2) * gd * gd;
		double x = (double)p[i] * decay;
		x -= step * m[i] / (sqrt(v[i]) / bc2s + eps);
		p[i] = (float)x;
	}
}

static void adamw32_tail(float *p, const float *g, float *m, float *v, long i, long n, ADAMW_ARGS) {
	for (; i < n; i++) {
		double gd = grad(g, i, gscale);
		float mi = (float)(b1 * (double)m[i] + (1 - b1) * gd);
		float vi = (float)(b2 * (double)v[i] + (1 - b2) * gd * gd);
		m[i] = mi;
		v[i] = vi;
		double x = (double)p[i] * decay;
		x -= step * (double)mi / (sqrt((double)vi) / bc2s + eps);
		p[i] = (float)x;
	}
}

// The vector kernels: AVX2, 4 doubles from 4 floats (__m128) per step.
// (An AVX-512 twin, 8 doubles per step, measured no faster: the update is
// bound by its two divisions and square root, whose units do as many
// doubles per cycle at either width.)
#define TGT __attribute__((target("avx2")))
#define W 4
#define VD __m256d
#define VF __m128
#define LOADF _mm_loadu_ps
#define STOREF _mm_storeu_ps
#define CVTPS_PD _mm256_cvtps_pd
#define CVTPD_PS _mm256_cvtpd_ps
#define VF_(op) _mm256##op

// The hyper-parameters as vectors.
#define ADAMW_CONSTS                                                                              \
	const VD B1 = VF_(_set1_pd)(b1), OB1 = VF_(_set1_pd)(1 - b1);                             \
	const VD B2 = VF_(_set1_pd)(b2), OB2 = VF_(_set1_pd)(1 - b2);                             \
	const VD ST = VF_(_set1_pd)(step), BC = VF_(_set1_pd)(bc2s), EP = VF_(_set1_pd)(eps);     \
	const VD DE = VF_(_set1_pd)(decay), GS = VF_(_set1_pd)(gscale);                           \
	const int scaled = gscale != 1;

// The gradient of elements i … i+W−1 in double (grad()).
#define ADAMW_GRAD(gd)                                                                 \
	VD gd = CVTPS_PD(LOADF(g + i));                                                \
	if (scaled) gd = CVTPS_PD(CVTPD_PS(VF_(_mul_pd)(gd, GS)));

// The parameter update of elements i … i+W−1 from their new moments.
#define ADAMW_UPDATE(md, vd)                                                                              \
	{                                                                                                 \
		VD x = VF_(_mul_pd)(CVTPS_PD(LOADF(p + i)), DE);                                          \
		VD den = VF_(_add_pd)(VF_(_div_pd)(VF_(_sqrt_pd)(vd), BC), EP);                            \
		x = VF_(_sub_pd)(x, VF_(_div_pd)(VF_(_mul_pd)(ST, md), den));                             \
		STOREF(p + i, CVTPD_PS(x));                                                               \
	}

TGT static void adamw_avx2(float *p, const float *g, double *m, double *v, long n, ADAMW_ARGS) {
	ADAMW_CONSTS
	long i = 0;
	for (; i + W <= n; i += W) {
		ADAMW_GRAD(gd)
		VD md = VF_(_add_pd)(VF_(_mul_pd)(B1, VF_(_loadu_pd)(m + i)), VF_(_mul_pd)(OB1, gd));
		VD vd = VF_(_add_pd)(VF_(_mul_pd)(B2, VF_(_loadu_pd)(v + i)), VF_(_mul_pd)(VF_(_mul_pd)(OB2, gd), gd));
		VF_(_storeu_pd)(m + i, md);
		VF_(_storeu_pd)(v + i, vd);
		ADAMW_UPDATE(md, vd)
	}
	adamw_tail(p, g, m, v, i, n, ADAMW_PASS);
}

TGT static void adamw32_avx2(float *p, const float *g, float *m, float *v, long n, ADAMW_ARGS) {
	ADAMW_CONSTS
	long i = 0;
	for (; i + W <= n; i += W) {
		ADAMW_GRAD(gd)
		VF mw = CVTPD_PS(VF_(_add_pd)(VF_(_mul_pd)(B1, CVTPS_PD(LOADF(m + i))), VF_(_mul_pd)(OB1, gd)));
		VF vw = CVTPD_PS(VF_(_add_pd)(VF_(_mul_pd)(B2, CVTPS_PD(LOADF(v + i))), VF_(_mul_pd)(VF_(_mul_pd)(OB2, gd), gd)));
		STOREF(m + i, mw);
		STOREF(v + i, vw);
		VD md = CVTPS_PD(mw), vd = CVTPS_PD(vw);
		ADAMW_UPDATE(md, vd)
	}
	adamw32_tail(p, g, m, v, i, n, ADAMW_PASS);
}

// One AdamW update of n elements (adamw.go's loop):
//   g = gscale = 1 ? g : (float)(g·gscale)
//   m = b1·m + (1−b1)·g;  v = b2·v + ((1−b2)·g)·g
//   x = p·decay;  x −= (step·m) / (sqrt(v)/bc2s + eps);  p = (float)x
void mhcc_adamw(float *p, const float *g, double *m, double *v, long n, ADAMW_ARGS) {
	adamw_avx2(p, g, m, v, n, ADAMW_PASS);
}

// The same update with float32 moments: each new moment is computed in
// double from the stored float, rounded once into its float and the
// update uses the rounded value, exactly as the Go loop does.
void mhcc_adamw32(float *p, const float *g, float *m, float *v, long n, ADAMW_ARGS) {
	adamw32_avx2(p, g, m, v, n, ADAMW_PASS);
}
