//go:build cgo && amd64

package kernels

// #include "kernels.h"
import "C"

import (
	"runtime"
	"unsafe"
)

var cSgemmOK = C.mhcc_sgemm_supported() != 0

// cSgemm computes c = op(a)·op(b) + beta·c with the packed AVX2 kernel
// (sgemm.c). It reports false, having written nothing, if the CPU lacks
// AVX2/FMA or the packing buffers cannot be allocated (the caller then
// uses the BLAS).
func cSgemm(tA, tB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) bool {
	if !cSgemmOK || m == 0 || n == 0 {
		return cSgemmOK
	}
	ta, tb := C.int(0), C.int(0)
	if tA {
		ta = 1
	}
	if tB {
		tb = 1
	}
	// bounds, as BLAS would check them
	needA := (m-1)*lda + k
	if tA {
		needA = (k-1)*lda + m
	}
	needB := (k-1)*ldb + n
	if tB {
		needB = (n-1)*ldb + k
	}
	if len(a) < needA || len(b) < needB || len(c) < (m-1)*ldc+n {
		panic("cSgemm: slice too short")
	}
	pa, pb, pc := (*C.float)(unsafe.Pointer(&a[0])), (*C.float)(unsafe.Pointer(&b[0])), (*C.float)(unsafe.Pointer(&c[0]))
	// One thread per call: the large products are split into row blocks
	// by GemmSplit (gemm.go), and the others run inside parallel loops.
	// When the kernel cannot allocate its packing buffers it writes
	// nothing and the caller computes with the BLAS.
	ok := C.mhcc_sgemm(ta, tb, C.int(m), C.int(n), C.int(k), pa, C.int(lda), pb, C.int(ldb), C.float(beta), pc, C.int(ldc), C.int(0), C.int(m)) != 0
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(c)
	return ok
}
