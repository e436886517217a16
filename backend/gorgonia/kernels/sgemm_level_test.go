package kernels

import (
	"strings"
	"testing"
)

// TestSgemmEnv: MHCC_SGEMM caps the level at the CPU's, an unknown value
// is an error naming the variable (and leaves the CPU's level), and an
// empty one means no cap.
func TestSgemmEnv(t *testing.T) {
	for _, c := range []struct {
		val  string
		want SgemmLevel
	}{
		{"", cpuLevel}, {"go", SgemmGo}, {"AVX2", min(SgemmAVX2, cpuLevel)}, {"avx512", min(SgemmAVX512, cpuLevel)},
	} {
		t.Setenv(SgemmEnv, c.val)
		if l, err := levelFromEnv(); l != c.want || err != nil {
			t.Errorf("%s=%q: level %v, %v; want %v", SgemmEnv, c.val, l, err, c.want)
		}
	}
	t.Setenv(SgemmEnv, "sse")
	l, err := levelFromEnv()
	if err == nil || !strings.Contains(err.Error(), "MHCC_SGEMM=sse") || !strings.Contains(err.Error(), "avx512, avx2 or go") || l != cpuLevel {
		t.Errorf("MHCC_SGEMM=sse: level %v, error %v", l, err)
	}
}

// TestSetSgemmLevel: the level is capped at the CPU's; SgemmGo (or
// UseNativeSgemm = false) hands float32 products to the BLAS.
func TestSetSgemmLevel(t *testing.T) {
	old := SetSgemmLevel(SgemmAVX512 + 1)
	defer SetSgemmLevel(old)
	if got := CurrentSgemmLevel(); got != cpuLevel {
		t.Errorf("level above the CPU's: %v, want %v", got, cpuLevel)
	}
	SetSgemmLevel(SgemmGo)
	if NativeSgemm() || CurrentSgemmLevel() != SgemmGo {
		t.Errorf("SgemmGo: NativeSgemm() = %v, level %v", NativeSgemm(), CurrentSgemmLevel())
	}
	SetSgemmLevel(cpuLevel)
	UseNativeSgemm = false
	if CurrentSgemmLevel() != SgemmGo {
		t.Errorf("UseNativeSgemm = false: level %v", CurrentSgemmLevel())
	}
	UseNativeSgemm = true
	for l, name := range levelNames {
		if p, err := ParseSgemmLevel(name); p != SgemmLevel(l) || err != nil || p.String() != name {
			t.Errorf("ParseSgemmLevel(%q) = %v, %v", name, p, err)
		}
	}
}
