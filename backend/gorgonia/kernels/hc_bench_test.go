package kernels

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// BenchmarkHCStreamPasses times, interleaved in one run, the stream
// tensor's passes before and after the one-pass kernels, at the shapes of
// examples/bench/wide.mhc (d 512: N = 1024 tokens) and of its d 1536
// configuration (N = 512), n = 4, float32:
//
//   - backward: hc.write's dX, hc.read's dX added, hc.coeffs's backward
//     adding its part (three read-modify-write passes over dX) against
//     HCCoeffsBwdX with the parts (one);
//   - forward: the projection and a separate RMS pass over x against the
//     projection that also computes 1/r.
//
// It reports the median milliseconds of each and their ratio (new / old);
// the per-call work both sides share (dR, dp, dy, dh, dphi) is included in
// both, so the ratio is of the whole backward of the three ops.
func BenchmarkHCStreamPasses(b *testing.B) {
	for _, s := range []struct{ N, c int }{{1024, 512}, {512, 1536}} {
		const n = 4
		N, c := s.N, s.c
		k, w := n*c, n*n+2*n
		rng := rand.New(rand.NewPCG(1, 2))
		rnd := func(m int) []float32 {
			x := make([]float32, m)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			return x
		}
		X, G, R, p, y, h, gu := rnd(N*k), rnd(N*k), rnd(N*n*n), rnd(N*n), rnd(N*c), rnd(N*n), rnd(N*c)
		phi, alpha, bias, gz := rnd(k*w), rnd(3), rnd(w), rnd(N*w)
		z, st, tmp := make([]float32, N*w), &Side{}, &Side{}
		dX, dR, dp, dy, dh := make([]float32, N*k), make([]float32, N*n*n), make([]float32, N*n), make([]float32, N*c), make([]float32, N*n)
		dphi, da, db := make([]float32, k*w), make([]float32, 3), make([]float32, w)
		HCCoeffsFwd(X, phi, alpha, bias, z, st, n, k, 1e-6)
		parts := &HCXParts[float32]{R: R, G: G, H: h, GU: gu}
		bwdOld := func() {
			HCWriteBwd(R, X, p, y, G, dR, dX, dp, dy, n, c)
			HCReadBwd(h, X, gu, dh, dX, true, n, c)
			HCCoeffsBwd(X, phi, alpha, z, gz, st, tmp, n, k, true, dX, dphi, da, db)
		}
		bwdNew := func() {
			HCWriteBwd(R, X, p, y, G, dR, nil, dp, dy, n, c)
			HCReadBwd(h, X, gu, dh, nil, false, n, c)
			HCCoeffsBwdX(X, phi, alpha, z, gz, st, tmp, n, k, parts, dX, dphi, da, db)
		}
		m, inv := make([]float32, N*w), make([]float32, N)
		fwdOld := func() {
			parallelFor(N, 2*k*w, func(lo, hi int) {
				vHCProj(X, phi, m, nil, lo, hi, k, w, 0)
				vRMSInv(X, inv, lo, hi, k, 1e-6)
			})
		}
		fwdNew := func() {
			parallelFor(N, 2*k*w, func(lo, hi int) {
				vHCProj(X, phi, m, inv, lo, hi, k, w, 1e-6)
			})
		}
		for _, c := range []struct {
			name     string
			old, new func()
		}{{"backward", bwdOld, bwdNew}, {"forward", fwdOld, fwdNew}} {
			if c.name == "forward" && !useVec {
				continue // the forward comparison is of the vector kernels
			}
			b.Run(fmt.Sprintf("%s/N=%d/C=%d", c.name, N, s.c), func(b *testing.B) { interleaved(b, c.old, c.new) })
		}
	}
}

// interleaved times old and new alternately, each iteration running both
// (in alternating order), and reports the median milliseconds of each and
// their ratio (new / old).
func interleaved(b *testing.B, old, new func()) {
	var to, tn []float64
	for i := 0; b.Loop(); i++ {
		first, second, a, z := old, new, &to, &tn
		if i%2 == 1 { // alternate the order
			first, second, a, z = new, old, &tn, &to
		}
		t0 := time.Now()
		first()
		t1 := time.Now()
		second()
		*a = append(*a, float64(t1.Sub(t0).Microseconds())/1e3)
		*z = append(*z, float64(time.Since(t1).Microseconds())/1e3)
	}
	mo, mn := median(to), median(tn)
	b.ReportMetric(mo, "old-ms")
	b.ReportMetric(mn, "new-ms")
	b.ReportMetric(mn/mo, "new/old")
}

// median returns the median of xs (sorted in place).
func median(xs []float64) float64 {
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

// BenchmarkHCCoeffsLevels times, interleaved in one run, hc.coeffs'
// projection with its RMS (mhcc_hc_proj) at the AVX2 level (old) and the
// AVX-512 level (new), on
// one core at the shapes of one chunk of examples/bench/wide.mhc (d 512:
// 512 tokens, K = 2048) and of its d 1536 configuration (256 tokens,
// K = 6144), n = 4. It reports the median milliseconds of each and their
// ratio (new / old); without AVX-512 it is skipped.
func BenchmarkHCCoeffsLevels(b *testing.B) {
	if !useVec || CPUSgemmLevel() < SgemmAVX512 {
		b.Skip("needs the AVX-512 level")
	}
	for _, s := range []struct{ N, c int }{{512, 512}, {256, 1536}} {
		const n = 4
		N, k, w := s.N, n*s.c, n*n+2*n
		rng := rand.New(rand.NewPCG(5, 6))
		x, phi := narrow(normals(rng, N*k)), narrow(normals(rng, k*w))
		m, inv := make([]float32, N*w), make([]float32, N)
		at := func(l SgemmLevel, f func()) func() {
			return func() {
				old := SetSgemmLevel(l)
				f()
				SetSgemmLevel(old)
			}
		}
		proj := func() { vHCProj(x, phi, m, inv, 0, N, k, w, 1e-6) }
		b.Run(fmt.Sprintf("proj/N=%d/C=%d", N, s.c), func(b *testing.B) { interleaved(b, at(SgemmAVX2, proj), at(SgemmAVX512, proj)) })
	}
}

// BenchmarkHCCoeffsBwdCold times hc.coeffs's backward with the stream
// parts (HCCoeffsBwdX, both cores) at the shapes of examples/bench (d 512:
// N = 1024; d 1536: N = 512; n = 4) with its inputs in cache (the call
// repeated) and out of it (64 MiB written between calls, as in a training
// step, where the stream tensor and its gradient parts were written long
// before), alternating, and reports the median milliseconds of each
// (only the call is timed) and their ratio (cold / warm).
func BenchmarkHCCoeffsBwdCold(b *testing.B) {
	flush := make([]float32, 16<<20)
	for _, s := range []struct{ N, c int }{{1024, 512}, {512, 1536}} {
		const n = 4
		N, k, w := s.N, n*s.c, n*n+2*n
		rng := rand.New(rand.NewPCG(11, 12))
		rnd := func(m int) []float32 { return narrow(normals(rng, m)) }
		X, phi, alpha, bias, gz := rnd(N*k), rnd(k*w), rnd(3), rnd(w), rnd(N*w)
		parts := &HCXParts[float32]{R: rnd(N * n * n), G: rnd(N * k), H: rnd(N * n), GU: rnd(N * s.c)}
		z, st, tmp := make([]float32, N*w), &Side{}, &Side{}
		dX, dphi, da, db := make([]float32, N*k), make([]float32, k*w), make([]float32, 3), make([]float32, w)
		HCCoeffsFwd(X, phi, alpha, bias, z, st, n, k, 1e-6)
		call := func(cold bool) float64 {
			if cold {
				for i := range flush {
					flush[i]++
				}
			}
			t0 := time.Now()
			HCCoeffsBwdX(X, phi, alpha, z, gz, st, tmp, n, k, parts, dX, dphi, da, db)
			return float64(time.Since(t0).Microseconds()) / 1e3
		}
		b.Run(fmt.Sprintf("N=%d/C=%d", N, s.c), func(b *testing.B) {
			var warm, cold []float64
			for i := 0; b.Loop(); i++ {
				cold = append(cold, call(true))
				warm = append(warm, call(false))
			}
			mw, mc := median(warm), median(cold)
			b.ReportMetric(mw, "warm-ms")
			b.ReportMetric(mc, "cold-ms")
			b.ReportMetric(mc/mw, "cold/warm")
		})
	}
}
