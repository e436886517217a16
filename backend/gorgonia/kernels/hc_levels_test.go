package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// hcLevels returns the instruction-set levels whose hc.coeffs kernels this
// machine runs (AVX2, and AVX-512 when the CPU has it), so that a test can
// run every one of them in one process.
func hcLevels() []SgemmLevel {
	ls := []SgemmLevel{SgemmAVX2}
	if CPUSgemmLevel() >= SgemmAVX512 {
		ls = append(ls, SgemmAVX512)
	}
	return ls
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// TestHCProjLevels holds hc.coeffs' projection with its RMS
// (mhcc_hc_proj) at the AVX-512 level (8-token tiles when w is a multiple
// of 24) to the AVX2 level (4-token tiles) bit for bit, m and 1/r, on
// random data: w = 24 and 48 (n = 4, 6: one and two column blocks) and 15
// (n = 3, the AVX2 tiles at both levels), K within one K-block, across
// several and with a tail, token ranges whose length is not a multiple of
// 8; and m to a float64 product within float32 rounding.
func TestHCProjLevels(t *testing.T) {
	if !useVec {
		t.Skip("no AVX2 kernels on this machine (the Go path is tested elsewhere)")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{4, 6, 3} {
		for _, K := range []int{100, 512, 2048 + 40} {
			w := n*n + 2*n
			N := 45
			x, phi := narrow(normals(rng, N*K)), narrow(normals(rng, K*w))
			t0, t1 := 2, N
			var refM, refInv []float32
			for _, l := range hcLevels() {
				t.Run(fmt.Sprintf("n=%d/K=%d/%v", n, K, l), func(t *testing.T) {
					old := SetSgemmLevel(l)
					defer SetSgemmLevel(old)
					m, inv := make([]float32, N*w), make([]float32, N)
					vHCProj(x, phi, m, inv, t0, t1, K, w, 1e-6)
					for tt := t0; tt < t1; tt++ {
						for j := 0; j < w; j++ {
							var s float64
							for k := 0; k < K; k++ {
								s += float64(x[tt*K+k]) * float64(phi[k*w+j])
							}
							if g := float64(m[tt*w+j]); abs(g-s) > 1e-4*(1+abs(s)) {
								t.Fatalf("m[%d,%d] = %v, float64 product %v", tt, j, g, s)
							}
						}
					}
					if refM == nil {
						refM, refInv = m, inv
						return
					}
					for i := range refM {
						if m[i] != refM[i] {
							t.Fatalf("m[%d] = %v at %v, %v at %v", i, m[i], l, refM[i], hcLevels()[0])
						}
					}
					for i := range refInv {
						if inv[i] != refInv[i] {
							t.Fatalf("1/r[%d] = %v at %v, %v at %v", i, inv[i], l, refInv[i], hcLevels()[0])
						}
					}
				})
			}
		}
	}
}
