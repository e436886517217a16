//go:build openblas && cgo

package gorgonia

// The openblas build (`go build -tags openblas`, Debian's libopenblas-dev):
// Gorgonia's BLAS and the one of gemm (gemm.go, set here too so
// that the two agree) become OpenBLAS through gonum's cgo netlib binding,
// and gemm routes every float32 and float64 product through it, bypassing
// the package's own AVX2 kernel (useCSgemm is false as soon as the BLAS is
// not gonum's). OPENBLAS_NUM_THREADS sets its threads.

// #cgo LDFLAGS: -lopenblas
import "C"

import (
	"gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"
)

func init() {
	impl := netlib.Implementation{}
	G.Use(impl) // also calls tensor.Use
	theBLAS = impl
	blasBuild = "openblas"
	startEnv = []string{"OPENBLAS_THREAD_TIMEOUT=4"}
}
