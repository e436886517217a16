//go:build cgo && amd64

package kernels

// #include "kernels.h"
import "C"

import "runtime"

// cpuLevel is the highest level of the native GEMM that the CPU runs.
var cpuLevel = SgemmLevel(C.mhcc_cpu_level())

// cpuAVX2 reports whether the CPU has AVX2 and FMA, which every C kernel
// of the package needs (the GEMM's AVX-512 level more).
var cpuAVX2 = C.mhcc_cpu_avx2() != 0

// cSgemmNR is the width of the packed B panels at level.
func cSgemmNR(level SgemmLevel) int { return int(C.mhcc_sgemm_nr(C.int(level))) }

// cSgemmPack packs the column panels [q0, q1) of op(b) (k×n) into bp,
// laid out as sgemm_impl.h's pack_b describes.
func cSgemmPack(level SgemmLevel, tB bool, n, k int, b []float32, ldb, q0, q1 int, bp []float32) {
	if k == 0 || q1 <= q0 {
		return
	}
	if len(b) < needLen(tB, k, n, ldb) || len(bp) < k*q1*cSgemmNR(level) {
		panic("kernels: cSgemmPack: slice too short")
	}
	C.mhcc_sgemm_pack(C.int(level), cbool(tB), C.int(n), C.int(k), fp(b), C.int(ldb), C.int(q0), C.int(q1), fp(bp))
	runtime.KeepAlive(b)
	runtime.KeepAlive(bp)
}

// cSgemmRows computes rows [i0, i1) × columns [j0, j1) of
// c = op(a)·B + beta·c from B packed by cSgemmPack (all of its panels),
// packing mc rows of op(a) at a time (0: the level's default). It
// reports false, having written nothing, when the kernel cannot
// allocate its scratch.
func cSgemmRows(level SgemmLevel, tA bool, n, k int, a []float32, lda int, bp []float32, beta float32, c []float32, ldc, i0, i1, j0, j1, mc int) bool {
	if i1 <= i0 || j1 <= j0 {
		return true
	}
	if len(a) < needLen(tA, i1, k, lda) || len(c) < needLen(false, i1, n, ldc) {
		panic("kernels: cSgemmRows: slice too short")
	}
	ok := C.mhcc_sgemm_rows(C.int(level), cbool(tA), C.int(n), C.int(k), fp(a), C.int(lda), fp(bp), C.float(beta),
		fp(c), C.int(ldc), C.int(i0), C.int(i1), C.int(j0), C.int(j1), C.int(mc)) != 0
	runtime.KeepAlive(a)
	runtime.KeepAlive(bp)
	runtime.KeepAlive(c)
	return ok
}

// setSgemmAllocFail makes the native kernel's scratch allocation fail
// (on) or work again, for the tests of the fallback to the BLAS.
func setSgemmAllocFail(on bool) { C.mhcc_sgemm_set_fail_alloc(cbool(on)) }
