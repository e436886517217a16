package kernels

// sinkCols divides every column of the n×n matrix m by its sum (storing
// the reciprocal sums in inv when non-nil).
func sinkCols[T Float](m []T, n int, inv []T) {
	for j := 0; j < n; j++ {
		var s T
		for i := j; i < len(m); i += n {
			s += m[i]
		}
		r := 1 / s
		if inv != nil {
			inv[j] = r
		}
		for i := j; i < len(m); i += n {
			m[i] *= r
		}
	}
}

// sinkRows divides every row of m by its sum.
func sinkRows[T Float](m []T, n int, inv []T) {
	for i := 0; i < n; i++ {
		row := m[i*n : (i+1)*n]
		var s T
		for _, v := range row {
			s += v
		}
		r := 1 / s
		if inv != nil {
			inv[i] = r
		}
		for j := range row {
			row[j] *= r
		}
	}
}

// SinkhornFwd computes, for each n×n matrix L of x, M = exp(L − max L),
// then iters times normalises the columns, then the rows (ending on rows:
// rows sum to 1).
func SinkhornFwd[T Float](x, y []T, n, iters int) {
	nn := n * n
	parallelFor(len(x)/nn, (4*iters+4)*nn, func(lo, hi int) {
		if xf, ok := any(x).([]float32); ok && useVec && vSinkFwd(xf, any(y).([]float32), lo, hi, n, iters) {
			return
		}
		for b := lo; b < hi; b++ {
			xm, m := x[b*nn:(b+1)*nn], y[b*nn:(b+1)*nn]
			expShift(xm, m, maxOf(xm))
			for range iters {
				sinkCols(m, n, nil)
				sinkRows(m, n, nil)
			}
		}
	})
}

// SinkhornBwd recomputes the 2·iters+1 iterates of each matrix and
// backpropagates through every half-step: for a row step out = in·r_i
// (r_i = 1/Σ_j in_ij), d in_ij = r_i·(g_ij − Σ_k g_ik·out_ik), and likewise
// for columns; finally dL = g ⊙ exp(L − max). The max shift needs no term:
// the result does not depend on a common scale of M.
func SinkhornBwd[T Float](x, gy, dx []T, n, iters int) {
	nn := n * n
	parallelFor(len(x)/nn, (12*iters+4)*nn, func(lo, hi int) {
		if xf, ok := any(x).([]float32); ok && useVec && vSinkBwd(xf, any(gy).([]float32), any(dx).([]float32), lo, hi, n, iters) {
			return
		}
		st := make([]T, (2*iters+1)*nn) // the iterates
		inv := make([]T, 2*iters*n)     // reciprocal sums of each half-step
		g := make([]T, nn)
		for b := lo; b < hi; b++ {
			xm := x[b*nn : (b+1)*nn]
			p0 := st[:nn]
			expShift(xm, p0, maxOf(xm))
			for it := 0; it < iters; it++ {
				c := st[(2*it+1)*nn : (2*it+2)*nn]
				copy(c, st[2*it*nn:(2*it+1)*nn])
				sinkCols(c, n, inv[2*it*n:(2*it+1)*n])
				r := st[(2*it+2)*nn : (2*it+3)*nn]
				copy(r, c)
				sinkRows(r, n, inv[(2*it+1)*n:(2*it+2)*n])
			}
			copy(g, gy[b*nn:(b+1)*nn])
			for it := iters - 1; it >= 0; it-- {
				out, ir := st[(2*it+2)*nn:(2*it+3)*nn], inv[(2*it+1)*n:(2*it+2)*n]
				for i := 0; i < n; i++ {
					gr, or := g[i*n:(i+1)*n], out[i*n:(i+1)*n]
					d := dot(gr, or)
					for j := range gr {
						gr[j] = (gr[j] - d) * ir[i]
					}
				}
				out, ic := st[(2*it+1)*nn:(2*it+2)*nn], inv[2*it*n:(2*it+1)*n]
				for j := 0; j < n; j++ {
					var d T
					for i := j; i < nn; i += n {
						d += g[i] * out[i]
					}
					for i := j; i < nn; i += n {
						g[i] = (g[i] - d) * ic[j]
					}
				}
			}
			d := dx[b*nn : (b+1)*nn]
			for i, v := range p0 {
				d[i] = g[i] * v
			}
		}
	})
}
