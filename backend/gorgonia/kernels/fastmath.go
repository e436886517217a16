package kernels

import "math"

// Fast float32 elementary functions for the float32 (training) kernels.
// Go's math package works in float64 and is not inlined; these are the
// Cephes single-precision algorithms (range reduction plus a minimax
// polynomial) in plain float32 arithmetic. Their accuracy is pinned by
// TestFastMath (relative error within a few float32 ulps of the float64
// result over the whole useful range). float64 graphs (gradient checks)
// never use them.

const (
	expHi    = 88.72283  // exp overflows float32 above this
	expLo    = -87.33654 // below this the result is flushed to 0
	log2e32  = 1.44269504088896341
	expC1    = 0.693359375 // ln 2 split in two parts for an exact reduction
	expC2    = -2.12194440e-4
	tanhCut  = 0.625 // below: odd polynomial; above: via exp
	tanhHigh = 9.1   // tanh(x) rounds to ±1 in float32 beyond this
)

// expf32 returns eˣ in float32 (relative error ≈ 1e-7 for x in
// [expLo, expHi]; 0 below, +Inf above).
func expf32(x float32) float32 {
	if x != x {
		return x // NaN
	}
	if x > expHi {
		return float32(math.Inf(1))
	}
	if x < expLo {
		return 0
	}
	// n = round(x / ln 2), r = x − n·ln 2 in [−ln2/2, ln2/2]
	fx := x*log2e32 + 0.5
	n := int32(fx)
	if float32(n) > fx {
		n-- // floor for negative values
	}
	fn := float32(n)
	r := x - fn*expC1 - fn*expC2
	r2 := r * r
	p := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
	p = p*r2 + r + 1
	// p·2ⁿ with n in [−126, 128]; 2¹²⁸ is not a float32, so it takes two steps.
	if n > 127 {
		return p * 2 * math.Float32frombits(uint32(127+127)<<23)
	}
	return p * math.Float32frombits(uint32(n+127)<<23)
}

// tanhf32 returns tanh x in float32 (relative error ≈ 2e-7).
func tanhf32(x float32) float32 {
	a := x
	if a < 0 {
		a = -a
	}
	if a < tanhCut {
		if x == 0 {
			return x // ±0 keeps its sign, as math.Tanh does
		}
		z := x * x
		return ((((-5.70498872745e-3*z+2.06390887954e-2)*z-5.37397155531e-2)*z+1.33314422036e-1)*z-3.33332819422e-1)*z*x + x
	}
	if a > tanhHigh {
		if x < 0 {
			return -1
		}
		return 1
	}
	y := 1 - 2/(expf32(2*a)+1)
	if x < 0 {
		return -y
	}
	return y
}

// sigmoidf32 returns 1/(1+e⁻ˣ) in float32.
func sigmoidf32(x float32) float32 {
	if x >= 0 {
		return 1 / (1 + expf32(-x))
	}
	e := expf32(x)
	return e / (1 + e)
}

// sigmoidT is the sigmoid in T: sigmoidf32 for float32, the float64
// formula of UnaryFwd for float64.
func sigmoidT[T Float](v T) T {
	if f, ok := any(v).(float32); ok {
		return T(sigmoidf32(f))
	}
	if v >= 0 {
		return T(1 / (1 + math.Exp(-float64(v))))
	}
	e := math.Exp(float64(v))
	return T(e / (1 + e))
}

// tanhT is tanh in T: the fast tanhf32 for float32,
// math.Tanh for float64.
func tanhT[T Float](v T) T {
	if f, ok := any(v).(float32); ok {
		return T(tanhf32(f))
	}
	return T(math.Tanh(float64(v)))
}

// expShift writes y[i] = exp(x[i] − m) and returns their sum (accumulated
// in float64): the core of every softmax. float32 slices use expf32.
func expShift[T Float](x, y []T, m T) float64 {
	y = y[:len(x)]
	if xf, ok := any(x).([]float32); ok {
		yf := any(y).([]float32)
		if useVec {
			return vExpShift(xf, yf, float32(m))
		}
		mf := float32(m)
		var s0, s1 float64
		i := 0
		for ; i+2 <= len(xf); i += 2 {
			e0, e1 := expf32(xf[i]-mf), expf32(xf[i+1]-mf)
			yf[i], yf[i+1] = e0, e1
			s0 += float64(e0)
			s1 += float64(e1)
		}
		if i < len(xf) {
			e := expf32(xf[i] - mf)
			yf[i] = e
			s0 += float64(e)
		}
		return s0 + s1
	}
	var s float64
	for i, v := range x {
		e := math.Exp(float64(v - m))
		y[i] = T(e)
		s += e
	}
	return s
}

// expInto writes y = exp(x).
func expInto[T Float](x, y []T) {
	if xf, ok := any(x).([]float32); ok {
		unaryFwd32(UnaryExp, xf, any(y).([]float32))
		return
	}
	for i, v := range x {
		y[i] = T(math.Exp(float64(v)))
	}
}

// maxOf returns the largest element of a non-empty slice.
func maxOf[T Float](x []T) T {
	m := x[0]
	for _, v := range x[1:] {
		if v > m {
			m = v
		}
	}
	return m
}
