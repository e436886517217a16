//go:build cgo && amd64

package optim

/*
#cgo CFLAGS: -O2
#cgo LDFLAGS: -lm
int mhcc_adamw_supported(void);
void mhcc_adamw(float *p, const float *g, double *m, double *v, long n,
                double b1, double b2, double step, double bc2s, double eps, double decay, double gscale);
void mhcc_adamw32(float *p, const float *g, float *m, float *v, long n,
                  double b1, double b2, double step, double bc2s, double eps, double decay, double gscale);
*/
import "C"

import "unsafe"

// vecAdamW reports whether adamwVec runs the AVX2 kernels (adamw.c).
var vecAdamW = C.mhcc_adamw_supported() != 0

// adamwVec applies the update of Step to one chunk with the AVX2 kernel.
func adamwVec(p, g []float32, m, v []float64, h adamwHyper) {
	if len(p) == 0 {
		return
	}
	C.mhcc_adamw((*C.float)(unsafe.Pointer(&p[0])), (*C.float)(unsafe.Pointer(&g[0])),
		(*C.double)(unsafe.Pointer(&m[0])), (*C.double)(unsafe.Pointer(&v[0])), C.long(len(p)),
		C.double(h.b1), C.double(h.b2), C.double(h.step), C.double(h.bc2s), C.double(h.eps), C.double(h.decay), C.double(h.gscale))
}

// adamwVec32 applies the float32-moment update of Step to one chunk with
// the AVX2 kernel.
func adamwVec32(p, g, m, v []float32, h adamwHyper) {
	if len(p) == 0 {
		return
	}
	C.mhcc_adamw32((*C.float)(unsafe.Pointer(&p[0])), (*C.float)(unsafe.Pointer(&g[0])),
		(*C.float)(unsafe.Pointer(&m[0])), (*C.float)(unsafe.Pointer(&v[0])), C.long(len(p)),
		C.double(h.b1), C.double(h.b2), C.double(h.step), C.double(h.bc2s), C.double(h.eps), C.double(h.decay), C.double(h.gscale))
}
