//go:build openblas && cgo

package gorgonia

import (
	"math"
	"os"
	"testing"

	"gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
)

// TestOpenBLASBuild checks that the openblas build installs OpenBLAS as
// Gorgonia's BLAS and as the kernels', and that the kernels route float32
// products through it instead of the native kernel.
func TestOpenBLASBuild(t *testing.T) {
	if _, ok := G.WhichBLAS().(netlib.Implementation); !ok {
		t.Fatalf("G.WhichBLAS() is %T, want netlib.Implementation", G.WhichBLAS())
	}
	if _, ok := kernels.CurrentBLAS().(netlib.Implementation); !ok {
		t.Fatalf("kernels.CurrentBLAS() is %T, want netlib.Implementation", kernels.CurrentBLAS())
	}
	if kernels.NativeSgemm() {
		t.Error("the native sgemm is still selected")
	}
	t.Setenv("OPENBLAS_NUM_THREADS", "") // restored after the test
	os.Unsetenv("OPENBLAS_NUM_THREADS")
	t.Setenv("OPENBLAS_THREAD_TIMEOUT", "4")
	if got := BLASName(); got != "openblas (cgo, gonum netlib; OPENBLAS_THREAD_TIMEOUT=4)" {
		t.Errorf("BLASName() = %q", got)
	}
	t.Setenv("OPENBLAS_NUM_THREADS", "1")
	os.Unsetenv("OPENBLAS_THREAD_TIMEOUT")
	if got := BLASName(); got != "openblas (cgo, gonum netlib; OPENBLAS_NUM_THREADS=1)" {
		t.Errorf("BLASName() = %q", got)
	}
	const m, n, k = 70, 50, 300 // above smallGemmWork: a BLAS call
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for i := range a {
		a[i] = float32(i%13) - 6
	}
	for i := range b {
		b[i] = float32(i%7) - 3
	}
	MatMulF32(m, n, k, a, b, c)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += float64(a[i*k+p]) * float64(b[p*n+j])
			}
			if math.Abs(float64(c[i*n+j])-s) > 1e-3*math.Max(1, math.Abs(s)) {
				t.Fatalf("c[%d,%d] = %v, want %v", i, j, c[i*n+j], s)
			}
		}
	}
}
