package kernels

import "math"

// The binary kinds of BinFwd, BinGrad and ScalarFwd.
const (
	BinAdd = iota
	BinSub
	BinMul
	BinDiv
	BinRSub // c − x (scalar ops only)
	BinRDiv // c / x (scalar ops only)
)

// BinNames names the binary kinds, by kind.
var BinNames = []string{"add", "sub", "mul", "div", "rsub", "rdiv"}

// BinFwd computes y = a ∘ b with broadcasting; the plan's operands are
// (y, a, b). y is contiguous, so its innermost stride is 1, and a and b
// have innermost stride 1 or 0 (never both 0).
func BinFwd[T Float](kind int, p *Plan, a, b, y []T) {
	if ix := p.gathered(); ix != nil {
		iy, ia, ib := ix[0], ix[1], ix[2]
		switch kind {
		case BinAdd:
			for i, o := range iy {
				y[o] = a[ia[i]] + b[ib[i]]
			}
		case BinSub:
			for i, o := range iy {
				y[o] = a[ia[i]] - b[ib[i]]
			}
		case BinMul:
			for i, o := range iy {
				y[o] = a[ia[i]] * b[ib[i]]
			}
		case BinDiv:
			for i, o := range iy {
				y[o] = a[ia[i]] / b[ib[i]]
			}
		}
		return
	}
	n := p.dims[len(p.dims)-1]
	sa, sb := p.inner(1), p.inner(2)
	p.rows(func(off []int) {
		yy := y[off[0] : off[0]+n]
		switch {
		case sa == 1 && sb == 1:
			binVV(kind, a[off[1]:off[1]+n], b[off[2]:off[2]+n], yy)
		case sa == 1:
			binVS(kind, a[off[1]:off[1]+n], b[off[2]], yy)
		default:
			binSV(kind, a[off[1]], b[off[2]:off[2]+n], yy)
		}
	})
}

// vecMin is the length from which float32 elementwise runs use the AVX2
// kernels (shorter runs are not worth a cgo call).
const vecMin = 256

func binVV[T Float](kind int, a, b, y []T) {
	b, y = b[:len(a)], y[:len(a)]
	if af, ok := any(a).([]float32); ok && useVec && len(a) >= vecMin {
		vBin(kind, 0, af, any(b).([]float32), 0, any(y).([]float32))
		return
	}
	switch kind {
	case BinAdd:
		for i, v := range a {
			y[i] = v + b[i]
		}
	case BinSub:
		for i, v := range a {
			y[i] = v - b[i]
		}
	case BinMul:
		for i, v := range a {
			y[i] = v * b[i]
		}
	case BinDiv:
		for i, v := range a {
			y[i] = v / b[i]
		}
	}
}

func binVS[T Float](kind int, a []T, c T, y []T) {
	y = y[:len(a)]
	if af, ok := any(a).([]float32); ok && useVec && len(a) >= vecMin {
		vBin(kind, 1, af, nil, float32(c), any(y).([]float32))
		return
	}
	switch kind {
	case BinAdd:
		for i, v := range a {
			y[i] = v + c
		}
	case BinSub:
		for i, v := range a {
			y[i] = v - c
		}
	case BinMul:
		for i, v := range a {
			y[i] = v * c
		}
	case BinDiv:
		for i, v := range a {
			y[i] = v / c
		}
	}
}

func binSV[T Float](kind int, c T, b, y []T) {
	y = y[:len(b)]
	if bf, ok := any(b).([]float32); ok && useVec && len(b) >= vecMin {
		vBin(kind, 2, nil, bf, float32(c), any(y).([]float32))
		return
	}
	switch kind {
	case BinAdd:
		for i, v := range b {
			y[i] = c + v
		}
	case BinSub:
		for i, v := range b {
			y[i] = c - v
		}
	case BinMul:
		for i, v := range b {
			y[i] = c * v
		}
	case BinDiv:
		for i, v := range b {
			y[i] = c / v
		}
	}
}

// BinGradDirect computes the gradient of operand w of y = a ∘ b when a,
// b and y all have the same shape (no broadcasting, so no accumulation):
// mul: g·other, div: g/b or −g·a/b², sub (w = 1): −g.
func BinGradDirect[T Float](kind, w int, a, b, g, out []T) {
	if gf, ok := any(g).([]float32); ok && useVec && len(g) >= vecMin {
		f := func(s []T) []float32 { return any(s).([]float32) }
		if kind == BinSub {
			vBin(BinSub, 2, nil, gf, 0, f(out))
		} else {
			vBinGrad(kind, w, f(a), f(b), 0, gf, f(out))
		}
		return
	}
	out = out[:len(g)]
	switch {
	case kind == BinSub:
		for i, v := range g {
			out[i] = -v
		}
	case kind == BinMul && w == 0:
		for i, v := range g {
			out[i] = v * b[i]
		}
	case kind == BinMul:
		for i, v := range g {
			out[i] = v * a[i]
		}
	case w == 0:
		for i, v := range g {
			out[i] = v / b[i]
		}
	default:
		for i, v := range g {
			out[i] = -v * a[i] / (b[i] * b[i])
		}
	}
}

// BinGrad accumulates into out the gradient of operand w (0 = a, 1 = b) of
// y = a ∘ b, summing over the broadcast axes; the plan's operands are
// (y/g, a, b). a and b are only read by mul and div.
func BinGrad[T Float](kind, w int, p *Plan, a, b, g, out []T) {
	if ix := p.gathered(); ix != nil {
		ig, ia, ib, io := ix[0], ix[1], ix[2], ix[1+w]
		switch {
		case kind == BinAdd || (kind == BinSub && w == 0):
			for i, o := range io {
				out[o] += g[ig[i]]
			}
		case kind == BinSub:
			for i, o := range io {
				out[o] -= g[ig[i]]
			}
		case kind == BinMul && w == 0:
			for i, o := range io {
				out[o] += g[ig[i]] * b[ib[i]]
			}
		case kind == BinMul:
			for i, o := range io {
				out[o] += g[ig[i]] * a[ia[i]]
			}
		case kind == BinDiv && w == 0:
			for i, o := range io {
				out[o] += g[ig[i]] / b[ib[i]]
			}
		default: // w == 1: out has b's layout, so −Σ g·a / b² = −(Σ g·a) / b²
			for i, o := range io {
				out[o] += g[ig[i]] * a[ia[i]]
			}
			for o, v := range b[:len(out)] {
				out[o] = -out[o] / (v * v)
			}
		}
		return
	}
	n := p.dims[len(p.dims)-1]
	sa, sb := p.inner(1), p.inner(2)
	so := p.inner(1 + w)
	p.rows(func(off []int) {
		gg := g[off[0] : off[0]+n]
		// the other operand's values (mul/div) as a vector or a scalar
		var ov []T
		var os T
		if kind == BinMul || kind == BinDiv {
			x, sx, o := b, sb, off[2]
			if w == 1 {
				x, sx, o = a, sa, off[1]
			}
			if sx == 1 {
				ov = x[o : o+n]
			} else {
				os = x[o]
			}
		}
		if so == 0 { // reduce the run into one element
			var s T
			switch {
			case kind == BinAdd || (kind == BinSub && w == 0):
				for _, v := range gg {
					s += v
				}
			case kind == BinSub:
				for _, v := range gg {
					s -= v
				}
			case kind == BinMul && ov != nil:
				for i, v := range gg {
					s += v * ov[i]
				}
			case kind == BinMul:
				for _, v := range gg {
					s += v
				}
				s *= os
			case kind == BinDiv && w == 0 && ov != nil:
				for i, v := range gg {
					s += v / ov[i]
				}
			case kind == BinDiv && w == 0:
				for _, v := range gg {
					s += v
				}
				s /= os
			default: // d(a/b)/db = −a/b², b is the reduced operand (a scalar here)
				bv := b[off[2]]
				if ov != nil {
					for i, v := range gg {
						s -= v * ov[i]
					}
				} else {
					for _, v := range gg {
						s -= v
					}
					s *= os
				}
				s /= bv * bv
			}
			out[off[1+w]] += s
			return
		}
		oo := out[off[1+w] : off[1+w]+n]
		switch {
		case kind == BinAdd || (kind == BinSub && w == 0):
			for i, v := range gg {
				oo[i] += v
			}
		case kind == BinSub:
			for i, v := range gg {
				oo[i] -= v
			}
		case kind == BinMul && ov != nil:
			for i, v := range gg {
				oo[i] += v * ov[i]
			}
		case kind == BinMul:
			for i, v := range gg {
				oo[i] += v * os
			}
		case kind == BinDiv && w == 0 && ov != nil:
			for i, v := range gg {
				oo[i] += v / ov[i]
			}
		case kind == BinDiv && w == 0:
			for i, v := range gg {
				oo[i] += v / os
			}
		default: // w == 1, b is a full-length run
			bb := b[off[2] : off[2]+n]
			if ov != nil {
				for i, v := range gg {
					oo[i] -= v * ov[i] / (bb[i] * bb[i])
				}
			} else {
				for i, v := range gg {
					oo[i] -= v * os / (bb[i] * bb[i])
				}
			}
		}
	})
}

// ScalarFwd computes y = x ∘ c (or c ∘ x for the r-kinds).
func ScalarFwd[T Float](kind int, c T, x, y []T) {
	switch kind {
	case BinRSub:
		binSV(BinSub, c, x, y)
		return
	case BinRDiv:
		binSV(BinDiv, c, x, y)
		return
	default:
		if len(x) >= vecMin {
			binVS(kind, x, c, y)
			return
		}
	}
	switch kind {
	case BinAdd:
		for i, v := range x {
			y[i] = v + c
		}
	case BinSub:
		for i, v := range x {
			y[i] = v - c
		}
	case BinMul:
		for i, v := range x {
			y[i] = v * c
		}
	case BinDiv:
		for i, v := range x {
			y[i] = v / c
		}
	case BinRSub:
		for i, v := range x {
			y[i] = c - v
		}
	case BinRDiv:
		for i, v := range x {
			y[i] = c / v
		}
	}
}

// ScalarGrad computes dx from g (and x for rdiv).
func ScalarGrad[T Float](kind int, c T, x, g, dx []T) {
	if gf, ok := any(g).([]float32); ok && useVec && len(g) >= vecMin {
		df := any(dx).([]float32)
		switch kind {
		case BinMul, BinDiv:
			vBin(kind, 1, gf, nil, float32(c), df)
			return
		case BinRSub:
			vBin(BinSub, 2, nil, gf, 0, df)
			return
		case BinRDiv: // −g·c/x²
			vBinGrad(BinDiv, 1, nil, any(x).([]float32), float32(c), gf, df)
			return
		}
	}
	switch kind {
	case BinAdd, BinSub:
		copy(dx, g)
	case BinMul:
		for i, v := range g {
			dx[i] = v * c
		}
	case BinDiv:
		for i, v := range g {
			dx[i] = v / c
		}
	case BinRSub:
		for i, v := range g {
			dx[i] = -v
		}
	case BinRDiv:
		for i, v := range g {
			xi := x[i]
			dx[i] = -v * c / (xi * xi)
		}
	}
}

// ScaleAll multiplies x by c in place.
func ScaleAll[T Float](x []T, c T) {
	if c == 1 {
		return
	}
	for i := range x {
		x[i] *= c
	}
}

// The unary kinds of UnaryFwd and UnaryGrad.
const (
	UnaryNeg = iota
	UnaryExp
	UnaryLog
	UnarySqrt
	UnarySquare
	UnarySigmoid
	UnaryTanh
	UnaryRelu
)

// UnaryNames names the unary kinds, by kind.
var UnaryNames = []string{"neg", "exp", "log", "sqrt", "square", "sigmoid", "tanh", "relu"}

// UnaryGradUsesY says, by kind, whether UnaryGrad reads the output (else
// the input).
var UnaryGradUsesY = []bool{false, true, false, true, false, true, true, false}

// UnaryFwd computes y = f(x) for the unary kind (float32 exp, tanh and
// sigmoid with the fast float32 functions, fastmath.go).
func UnaryFwd[T Float](kind int, x, y []T) {
	y = y[:len(x)]
	if xf, ok := any(x).([]float32); ok && (kind == UnaryExp || kind == UnaryTanh || kind == UnarySigmoid) {
		unaryFwd32(kind, xf, any(y).([]float32))
		return
	}
	if len(x) >= vecMin && (kind == UnarySquare || kind == UnaryNeg) {
		if kind == UnarySquare {
			binVV(BinMul, x, x, y)
		} else {
			binSV(BinSub, 0, x, y)
		}
		return
	}
	switch kind {
	case UnaryNeg:
		for i, v := range x {
			y[i] = -v
		}
	case UnaryExp:
		for i, v := range x {
			y[i] = T(math.Exp(float64(v)))
		}
	case UnaryLog:
		for i, v := range x {
			y[i] = T(math.Log(float64(v)))
		}
	case UnarySqrt:
		for i, v := range x {
			y[i] = T(math.Sqrt(float64(v)))
		}
	case UnarySquare:
		for i, v := range x {
			y[i] = v * v
		}
	case UnarySigmoid:
		for i, v := range x {
			if v >= 0 {
				y[i] = T(1 / (1 + math.Exp(-float64(v))))
			} else {
				e := math.Exp(float64(v))
				y[i] = T(e / (1 + e))
			}
		}
	case UnaryTanh:
		for i, v := range x {
			y[i] = T(math.Tanh(float64(v)))
		}
	case UnaryRelu:
		for i, v := range x {
			y[i] = max(v, 0)
		}
	}
}

// unaryFwd32 computes exp, tanh and sigmoid in float32: with the AVX2
// kernels when available, else with the fast scalar functions of
// fastmath.go.
func unaryFwd32(kind int, x, y []float32) {
	vk, f := vExp, expf32
	switch kind {
	case UnaryTanh:
		vk, f = vTanh, tanhf32
	case UnarySigmoid:
		vk, f = vSigmoid, sigmoidf32
	}
	if useVec {
		vUnary(vk, x, y)
		return
	}
	for i, v := range x {
		y[i] = f(v)
	}
}

// UnaryGrad computes dx from g and xy (the input, or the output when
// UnaryGradUsesY[kind]).
func UnaryGrad[T Float](kind int, xy, g, dx []T) {
	g, dx = g[:len(xy)], dx[:len(xy)]
	if xf, ok := any(xy).([]float32); ok && useVec && len(xy) >= vecMin {
		vUnaryGrad(kind, xf, any(g).([]float32), any(dx).([]float32))
		return
	}
	switch kind {
	case UnaryNeg:
		for i, v := range g {
			dx[i] = -v
		}
	case UnaryExp:
		for i, y := range xy {
			dx[i] = g[i] * y
		}
	case UnaryLog:
		for i, x := range xy {
			dx[i] = g[i] / x
		}
	case UnarySqrt:
		for i, y := range xy {
			dx[i] = g[i] / (2 * y)
		}
	case UnarySquare:
		for i, x := range xy {
			dx[i] = 2 * x * g[i]
		}
	case UnarySigmoid:
		for i, y := range xy {
			dx[i] = g[i] * y * (1 - y)
		}
	case UnaryTanh:
		for i, y := range xy {
			dx[i] = g[i] * (1 - y*y)
		}
	case UnaryRelu:
		for i, x := range xy {
			dx[i] = g[i] * T(b2i(x > 0))
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
