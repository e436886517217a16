//go:build cgo && amd64

// Binary ops with a vector or scalar operand, their gradients, and the
// gradients of the unary ops (elementwise.go).

#include "vecmath.h"
#include "kernels.h"

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
