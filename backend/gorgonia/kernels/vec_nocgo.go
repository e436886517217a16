//go:build !(cgo && amd64)

package kernels

// Without cgo on amd64 the AVX2 kernels (the *.c files, vec_cgo.go) are
// not built and every float32 kernel runs the generic Go code.
var useVec = false

func setVectorKernels(bool) bool { return false }

func setVec512(bool) bool { return false }

const (
	vExp = iota
	vTanh
	vSigmoid
)

func vUnary(kind int, x, y []float32) { panic("no vector kernels") }
func vGELUFwd(x, y, t []float32)      { panic("no vector kernels") }
func vGELUBwd(x, t, gy, dx []float32) { panic("no vector kernels") }
func vRope(x, y []float32, b0, b1, t, d int, cos, sin []float64, inverse bool) {
	panic("no vector kernels")
}
func vExpShift(x, y []float32, m float32) float64                      { panic("no vector kernels") }
func vSoftmaxRows(x, y []float32, r0, r1, n int, logOut bool)          { panic("no vector kernels") }
func vAttnSoftmax(s []float32, t int, causal bool, scale float32)      { panic("no vector kernels") }
func vAttnDSoftmax(p, ds []float32, t int, causal bool, scale float32) { panic("no vector kernels") }
func vCERows(x []float32, tgt []int, p []float32, r0, r1, v int) float64 {
	panic("no vector kernels")
}
func vHCReadFwd(h, X, u []float32, t0, t1, n, c int) { panic("no vector kernels") }
func vHCReadBwd(h, X, gy, dh, dX []float32, add bool, t0, t1, n, c int) {
	panic("no vector kernels")
}
func vHCWriteFwd(R, X, p, y, out []float32, t0, t1, n, c int) { panic("no vector kernels") }
func vHCWriteBwd(R, X, p, y, G, dR, dX, dp, dy []float32, t0, t1, n, c int) {
	panic("no vector kernels")
}
func vSinkFwd(x, y []float32, m0, m1, n, iters int) bool      { panic("no vector kernels") }
func vSinkBwd(x, gy, dx []float32, m0, m1, n, iters int) bool { panic("no vector kernels") }

func vHCDphi(x, dz, dphi []float32, t0, t1, k, w int)                { panic("no vector kernels") }
func vRMSInv(x, inv []float32, r0, r1, c int, eps float64)           { panic("no vector kernels") }
func vRMSFwd(x, g, y []float32, r0, r1, c int, eps float64)          { panic("no vector kernels") }
func vRMSBwd(x, g, gy, dx, dg []float32, r0, r1, c int, eps float64) { panic("no vector kernels") }

func vBin(kind, mode int, a, b []float32, c float32, y []float32)     { panic("no vector kernels") }
func vAddInto(y, x []float32)                                         { panic("no vector kernels") }
func vBinGrad(kind, w int, a, b []float32, c float32, g, y []float32) { panic("no vector kernels") }
func vUnaryGrad(kind int, xy, g, dx []float32)                        { panic("no vector kernels") }

func vAxpyRows(x, c, y []float32, r0, r1, k int) { panic("no vector kernels") }
func vHCXParts(R, G, h, gu, cs, X, dX []float32, t0, t1, n, c int) {
	panic("no vector kernels")
}

func vHCProj(x, phi, m, inv []float32, t0, t1, k, w int, eps float64) {
	panic("no vector kernels")
}
