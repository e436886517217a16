package kernels

// SiLUFwd computes y = x·σ(x); s receives σ(x) for SiLUBwd. float32 runs
// the AVX2 sigmoid and product in blocks when the build and CPU allow.
func SiLUFwd[T Float](x, y, s []T) { siluFwd(x, y, s, vecPath(x)) }

// siluFwd is SiLUFwd on the vector path when vec (for float32), else on
// the scalar one; every element is computed on its own (geluFwd).
func siluFwd[T Float](x, y, s []T, vec bool) {
	y, s = y[:len(x)], s[:len(x)]
	if xf, ok := any(x).([]float32); ok && vec {
		yf, sf := any(y).([]float32), any(s).([]float32)
		geluBlocks(len(x), 0, func(lo, hi int, _ []float32) {
			vUnary(vSigmoid, xf[lo:hi], sf[lo:hi])
			vBin(vbMul, vbVV, xf[lo:hi], sf[lo:hi], 0, yf[lo:hi])
		})
		return
	}
	parallelFor(len(x), 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			sg := sigmoidT(x[i])
			s[i] = sg
			y[i] = x[i] * sg
		}
	})
}

// SiLUBwd computes, with s = σ(x) from SiLUFwd,
//
//	dx = gy·s·(1 + x·(1 − s)).
func SiLUBwd[T Float](x, s, gy, dx []T) { siluBwd(x, s, gy, dx, vecPath(x)) }

// siluBwd is SiLUBwd on the vector path when vec, as siluFwd.
func siluBwd[T Float](x, s, gy, dx []T, vec bool) {
	s, gy, dx = s[:len(x)], gy[:len(x)], dx[:len(x)]
	if xf, ok := any(x).([]float32); ok && vec {
		sf, gf, df := any(s).([]float32), any(gy).([]float32), any(dx).([]float32)
		geluBlocks(len(x), 0, func(lo, hi int, _ []float32) {
			d := df[lo:hi]
			vBin(vbSub, vbCV, nil, sf[lo:hi], 1, d) // 1 − s
			vBin(vbMul, vbVV, d, xf[lo:hi], 0, d)
			vBin(vbAdd, vbVC, d, nil, 1, d)
			vBin(vbMul, vbVV, d, sf[lo:hi], 0, d)
			vBin(vbMul, vbVV, d, gf[lo:hi], 0, d)
		})
		return
	}
	parallelFor(len(x), 8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dx[i] = gy[i] * s[i] * (1 + x[i]*(1-s[i]))
		}
	})
}
