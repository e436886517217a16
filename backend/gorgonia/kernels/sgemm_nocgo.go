//go:build !(cgo && amd64)

package kernels

// Without cgo on amd64 there is no native GEMM: every float32 product
// runs on the BLAS, and the functions below are never called.

// cpuLevel is the highest level of the native GEMM: none in this build.
const cpuLevel = SgemmGo

func cSgemmNR(SgemmLevel) int { panic("kernels: no native sgemm in this build") }

func cSgemmPack(SgemmLevel, bool, int, int, []float32, int, int, int, []float32) {
	panic("kernels: no native sgemm in this build")
}

func cSgemmRows(SgemmLevel, bool, int, int, []float32, int, []float32, float32, []float32, int, int, int, int, int, int) bool {
	panic("kernels: no native sgemm in this build")
}

func setSgemmAllocFail(bool) { panic("kernels: no native sgemm in this build") }
