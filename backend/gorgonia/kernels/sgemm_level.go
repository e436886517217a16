package kernels

import (
	"fmt"
	"os"
	"strings"
)

// SgemmLevel is an instruction-set level of the package's own float32
// GEMM (sgemm*.c): the AVX-512 or AVX2 micro-kernels, or none (Go: the
// BLAS set with SetBLAS, gonum's pure-Go one by default).
type SgemmLevel int

// The levels, from the slowest.
const (
	SgemmGo     SgemmLevel = iota // no native kernel: the BLAS
	SgemmAVX2                     // AVX2/FMA, 6×16 tiles (sgemm_avx2.c)
	SgemmAVX512                   // AVX-512, 12×32 tiles (sgemm_avx512.c)
)

// SgemmEnv is the environment variable that caps the level of the native
// float32 GEMM (avx512, avx2 or go; see SetSgemmLevel): for tests and
// comparisons on a machine that has the higher level. Below avx512 it also
// keeps the elementwise kernels' AVX-512 forms (gelu.c) off.
const SgemmEnv = "MHCC_SGEMM"

var levelNames = [...]string{SgemmGo: "go", SgemmAVX2: "avx2", SgemmAVX512: "avx512"}

// String returns the level's name as SgemmEnv spells it.
func (l SgemmLevel) String() string {
	if l >= 0 && int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("SgemmLevel(%d)", int(l))
}

// ParseSgemmLevel parses a level name (avx512, avx2, go; any case).
func ParseSgemmLevel(s string) (SgemmLevel, error) {
	for l, name := range levelNames {
		if strings.EqualFold(s, name) {
			return SgemmLevel(l), nil
		}
	}
	return 0, fmt.Errorf("unknown level %q (want avx512, avx2 or go)", s)
}

// CPUSgemmLevel returns the highest level this build and CPU run: AVX-512
// needs cgo on amd64 and AVX-512 F, VL, DQ and BW; AVX2 needs AVX2 and FMA.
func CPUSgemmLevel() SgemmLevel { return cpuLevel }

// sgemmLevel is the level float32 products run at (SetSgemmLevel).
var sgemmLevel, sgemmEnvErr = levelFromEnv()

// levelFromEnv returns the CPU's level capped by SgemmEnv, and the error
// of an unknown SgemmEnv value (the level is then the CPU's).
func levelFromEnv() (SgemmLevel, error) {
	v, ok := os.LookupEnv(SgemmEnv)
	if !ok || v == "" {
		return cpuLevel, nil
	}
	l, err := ParseSgemmLevel(v)
	if err != nil {
		return cpuLevel, fmt.Errorf("%s=%s: %w", SgemmEnv, v, err)
	}
	return min(l, cpuLevel), nil
}

// SgemmEnvError returns the error of an invalid SgemmEnv setting at start-up
// (nil when it is unset or valid); mhcc reports it and exits.
func SgemmEnvError() error { return sgemmEnvErr }

// SetSgemmLevel makes float32 products run at level l, or at
// CPUSgemmLevel if that is lower, and returns the previous level. Like
// SetBLAS it is meant for initialisation and tests, not for while kernels
// run. Every native level sums each element of a product in the same
// order, so their results are bit-identical; SgemmGo hands the products to
// the BLAS.
func SetSgemmLevel(l SgemmLevel) (old SgemmLevel) {
	old = sgemmLevel
	sgemmLevel = min(max(l, SgemmGo), cpuLevel)
	return old
}

// CurrentSgemmLevel returns the level float32 products run at while the BLAS
// is gonum's default (SgemmGo otherwise, or when UseNativeSgemm is false).
func CurrentSgemmLevel() SgemmLevel {
	if !useCSgemm() {
		return SgemmGo
	}
	return sgemmLevel
}
