package kernels

import "math"

// SoftmaxFwd normalises each contiguous row of length n: softmax, or
// log-softmax with logOut (rows split over the CPUs).
func SoftmaxFwd[T Float](x, y []T, n int, logOut bool) {
	parallelFor(len(x)/n, n*8, func(lo, hi int) {
		if xf, ok := any(x).([]float32); ok && useVec {
			vSoftmaxRows(xf, any(y).([]float32), lo, hi, n, logOut)
			return
		}
		softmaxRows(x[lo*n:hi*n], y[lo*n:hi*n], n, logOut)
	})
}

func softmaxRows[T Float](x, y []T, n int, logOut bool) {
	for r := 0; r+n <= len(x); r += n {
		xr, yr := x[r:r+n], y[r:r+n]
		m := maxOf(xr)
		s := expShift(xr, yr, m)
		if logOut {
			ls := T(math.Log(s)) + m
			for i, v := range xr {
				yr[i] = v - ls
			}
			continue
		}
		inv := 1 / s
		for i := range yr {
			yr[i] = T(float64(yr[i]) * inv)
		}
	}
}

// SoftmaxGrad computes dx = y ⊙ (g − ⟨g, y⟩) for softmax, and
// dx = g − exp(y)·Σg for log-softmax (y is the forward output), per row of
// length n.
func SoftmaxGrad[T Float](y, g, dx []T, n int, logOut bool) {
	for r := 0; r+n <= len(y); r += n {
		yr, gr, dr := y[r:r+n], g[r:r+n], dx[r:r+n]
		var s T
		if logOut {
			for _, v := range gr {
				s += v
			}
			expInto(yr, dr) // dr = exp(y) = softmax
			for i, e := range dr {
				dr[i] = gr[i] - e*s
			}
			continue
		}
		for i, v := range yr {
			s += gr[i] * v
		}
		for i, v := range yr {
			dr[i] = v * (gr[i] - s)
		}
	}
}
