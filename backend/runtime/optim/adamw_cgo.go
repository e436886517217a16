//go:build cgo && amd64

package optim

/*
#cgo CFLAGS: -O2
#cgo LDFLAGS: -lm
#pragma GCC optimize("fp-contract=off")
#include <immintrin.h>
#include <math.h>

int mhcc_adamw_supported(void) { return __builtin_cpu_supports("avx2"); }

// The hyper-parameters as vectors, and the parameter update of elements
// i … i+3 from their new moments md and vd (doubles): the part the two
// kernels below share.
#define ADAMW_CONSTS \
	const __m256d B1 = _mm256_set1_pd(b1), OB1 = _mm256_set1_pd(1 - b1); \
	const __m256d B2 = _mm256_set1_pd(b2), OB2 = _mm256_set1_pd(1 - b2); \
	const __m256d ST = _mm256_set1_pd(step), BC = _mm256_set1_pd(bc2s), EP = _mm256_set1_pd(eps), DE = _mm256_set1_pd(decay);
#define ADAMW_UPDATE(md, vd) { \
	__m256d x = _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(p + i)), DE); \
	__m256d den = _mm256_add_pd(_mm256_div_pd(_mm256_sqrt_pd(vd), BC), EP); \
	x = _mm256_sub_pd(x, _mm256_div_pd(_mm256_mul_pd(ST, md), den)); \
	_mm_storeu_ps(p + i, _mm256_cvtpd_ps(x)); }

// One AdamW update of n elements, in exactly the operation order of the Go
// loop in adamw.go (no FMA contraction: fp-contract=off and separate
// multiplies and adds), so both give bit-identical results:
//   m = b1·m + (1−b1)·g;  v = b2·v + ((1−b2)·g)·g
//   x = p·decay;  x −= (step·m) / (sqrt(v)/bc2s + eps);  p = (float)x
__attribute__((target("avx2")))
void mhcc_adamw(float *p, const float *g, double *m, double *v, long n,
                double b1, double b2, double step, double bc2s, double eps, double decay) {
	ADAMW_CONSTS
	long i = 0;
	for (; i + 4 <= n; i += 4) {
		__m256d gd = _mm256_cvtps_pd(_mm_loadu_ps(g + i));
		__m256d md = _mm256_add_pd(_mm256_mul_pd(B1, _mm256_loadu_pd(m + i)), _mm256_mul_pd(OB1, gd));
		__m256d vd = _mm256_add_pd(_mm256_mul_pd(B2, _mm256_loadu_pd(v + i)), _mm256_mul_pd(_mm256_mul_pd(OB2, gd), gd));
		_mm256_storeu_pd(m + i, md);
		_mm256_storeu_pd(v + i, vd);
		ADAMW_UPDATE(md, vd)
	}
	for (; i < n; i++) {
		double gd = g[i];
		m[i] = b1 * m[i] + (1 - b1) * gd;
		v[i] = b2 * v[i] + (1 - b2) * gd * gd;
		double x = (double)p[i] * decay;
		x -= step * m[i] / (sqrt(v[i]) / bc2s + eps);
		p[i] = (float)x;
	}
}

// The same update with float32 moments: each new moment is computed in
// double from the stored float, rounded once into its float and the
// update uses the rounded value, exactly as the Go loop does.
__attribute__((target("avx2")))
void mhcc_adamw32(float *p, const float *g, float *m, float *v, long n,
                  double b1, double b2, double step, double bc2s, double eps, double decay) {
	ADAMW_CONSTS
	long i = 0;
	for (; i + 4 <= n; i += 4) {
		__m256d gd = _mm256_cvtps_pd(_mm_loadu_ps(g + i));
		__m128 m4 = _mm256_cvtpd_ps(_mm256_add_pd(_mm256_mul_pd(B1, _mm256_cvtps_pd(_mm_loadu_ps(m + i))), _mm256_mul_pd(OB1, gd)));
		__m128 v4 = _mm256_cvtpd_ps(_mm256_add_pd(_mm256_mul_pd(B2, _mm256_cvtps_pd(_mm_loadu_ps(v + i))), _mm256_mul_pd(_mm256_mul_pd(OB2, gd), gd)));
		_mm_storeu_ps(m + i, m4);
		_mm_storeu_ps(v + i, v4);
		__m256d md = _mm256_cvtps_pd(m4), vd = _mm256_cvtps_pd(v4);
		ADAMW_UPDATE(md, vd)
	}
	for (; i < n; i++) {
		double gd = g[i];
		float mi = (float)(b1 * (double)m[i] + (1 - b1) * gd);
		float vi = (float)(b2 * (double)v[i] + (1 - b2) * gd * gd);
		m[i] = mi;
		v[i] = vi;
		double x = (double)p[i] * decay;
		x -= step * (double)mi / (sqrt((double)vi) / bc2s + eps);
		p[i] = (float)x;
	}
}
*/
import "C"

import "unsafe"

// vecAdamW reports whether adamwVec runs the AVX2 kernel.
var vecAdamW = C.mhcc_adamw_supported() != 0

// adamwVec applies the update of Step to one chunk with the AVX2 kernel.
func adamwVec(p, g []float32, m, v []float64, b1, b2, step, bc2s, eps, decay float64) {
	if len(p) == 0 {
		return
	}
	C.mhcc_adamw((*C.float)(unsafe.Pointer(&p[0])), (*C.float)(unsafe.Pointer(&g[0])),
		(*C.double)(unsafe.Pointer(&m[0])), (*C.double)(unsafe.Pointer(&v[0])), C.long(len(p)),
		C.double(b1), C.double(b2), C.double(step), C.double(bc2s), C.double(eps), C.double(decay))
}

// adamwVec32 applies the float32-moment update of Step to one chunk with
// the AVX2 kernel.
func adamwVec32(p, g, m, v []float32, b1, b2, step, bc2s, eps, decay float64) {
	if len(p) == 0 {
		return
	}
	C.mhcc_adamw32((*C.float)(unsafe.Pointer(&p[0])), (*C.float)(unsafe.Pointer(&g[0])),
		(*C.float)(unsafe.Pointer(&m[0])), (*C.float)(unsafe.Pointer(&v[0])), C.long(len(p)),
		C.double(b1), C.double(b2), C.double(step), C.double(bc2s), C.double(eps), C.double(decay))
}
