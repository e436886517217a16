package kernels

import "math"

// layerStats returns the mean μ of a row and inv = 1/sqrt(var + eps), the
// variance the biased one (divided by the row length) and computed in two
// passes, both in float64.
func layerStats[T Float](x []T, eps float64) (mu, inv T) {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	m := s / float64(len(x))
	var q float64
	for _, v := range x {
		d := float64(v) - m
		q += d * d
	}
	return T(m), T(1 / math.Sqrt(q/float64(len(x))+eps))
}

// LayerNormFwd computes y = (x − μ)/sqrt(var + eps)·g + b for rows of
// length c, μ and var the mean and biased variance of the row. It keeps
// μ and inv = 1/sqrt(var + eps) of row r in stats[2r], stats[2r+1] for
// LayerNormBwd (stats may be nil).
func LayerNormFwd[T Float](x, g, b, y, stats []T, c int, eps float64) {
	g, b = g[:c], b[:c]
	parallelFor(len(x)/c, 5*c, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := x[r*c:(r+1)*c], y[r*c:(r+1)*c]
			mu, inv := layerStats(xr, eps)
			if stats != nil {
				stats[2*r], stats[2*r+1] = mu, inv
			}
			for i, v := range xr {
				yr[i] = (v-mu)*inv*g[i] + b[i]
			}
		}
	})
}

// LayerNormBwd computes, with x̂ = (x − μ)·inv and ĝ = gy⊙g,
//
//	dx = inv·(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂)),   dg = Σ_rows gy⊙x̂,   db = Σ_rows gy.
//
// Any of dx, dg and db may be nil (not needed); s holds the per-chunk
// partials of dg and db. stats are the row statistics LayerNormFwd kept
// for the same x, or nil to recompute them.
func LayerNormBwd[T Float](x, g, gy, stats, dx, dg, db []T, s *Side, c int, eps float64) {
	rows := len(x) / c
	g = g[:c]
	w := nChunks(rows, 8*c)
	var part []T
	if dg != nil || db != nil {
		part = SideBuf[T](s, 0, 2*w*c)
		clear(part)
	}
	parallelChunks(rows, w, func(ch, lo, hi int) {
		var pg, pb []T
		if part != nil {
			pg, pb = part[2*ch*c:(2*ch+1)*c], part[(2*ch+1)*c:(2*ch+2)*c]
		}
		for r := lo; r < hi; r++ {
			xr, gr := x[r*c:(r+1)*c], gy[r*c:(r+1)*c]
			var mu, inv T
			if stats != nil {
				mu, inv = stats[2*r], stats[2*r+1]
			} else {
				mu, inv = layerStats(xr, eps)
			}
			if dx != nil {
				var sg, sgx T // Σ ĝ and Σ ĝ⊙x̂
				for i, v := range xr {
					gh := gr[i] * g[i]
					sg += gh
					sgx += gh * (v - mu) * inv
				}
				mg, mgx := sg/T(c), sgx/T(c)
				dr := dx[r*c : (r+1)*c]
				for i, v := range xr {
					dr[i] = inv * (gr[i]*g[i] - mg - (v-mu)*inv*mgx)
				}
			}
			if pg != nil {
				for i, v := range xr {
					pg[i] += gr[i] * (v - mu) * inv
					pb[i] += gr[i]
				}
			}
		}
	})
	if part == nil {
		return
	}
	// the partials are laid out [w][2][c]: sum the dg rows and the db rows
	sum := func(dst []T, off int) {
		if dst == nil {
			return
		}
		copy(dst[:c], part[off:off+c])
		for ch := 1; ch < w; ch++ {
			p := part[(2*ch)*c+off : (2*ch)*c+off+c]
			for i, v := range p {
				dst[i] += v
			}
		}
	}
	sum(dg, 0)
	sum(db, c)
}
