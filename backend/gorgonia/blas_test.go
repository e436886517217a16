package gorgonia

import (
	"os"
	"testing"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
)

func TestBLASName(t *testing.T) {
	name := BLASName()
	if name == "" {
		t.Fatal("empty BLAS name")
	}
	t.Logf("BLAS: %s", name)
	if blasBuild == "openblas" {
		return
	}
	for l, want := range map[kernels.SgemmLevel]string{
		kernels.SgemmGo: "gonum (pure Go)", kernels.SgemmAVX2: "native AVX2 sgemm (cgo)", kernels.SgemmAVX512: "native AVX-512 sgemm (cgo)",
	} {
		if l > kernels.CPUSgemmLevel() {
			continue // this CPU lacks the level: SetSgemmLevel would cap it
		}
		old := kernels.SetSgemmLevel(l)
		if got := BLASName(); got != want {
			t.Errorf("level %v: BLASName() = %q, want %q", l, got, want)
		}
		kernels.SetSgemmLevel(old)
	}
}

// TestStartEnv: the openblas build asks for OPENBLAS_THREAD_TIMEOUT unless
// the environment sets it (to any value: the user's choice wins); other
// builds ask for nothing.
func TestStartEnv(t *testing.T) {
	t.Setenv("OPENBLAS_THREAD_TIMEOUT", "")
	os.Unsetenv("OPENBLAS_THREAD_TIMEOUT")
	got := StartEnv()
	if blasBuild == "openblas" {
		if len(got) != 1 || got[0] != "OPENBLAS_THREAD_TIMEOUT=4" {
			t.Errorf("StartEnv() = %q, want [OPENBLAS_THREAD_TIMEOUT=4]", got)
		}
	} else if got != nil {
		t.Errorf("StartEnv() = %q in a build without OpenBLAS, want nil", got)
	}
	t.Setenv("OPENBLAS_THREAD_TIMEOUT", "20")
	if got := StartEnv(); got != nil {
		t.Errorf("StartEnv() = %q with OPENBLAS_THREAD_TIMEOUT set, want nil", got)
	}
}
