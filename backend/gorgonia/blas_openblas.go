//go:build openblas && cgo

package gorgonia

// The openblas build (`go build -tags openblas`, Debian's libopenblas-dev):
// Gorgonia's BLAS becomes OpenBLAS through gonum's cgo netlib binding, and
// gemm (gemm.go) routes every float32 and float64 product through it,
// bypassing the package's own AVX2 kernel (useCSgemm is false as soon as
// G.WhichBLAS() is not gonum's). OPENBLAS_NUM_THREADS sets its threads.

// #cgo LDFLAGS: -lopenblas
import "C"

import (
	"gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"
)

func init() {
	G.Use(netlib.Implementation{}) // also calls tensor.Use
	blasBuild = "openblas"
	startEnv = []string{"OPENBLAS_THREAD_TIMEOUT=4"}
}
