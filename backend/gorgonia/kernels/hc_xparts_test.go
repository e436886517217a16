package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestHCCoeffsBwdX pins the one-pass stream gradient of HCCoeffsBwdX (the
// stream plan's xParts, backend/gorgonia/streams.go) to the three passes it
// replaces: hc.write's backward writing dX, hc.read's adding its part and
// hc.coeffs's adding its own. Checked in float64 (the Go loops) and in
// float32 (the AVX2 kernel when available) against the float64 passes, at
// widths c with and without a vector tail, for n = 1, 3, 4, 9; the other
// gradients (dphi, dalpha, dbias) must not change.
func TestHCCoeffsBwdX(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rnd := func(n int) []float64 { return normals(rng, n) }
	f32 := narrow
	near := func(name string, tol float64, got []float32, gotF64, want []float64) {
		t.Helper()
		for i := range want {
			var g float64
			if got != nil {
				g = float64(got[i])
			} else {
				g = gotF64[i]
			}
			if d := math.Abs(g - want[i]); d > tol*(1+math.Abs(want[i])) || math.IsNaN(g) {
				t.Fatalf("%s: element %d: %v, want %v", name, i, g, want[i])
			}
		}
	}
	for _, n := range []int{1, 3, 4, 9} { // 9: more streams than the AVX2 kernel keeps in registers
		for _, c := range []int{8, 19, 40} {
			const tok = 9
			k := n * c
			w := n*n + 2*n
			X, R, p, y, G := rnd(tok*k), rnd(tok*n*n), rnd(tok*n), rnd(tok*c), rnd(tok*k)
			h, gu := rnd(tok*n), rnd(tok*c)
			phi, alpha, bias, gz := rnd(k*w), rnd(3), rnd(w), rnd(tok*w)
			z := make([]float64, tok*w)
			st := &Side{}
			HCCoeffsFwd(X, phi, alpha, bias, z, st, n, k, 1e-6)

			// the three passes
			want := make([]float64, tok*k)
			HCWriteBwd(R, X, p, y, G, nil, want, nil, nil, n, c)
			HCReadBwd(h, X, gu, nil, want, true, n, c)
			wantPhi, wantA, wantB := make([]float64, k*w), make([]float64, 3), make([]float64, w)
			HCCoeffsBwd(X, phi, alpha, z, gz, st, &Side{}, n, k, true, want, wantPhi, wantA, wantB)

			name := fmt.Sprintf("n=%d c=%d", n, c)
			got := make([]float64, tok*k)
			for i := range got {
				got[i] = math.NaN() // overwritten, not added to
			}
			gotPhi, gotA, gotB := make([]float64, k*w), make([]float64, 3), make([]float64, w)
			HCCoeffsBwdX(X, phi, alpha, z, gz, st, &Side{}, n, k, &HCXParts[float64]{R: R, G: G, H: h, GU: gu}, got, gotPhi, gotA, gotB)
			near(name+" float64 dX", 1e-12, nil, got, want)
			near(name+" float64 dphi", 1e-12, nil, gotPhi, wantPhi)
			near(name+" float64 dalpha", 1e-12, nil, gotA, wantA)
			near(name+" float64 dbias", 1e-12, nil, gotB, wantB)

			z32, st32 := make([]float32, tok*w), &Side{}
			HCCoeffsFwd(f32(X), f32(phi), f32(alpha), f32(bias), z32, st32, n, k, 1e-6)
			got32 := f32(got) // NaN
			HCCoeffsBwdX(f32(X), f32(phi), f32(alpha), z32, f32(gz), st32, &Side{}, n, k,
				&HCXParts[float32]{R: f32(R), G: f32(G), H: f32(h), GU: f32(gu)}, got32, nil, nil, nil)
			near(name+" float32 dX", 1e-4, got32, nil, want)
		}
	}
}

// TestHCProjRMSExact: the 1/r that the float32 projection kernel computes
// from its packed rows of x is bit-identical to vRMSInv's (mhcc_rms_inv),
// which it replaced (without vector kernels: rmsInv's), at widths K with
// and without a 16- and an 8-float tail, across several of its 256-float
// blocks and ranges of tokens.
func TestHCProjRMSExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, k := range []int{8, 40, 256, 520, 2051} {
		const tok, n = 301, 2 // more than one range of PROJ_TT = 128 tokens (hc.c)
		w := n*n + 2*n
		x, phi := make([]float32, tok*k), make([]float32, k*w)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		for i := range phi {
			phi[i] = float32(rng.NormFloat64())
		}
		alpha, bias, y := []float32{1, 1, 1}, make([]float32, w), make([]float32, tok*w)
		st := &Side{}
		HCCoeffsFwd(x, phi, alpha, bias, y, st, n, k, 1e-6)
		got := SideBuf[float32](st, 1, tok)
		want := make([]float32, tok)
		if useVec {
			vRMSInv(x, want, 0, tok, k, 1e-6)
		} else { // without vector kernels HCCoeffsFwd's loop is rmsInv
			for i := range want {
				want[i] = rmsInv(x[i*k:(i+1)*k], 1e-6)
			}
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("K=%d token %d: 1/r %v, vRMSInv %v", k, i, got[i], want[i])
			}
		}
	}
}

// normals returns n standard normal samples of rng.
func normals(rng *rand.Rand, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	return x
}

// narrow returns x in float32.
func narrow(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}
