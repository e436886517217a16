package gorgonia

import (
	"fmt"
	"strings"

	"gonum.org/v1/gonum/blas/gonum"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
)

// openBLAS is OpenBLAS in the openblas build (blas_openblas.go), else nil.
var openBLAS kernels.BLAS

// GEMM names (UseGEMM): the native kernel's levels, gonum's pure-Go GEMM,
// OpenBLAS, and "native" for the highest native level the CPU runs.
const (
	GEMMAVX512   = "avx512"
	GEMMAVX2     = "avx2"
	GEMMGo       = "go"
	GEMMOpenBLAS = "openblas"
	GEMMNative   = "native"
)

// GEMMs returns the GEMMs that float32 products can run on in this build
// and on this CPU: the native levels the CPU has, "go", and "openblas" in
// the openblas build.
func GEMMs() []string {
	var names []string
	if kernels.CPUSgemmLevel() >= kernels.SgemmAVX512 {
		names = append(names, GEMMAVX512)
	}
	if kernels.CPUSgemmLevel() >= kernels.SgemmAVX2 {
		names = append(names, GEMMAVX2)
	}
	names = append(names, GEMMGo)
	if openBLAS != nil {
		names = append(names, GEMMOpenBLAS)
	}
	return names
}

// CurrentGEMM returns the name of the GEMM float32 products run on now
// (one of GEMMs, or the type of a BLAS installed with kernels.SetBLAS).
func CurrentGEMM() string {
	switch b := kernels.CurrentBLAS().(type) {
	case gonum.Implementation:
		return kernels.CurrentSgemmLevel().String()
	default:
		if openBLAS != nil && b == openBLAS {
			return GEMMOpenBLAS
		}
		return fmt.Sprintf("%T", b)
	}
}

// UseGEMM makes the kernels' float32 products run on the named GEMM (see
// GEMMs; "native" is the highest native level) and returns a function
// that restores the previous one. It is meant for benchmarks that compare
// GEMMs in one process, between steps, not while kernels run. Products
// inside Gorgonia's own ops (none of the backend's) keep the build's BLAS.
func UseGEMM(name string) (restore func(), err error) {
	blas, level := kernels.BLAS(gonum.Implementation{}), kernels.SgemmGo
	switch name := strings.ToLower(name); name {
	case GEMMOpenBLAS:
		if openBLAS == nil {
			return nil, fmt.Errorf("GEMM %q needs the openblas build (go build -tags openblas)", name)
		}
		blas = openBLAS
	case GEMMNative:
		if level = kernels.CPUSgemmLevel(); level == kernels.SgemmGo {
			return nil, fmt.Errorf("GEMM %q: no native kernel in this build or on this CPU (it needs cgo on amd64 and AVX2/FMA)", name)
		}
	default:
		l, err := kernels.ParseSgemmLevel(name)
		if err != nil {
			return nil, fmt.Errorf("GEMM %q: want one of %s or native", name, strings.Join(GEMMs(), ", "))
		}
		if l > kernels.CPUSgemmLevel() {
			return nil, fmt.Errorf("GEMM %q: this CPU or build runs at most %v", name, kernels.CPUSgemmLevel())
		}
		level = l
	}
	oldBLAS, oldLevel := kernels.CurrentBLAS(), kernels.SetSgemmLevel(level)
	oldNative := kernels.UseNativeSgemm
	kernels.SetBLAS(blas)
	kernels.UseNativeSgemm = true
	return func() {
		kernels.SetBLAS(oldBLAS)
		kernels.SetSgemmLevel(oldLevel)
		kernels.UseNativeSgemm = oldNative
	}, nil
}
