//go:build openblas && cgo

package gorgonia

// The openblas build (`go build -tags openblas`, Debian's libopenblas-dev):
// Gorgonia's BLAS and the kernels' (kernels.SetBLAS, set here together so
// that the two agree) become OpenBLAS through gonum's cgo netlib binding,
// and the kernels' GEMM routes every float32 and float64 product through
// it, bypassing their own AVX2 kernel (the native kernel runs only while
// the BLAS is gonum's). OPENBLAS_NUM_THREADS sets its threads.

// #cgo LDFLAGS: -lopenblas
import "C"

import (
	"gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
)

func init() {
	impl := netlib.Implementation{}
	G.Use(impl) // also calls tensor.Use
	kernels.SetBLAS(impl)
	openBLAS = impl
	blasBuild = "openblas"
	blasBuffer = 128 << 20
	startEnv = []string{"OPENBLAS_THREAD_TIMEOUT=4"}
}
