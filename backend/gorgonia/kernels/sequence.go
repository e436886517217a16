package kernels

import "math"

// CausalMask copies x (T×T blocks) and replaces the strict upper triangle
// with fill (−1e9 forward, 0 for the gradient).
func CausalMask[T Float](x, y []T, t int, fill T) {
	tt := t * t
	for b := 0; b+tt <= len(x); b += tt {
		for i := 0; i < t; i++ {
			r := b + i*t
			copy(y[r:r+i+1], x[r:r+i+1])
			for j := i + 1; j < t; j++ {
				y[r+j] = fill
			}
		}
	}
}

// Rope rotates each row (position = index along the T axis) with the
// precomputed cos/sin tables [T, D/2]; inverse applies the transposed
// rotation (the gradient). float32 runs the AVX2 kernel (rope.c) where
// it can, on blocks of t rows in parallel: the same operations in the same
// order, so the same results bit for bit (TestRopeVectorPath).
func Rope[T Float](x, y []T, t, d int, cos, sin []float64, inverse bool) {
	h := d / 2
	if xf, ok := any(x).([]float32); ok && useVec && len(x) >= vecMin && t*d > 0 && len(cos) >= t*h && len(sin) >= t*h && h > 0 {
		yf := any(y).([]float32)
		parallelFor(len(x)/(t*d), t*d, func(b0, b1 int) {
			if b1 > b0 {
				vRope(xf, yf, b0, b1, t, d, cos, sin, inverse)
			}
		})
		return
	}
	for base := 0; base+t*d <= len(x); base += t * d {
		for p := 0; p < t; p++ {
			xr, yr := x[base+p*d:base+(p+1)*d], y[base+p*d:base+(p+1)*d]
			cs, sn := cos[p*h:(p+1)*h], sin[p*h:(p+1)*h]
			for i := 0; i < h; i++ {
				c, s := T(cs[i]), T(sn[i])
				if inverse {
					s = -s
				}
				a, b := xr[i], xr[i+h]
				yr[i] = a*c - b*s
				yr[i+h] = a*s + b*c
			}
		}
	}
}

// RopeTables returns cos and sin of t·base^(−2i/d) for t < T, i < d/2: the
// tables of Rope.
func RopeTables(t, d int, base float64) (cos, sin []float64) { return RopeTablesFrom(0, t, d, base) }

// RopeTablesFrom returns the tables of positions from … from+t−1: rows
// from … from+t−1 of RopeTables, to the bit (rope.at).
func RopeTablesFrom(from, t, d int, base float64) (cos, sin []float64) {
	h := d / 2
	cos = make([]float64, t*h)
	sin = make([]float64, t*h)
	for p := 0; p < t; p++ {
		for i := 0; i < h; i++ {
			a := float64(from+p) * math.Pow(base, -2*float64(i)/float64(d))
			cos[p*h+i], sin[p*h+i] = math.Cos(a), math.Sin(a)
		}
	}
	return cos, sin
}
