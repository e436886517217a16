package kernels

import "math"

// The reduction kinds of ReduceFwd.
const (
	ReduceSum = iota
	ReduceMean
	ReduceMax
)

// ReduceNames names the reduction kinds, by kind.
var ReduceNames = []string{"sum", "mean", "max"}

// ReduceFwd reduces x into y; the plan's operands are (x, y) with y
// broadcast (stride 0) along the reduced axes. scale multiplies the result
// (1/count for mean).
func ReduceFwd[T Float](kind int, p *Plan, x, y []T, scale T) {
	if ix := p.gathered(); ix != nil {
		ixs, iy := ix[0], ix[1]
		if kind == ReduceMax {
			for i := range y {
				y[i] = T(math.Inf(-1))
			}
			for i, o := range iy {
				y[o] = max(y[o], x[ixs[i]])
			}
			return
		}
		for i, o := range iy {
			y[o] += x[ixs[i]]
		}
		ScaleAll(y, scale)
		return
	}
	n := p.dims[len(p.dims)-1]
	sx, sy := p.inner(0), p.inner(1)
	if kind == ReduceMax {
		for i := range y {
			y[i] = T(math.Inf(-1))
		}
		p.rows(func(off []int) {
			xx, yy := x[off[0]:], y[off[1]:]
			for i := 0; i < n; i++ {
				if v := xx[i*sx]; v > yy[i*sy] {
					yy[i*sy] = v
				}
			}
		})
		return
	}
	p.rows(func(off []int) {
		xx, yy := x[off[0]:], y[off[1]:]
		if sx == 1 && sy == 1 { // a reduced axis outside the innermost one
			addInto(yy[:n], xx[:n])
			return
		}
		if sy == 0 {
			var s T
			for i := 0; i < n; i++ {
				s += xx[i*sx]
			}
			yy[0] += s
			return
		}
		for i := 0; i < n; i++ {
			yy[i*sy] += xx[i*sx]
		}
	})
	if scale != 1 {
		for i := range y {
			y[i] *= scale
		}
	}
}

// addInto sets y += x elementwise (y[i] + x[i], in that order).
func addInto[T Float](y, x []T) {
	x = x[:len(y)]
	if yf, ok := any(y).([]float32); ok && useVec && len(y) >= vecMin {
		vAddInto(yf, any(x).([]float32))
		return
	}
	for i, v := range x {
		y[i] += v
	}
}

// MaxGrad routes g to the first maximal element of each reduced group; the
// plan's operands are (x, y) as in ReduceFwd, and g has y's layout.
func MaxGrad[T Float](p *Plan, x, y, g, dx []T) {
	n := p.dims[len(p.dims)-1]
	sx, sy := p.inner(0), p.inner(1)
	taken := make([]bool, len(y))
	p.rows(func(off []int) {
		for i := 0; i < n; i++ {
			ix, iy := off[0]+i*sx, off[1]+i*sy
			if !taken[iy] && x[ix] == y[iy] {
				taken[iy] = true
				dx[ix] = g[iy]
			}
		}
	})
}

// dot returns ⟨a, b⟩ (four partial sums).
func dot[T Float](a, b []T) T {
	b = b[:len(a)]
	var s0, s1, s2, s3 T
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}
