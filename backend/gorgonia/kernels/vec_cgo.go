//go:build cgo && amd64

package kernels

// #include "kernels.h"
import "C"

import "unsafe"

// Go bindings of the AVX2 float32 kernels (the *.c files, kernels.h).

// useVec reports whether the AVX2 float32 kernels run: the CPU has AVX2
// and FMA (UseNativeSgemm and the GEMM's level do not affect them).
var useVec = cpuAVX2

// setVectorKernels switches the AVX2 float32 kernels on or off (off: every
// float32 kernel runs the generic Go code) and returns the old setting; a
// test hook.
func setVectorKernels(on bool) (old bool) {
	old = useVec
	useVec = on && cpuAVX2
	return old
}

// vec512 reports whether the kernels that have an AVX-512 form (gelu.c)
// run it: the GEMM's level at start-up is AVX-512 (the CPU has it and
// SgemmEnv does not cap it, so MHCC_SGEMM=avx2 runs every kernel as on a
// CPU without AVX-512). Their AVX-512 and AVX2 forms give the same results
// bit for bit.
var vec512 = sgemmLevel >= SgemmAVX512

// setVec512 switches the AVX-512 forms on (where the CPU has them) or off
// and returns the old setting; a test hook.
func setVec512(on bool) (old bool) {
	old = vec512
	vec512 = on && cpuLevel >= SgemmAVX512
	return old
}

// hc512 reports whether hc.coeffs' projection runs its AVX-512 tiles
// (mhcc_hc_proj in hc.c): the CPU has the GEMM's AVX-512 level and the
// native level is not capped below it (SgemmEnv, SetSgemmLevel), so
// MHCC_SGEMM=avx2 runs the AVX2 ones. Both sum in the same order.
func hc512() bool { return sgemmLevel >= SgemmAVX512 }

func fp(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

// Unary kinds of vUnary.
const (
	vExp = iota
	vTanh
	vSigmoid
)

func vUnary(kind int, x, y []float32) {
	if nChunks(len(x), 16) == 1 {
		vUnaryRange(kind, x, y, 0, len(x))
		return
	}
	parallelFor(len(x), 16, func(lo, hi int) { vUnaryRange(kind, x, y, lo, hi) })
}

func vUnaryRange(kind int, x, y []float32, lo, hi int) {
	if hi > lo {
		C.mhcc_vunary(C.int(kind), fp(x[lo:hi]), fp(y[lo:hi]), C.int(hi-lo))
	}
}

// vGELUFwd and vGELUBwd run the fused GELU kernels (gelu.c) on one chunk;
// t nil: not kept (forward), recomputed (backward).
func vGELUFwd(x, y, t []float32) {
	C.mhcc_gelu_fwd(cbool(vec512), fp(x), fp(y), fp(t), C.int(len(x)), geluA, geluC, 3*geluA, 0.5*geluC)
}

func vGELUBwd(x, t, gy, dx []float32) {
	C.mhcc_gelu_bwd(cbool(vec512), fp(x), fp(t), fp(gy), fp(dx), C.int(len(x)), geluA, geluC, 3*geluA, 0.5*geluC)
}

// vRope runs the AVX2 rotary embedding (rope.c) on blocks [b0, b1).
func vRope(x, y []float32, b0, b1, t, d int, cos, sin []float64, inverse bool) {
	C.mhcc_rope(fp(x), fp(y), C.int(b0), C.int(b1), C.int(t), C.int(d),
		(*C.double)(unsafe.Pointer(&cos[0])), (*C.double)(unsafe.Pointer(&sin[0])), cbool(inverse))
}

func vExpShift(x, y []float32, m float32) float64 {
	if len(x) == 0 {
		return 0
	}
	return float64(C.mhcc_exp_shift(fp(x), fp(y[:len(x)]), C.int(len(x)), C.float(m)))
}

func vSoftmaxRows(x, y []float32, r0, r1, n int, logOut bool) {
	l := C.int(0)
	if logOut {
		l = 1
	}
	C.mhcc_softmax_rows(fp(x), fp(y), C.int(r0), C.int(r1), C.int(n), l)
}

func vAttnSoftmax(s []float32, t int, causal bool, scale float32) {
	C.mhcc_attn_softmax(fp(s[:t*t]), C.int(t), cbool(causal), C.float(scale))
}

func vAttnDSoftmax(p, ds []float32, t int, causal bool, scale float32) {
	C.mhcc_attn_dsoftmax(fp(p[:t*t]), fp(ds[:t*t]), C.int(t), cbool(causal), C.float(scale))
}

func vCERows(x []float32, tgt []int, p []float32, r0, r1, v int) float64 {
	return float64(C.mhcc_ce_rows(fp(x), (*C.longlong)(unsafe.Pointer(&tgt[0])), fp(p), C.int(r0), C.int(r1), C.int(v)))
}

func vHCReadFwd(h, X, u []float32, t0, t1, n, c int) {
	C.mhcc_hc_read_fwd(fp(h), fp(X), fp(u), C.int(t0), C.int(t1), C.int(n), C.int(c))
}

func vHCReadBwd(h, X, gy, dh, dX []float32, add bool, t0, t1, n, c int) {
	C.mhcc_hc_read_bwd(fp(h), fp(X), fp(gy), fp(dh), fp(dX), cbool(add), C.int(t0), C.int(t1), C.int(n), C.int(c))
}

func vHCWriteFwd(R, X, p, y, out []float32, t0, t1, n, c int) {
	C.mhcc_hc_write_fwd(fp(R), fp(X), fp(p), fp(y), fp(out), C.int(t0), C.int(t1), C.int(n), C.int(c))
}

func vHCWriteBwd(R, X, p, y, G, dR, dX, dp, dy []float32, t0, t1, n, c int) {
	C.mhcc_hc_write_bwd(fp(R), fp(X), fp(p), fp(y), fp(G), fp(dR), fp(dX), fp(dp), fp(dy), C.int(t0), C.int(t1), C.int(n), C.int(c))
}

// vSinkFwd and vSinkBwd report false, having written nothing, when the C
// kernel could not allocate its scratch (the caller then runs the Go
// loop).
func vSinkFwd(x, y []float32, m0, m1, n, iters int) bool {
	return C.mhcc_sinkhorn_fwd(fp(x), fp(y), C.int(m0), C.int(m1), C.int(n), C.int(iters)) != 0
}

func vSinkBwd(x, gy, dx []float32, m0, m1, n, iters int) bool {
	return C.mhcc_sinkhorn_bwd(fp(x), fp(gy), fp(dx), C.int(m0), C.int(m1), C.int(n), C.int(iters)) != 0
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// vHCProj computes m = x·phi for the tokens [t0, t1) and, with inv, their
// 1/rms.
func vHCProj(x, phi, m, inv []float32, t0, t1, k, w int, eps float64) {
	C.mhcc_hc_proj(fp(x), fp(phi), fp(m), C.int(t0), C.int(t1), C.int(k), C.int(w), fp(inv), C.double(eps), cbool(hc512()))
}

func vHCDphi(x, dz, dphi []float32, t0, t1, k, w int) {
	C.mhcc_hc_dphi(fp(x), fp(dz), fp(dphi), C.int(t0), C.int(t1), C.int(k), C.int(w))
}

func vHCXParts(R, G, h, gu, cs, X, dX []float32, t0, t1, n, c int) {
	C.mhcc_hc_xparts(fp(R), fp(G), fp(h), fp(gu), fp(cs), fp(X), fp(dX), C.int(t0), C.int(t1), C.int(n), C.int(c))
}

func vAxpyRows(x, c, y []float32, r0, r1, k int) {
	C.mhcc_axpy_rows(fp(x), fp(c), fp(y), C.int(r0), C.int(r1), C.int(k))
}

func vRMSInv(x, inv []float32, r0, r1, c int, eps float64) {
	C.mhcc_rms_inv(fp(x), fp(inv), C.int(r0), C.int(r1), C.int(c), C.double(eps))
}

func vRMSFwd(x, g, y []float32, r0, r1, c int, eps float64) {
	C.mhcc_rms_fwd(fp(x), fp(g), fp(y), C.int(r0), C.int(r1), C.int(c), C.double(eps))
}

func vRMSBwd(x, g, gy, dx, dg []float32, r0, r1, c int, eps float64) {
	C.mhcc_rms_bwd(fp(x), fp(g), fp(gy), fp(dx), fp(dg), C.int(r0), C.int(r1), C.int(c), C.double(eps))
}

// vBin computes y = a ∘ b (mode 0), a ∘ c (1) or c ∘ b (2) over n elements.
// Like vBinGrad, vUnary and vUnaryGrad it calls the kernel directly when
// parallelFor would run one chunk: the closure a split needs escapes to
// the heap, and these run per GELU block, thousands of times a step.
func vBin(kind, mode int, a, b []float32, c float32, y []float32) {
	if nChunks(len(y), 1) == 1 {
		vBinRange(kind, mode, a, b, c, y, 0, len(y))
		return
	}
	parallelFor(len(y), 1, func(lo, hi int) { vBinRange(kind, mode, a, b, c, y, lo, hi) })
}

func vBinRange(kind, mode int, a, b []float32, c float32, y []float32, lo, hi int) {
	if hi == lo {
		return
	}
	var pa, pb *C.float
	if mode != 2 {
		pa = fp(a[lo:hi])
	}
	if mode != 1 {
		pb = fp(b[lo:hi])
	}
	C.mhcc_vbin(C.int(kind), C.int(mode), pa, pb, C.float(c), fp(y[lo:hi]), C.int(hi-lo))
}

// vAddInto sets y += x on the calling goroutine (mhcc_vbin's add, y
// first).
func vAddInto(y, x []float32) {
	C.mhcc_vbin(0, 0, fp(y), fp(x[:len(y)]), 0, fp(y), C.int(len(y)))
}

// vBinGrad: see mhcc_vbingrad; a or b nil means the scalar c.
func vBinGrad(kind, w int, a, b []float32, c float32, g, y []float32) {
	if nChunks(len(y), 1) == 1 {
		vBinGradRange(kind, w, a, b, c, g, y, 0, len(y))
		return
	}
	parallelFor(len(y), 1, func(lo, hi int) { vBinGradRange(kind, w, a, b, c, g, y, lo, hi) })
}

func vBinGradRange(kind, w int, a, b []float32, c float32, g, y []float32, lo, hi int) {
	if hi == lo {
		return
	}
	var pa, pb *C.float
	if a != nil {
		pa = fp(a[lo:hi])
	}
	if b != nil {
		pb = fp(b[lo:hi])
	}
	C.mhcc_vbingrad(C.int(kind), C.int(w), pa, pb, C.float(c), fp(g[lo:hi]), fp(y[lo:hi]), C.int(hi-lo))
}

func vUnaryGrad(kind int, xy, g, dx []float32) {
	if nChunks(len(dx), 1) == 1 {
		vUnaryGradRange(kind, xy, g, dx, 0, len(dx))
		return
	}
	parallelFor(len(dx), 1, func(lo, hi int) { vUnaryGradRange(kind, xy, g, dx, lo, hi) })
}

func vUnaryGradRange(kind int, xy, g, dx []float32, lo, hi int) {
	if hi > lo {
		C.mhcc_vunary_grad(C.int(kind), fp(xy[lo:hi]), fp(g[lo:hi]), fp(dx[lo:hi]), C.int(hi-lo))
	}
}
