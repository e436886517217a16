package gorgonia

import (
	"fmt"

	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
)

// blasBuild is "openblas" in a build with the openblas tag
// (blas_openblas.go), else "".
var blasBuild string

// BLASName describes the GEMM that float32 matrix products run on:
// "openblas (cgo, gonum netlib)" in the openblas build, "native AVX2
// sgemm (cgo)" for the package's own packed kernel (sgemm_cgo.go, the
// default where cgo, amd64 and the CPU allow), "gonum (pure Go)"
// otherwise, or the type of whatever BLAS was installed with G.Use.
func BLASName() string {
	switch b := G.WhichBLAS().(type) {
	case gonum.Implementation:
		if useCSgemm() && cSgemmOK {
			return "native AVX2 sgemm (cgo)"
		}
		return "gonum (pure Go)"
	default:
		if blasBuild == "openblas" {
			return "openblas (cgo, gonum netlib)"
		}
		return fmt.Sprintf("%T", b)
	}
}

// MatMulF32 computes c = a·b for row-major a [m, k], b [k, n] and c [m, n]
// with the GEMM the backend's matmul ops use (gemm.go); `mhcc bench`
// measures the machine's matmul peak with it.
func MatMulF32(m, n, k int, a, b, c []float32) {
	if len(a) < m*k || len(b) < k*n || len(c) < m*n {
		panic("gorgonia: MatMulF32: slice too short")
	}
	gemm(false, false, m, n, k, a, k, b, n, 0, c, n)
}
