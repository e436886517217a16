package gorgonia

import (
	"slices"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
)

// TestUseGEMM: every GEMM of this build and CPU can be selected, computes
// the product, and is undone by its restore function; unknown or
// unavailable names are errors that say why.
func TestUseGEMM(t *testing.T) {
	start := CurrentGEMM()
	if !slices.Contains(GEMMs(), start) {
		t.Fatalf("CurrentGEMM() = %q, not one of %v", start, GEMMs())
	}
	const m, n, k = 70, 130, 300 // above the kernels' small-product cutoff
	a, b := make([]float32, m*k), make([]float32, k*n)
	for i := range a {
		a[i] = float32(i%13) - 6
	}
	for i := range b {
		b[i] = float32(i%7) - 3
	}
	for _, name := range append(GEMMs(), GEMMNative) {
		restore, err := UseGEMM(name)
		if err != nil {
			t.Fatalf("UseGEMM(%q): %v", name, err)
		}
		want := name
		if name == GEMMNative {
			want = kernels.CPUSgemmLevel().String()
		}
		if got := CurrentGEMM(); got != want {
			t.Errorf("UseGEMM(%q): CurrentGEMM() = %q", name, got)
		}
		c := make([]float32, m*n)
		MatMulF32(m, n, k, a, b, c)
		restore()
		// small integers: every partial sum is exact in float32
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var s float64
				for p := 0; p < k; p++ {
					s += float64(a[i*k+p]) * float64(b[p*n+j])
				}
				if float64(c[i*n+j]) != s {
					t.Fatalf("%s: c[%d,%d] = %v, want %v", name, i, j, c[i*n+j], s)
				}
			}
		}
		if got := CurrentGEMM(); got != start {
			t.Errorf("after restoring %q: CurrentGEMM() = %q, want %q", name, got, start)
		}
	}
	for name, msg := range map[string]string{"sse": "want one of", "avx1024": "want one of"} {
		if _, err := UseGEMM(name); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("UseGEMM(%q): %v, want an error containing %q", name, err, msg)
		}
	}
	if openBLAS == nil {
		if _, err := UseGEMM(GEMMOpenBLAS); err == nil || !strings.Contains(err.Error(), "-tags openblas") {
			t.Errorf("UseGEMM(openblas) without OpenBLAS: %v", err)
		}
	}
	if kernels.CPUSgemmLevel() < kernels.SgemmAVX512 {
		if _, err := UseGEMM(GEMMAVX512); err == nil || !strings.Contains(err.Error(), "runs at most") {
			t.Errorf("UseGEMM(avx512) on a CPU without it: %v", err)
		}
	}
}
