package kernels

import "math"

// rmsInv returns 1/sqrt(mean(x²) + eps).
func rmsInv[T Float](x []T, eps float64) T {
	return T(1 / math.Sqrt(float64(dot(x, x))/float64(len(x))+eps))
}

// RMSNormFwd computes y = x/sqrt(mean(x², row) + eps)·g for rows of
// length c.
func RMSNormFwd[T Float](x, g, y []T, c int, eps float64) {
	g = g[:c]
	parallelFor(len(x)/c, 3*c, func(lo, hi int) {
		if xf, ok := any(x).([]float32); ok && useVec {
			vRMSFwd(xf, any(g).([]float32), any(y).([]float32), lo, hi, c, eps)
			return
		}
		for r := lo; r < hi; r++ {
			xr, yr := x[r*c:(r+1)*c], y[r*c:(r+1)*c]
			inv := rmsInv(xr, eps)
			for i, v := range xr {
				yr[i] = v * inv * g[i]
			}
		}
	})
}

// RMSNormBwd computes, with x̂ = x·inv and inv = 1/r,
//
//	dx = inv·(gy⊙g) − x·inv³·⟨gy⊙g, x⟩/C,   dg = Σ_rows gy⊙x̂.
//
// dx or dg may be nil (not needed); s holds the per-chunk partials of dg.
func RMSNormBwd[T Float](x, g, gy, dx, dg []T, s *Side, c int, eps float64) {
	rows := len(x) / c
	g = g[:c]
	w := nChunks(rows, 6*c)
	var part []T
	if dg != nil {
		part = SideBuf[T](s, 0, w*c)
		clear(part)
	}
	parallelChunks(rows, w, func(ch, lo, hi int) {
		var pg []T
		if part != nil {
			pg = part[ch*c : (ch+1)*c]
		}
		if xf, ok := any(x).([]float32); ok && useVec {
			f := func(s []T) []float32 { return any(s).([]float32) }
			vRMSBwd(xf, f(g), f(gy), f(dx), f(pg), lo, hi, c, eps)
			return
		}
		for r := lo; r < hi; r++ {
			xr, gr := x[r*c:(r+1)*c], gy[r*c:(r+1)*c]
			inv := rmsInv(xr, eps)
			if dx != nil {
				var d T
				for i, v := range xr {
					d += gr[i] * g[i] * v
				}
				k := d * inv * inv * inv / T(c)
				dr := dx[r*c : (r+1)*c]
				for i, v := range xr {
					dr[i] = inv*gr[i]*g[i] - v*k
				}
			}
			if pg != nil {
				for i, v := range xr {
					pg[i] += gr[i] * v * inv
				}
			}
		}
	})
	if dg != nil {
		sumChunks(dg, part, c, w)
	}
}
