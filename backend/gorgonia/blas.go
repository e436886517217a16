package gorgonia

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	"gonum.org/v1/gonum/blas/gonum"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
)

// blasBuild is "openblas" in a build with the openblas tag
// (blas_openblas.go), else "".
var blasBuild string

// blasBuffer is the address space the build's BLAS maps per thread that
// calls it (blas_openblas.go; 0 for the kernels' own GEMM, whose packing
// buffers come from the C and Go heaps).
var blasBuffer float64

// BLASAddressSpace is the address space the build's BLAS may map while a
// graph runs, beyond the memory of its tensors: OpenBLAS maps a buffer of
// 128 MiB (its BUFFER_SIZE on x86-64) for every thread that calls it, and
// the Go runtime runs the kernels' products on up to GOMAXPROCS threads at
// once. 0 in the default build. Measured under `ulimit -v` with
// examples/tiny.mhc at batch 2: the openblas build maps 240 MiB more than
// the default one while it trains (2 cores).
func BLASAddressSpace() float64 {
	return blasBuffer * float64(runtime.GOMAXPROCS(0))
}

// startEnv lists the environment settings the build's BLAS reads when the
// process starts (blas_openblas.go), as KEY=VALUE.
var startEnv []string

// StartEnv returns the settings of the build's BLAS that must be in the
// environment before the process starts and that the environment does not
// set yet: in the openblas build OPENBLAS_THREAD_TIMEOUT=4, so that
// OpenBLAS's worker threads stop spinning 2^4 cycles after a product
// instead of the default 2^28 (~0.1 s), during which they take the cores
// that mhcc's own parallel kernels run on next (examples/bench/wide.mhc:
// 776 → 750 ms per step). mhcc re-executes itself with them
// (cmd/mhcc/main.go); nil means nothing to do.
func StartEnv() []string {
	var missing []string
	for _, kv := range startEnv {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := os.LookupEnv(k); !ok {
			missing = append(missing, kv)
		}
	}
	return missing
}

// BLASName describes the GEMM that float32 matrix products run on:
// "openblas (cgo, gonum netlib)" in the openblas build (with the
// OPENBLAS_NUM_THREADS and OPENBLAS_THREAD_TIMEOUT settings, when set, as
// "; KEY=VALUE" before the closing parenthesis), "native AVX-512 sgemm
// (cgo)" or "native AVX2 sgemm (cgo)" for the kernels' own packed kernel
// at the level the CPU and kernels.SgemmEnv allow (kernels/sgemm*.c, the
// default where cgo and amd64 allow), "gonum (pure Go)" otherwise, or the
// type of whatever BLAS was installed with kernels.SetBLAS.
func BLASName() string {
	switch b := kernels.CurrentBLAS().(type) {
	case gonum.Implementation:
		switch kernels.CurrentSgemmLevel() {
		case kernels.SgemmAVX512:
			return "native AVX-512 sgemm (cgo)"
		case kernels.SgemmAVX2:
			return "native AVX2 sgemm (cgo)"
		}
		return "gonum (pure Go)"
	default:
		if blasBuild == "openblas" {
			name := "openblas (cgo, gonum netlib"
			for _, k := range []string{"OPENBLAS_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT"} {
				if v, ok := os.LookupEnv(k); ok {
					name += "; " + k + "=" + v
				}
			}
			return name + ")"
		}
		return fmt.Sprintf("%T", b)
	}
}

// EnvError returns the error of an invalid setting of the environment
// variables the backend reads at start-up — kernels.SgemmEnv (MHCC_SGEMM),
// which caps the native GEMM's level — or nil; mhcc reports it and exits.
func EnvError() error { return kernels.SgemmEnvError() }

// MatMulF32 computes c = a·b for row-major a [m, k], b [k, n] and c [m, n]
// the way the backend's matmul ops run a large product with a shared
// weight (kernels.GemmSplit: every core, or OpenBLAS's own threads); `mhcc bench`
// measures the machine's matmul peak with it.
func MatMulF32(m, n, k int, a, b, c []float32) {
	if len(a) < m*k || len(b) < k*n || len(c) < m*n {
		panic("gorgonia: MatMulF32: slice too short")
	}
	kernels.GemmSplit(false, false, m, n, k, a, k, b, n, c, n)
}
