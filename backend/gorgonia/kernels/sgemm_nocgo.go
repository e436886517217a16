//go:build !(cgo && amd64)

package kernels

// cSgemm is unavailable without cgo on amd64; gemm uses the BLAS.
func cSgemm(tA, tB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) bool {
	return false
}

// cSgemmOK reports whether the native kernel exists: never in this build.
var cSgemmOK = false
