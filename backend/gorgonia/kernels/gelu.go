package kernels

// geluC is √(2/π), geluA the cubic coefficient of the tanh approximation.
const (
	geluC = 0.7978845608028654
	geluA = 0.044715
)

// geluBlock is the block length of SiLU's float32 vector path: every step
// over a block is one AVX2 call (vBin, vUnary) short enough to run on the
// calling goroutine, on data that stays in L1/L2.
const geluBlock = 4096

// The kinds and modes of vBin (mhcc_vbin): y = a∘b, a∘c or c∘b.
const (
	vbAdd, vbSub, vbMul = 0, 1, 2
	vbVV, vbVC, vbCV    = 0, 1, 2
)

// geluBlocks runs f over the blocks of [0, n) in parallel chunks, giving
// each chunk scratch buffers of nbuf blocks.
func geluBlocks(n, nbuf int, f func(lo, hi int, scratch []float32)) {
	nb := (n + geluBlock - 1) / geluBlock
	parallelFor(nb, 16*geluBlock, func(b0, b1 int) {
		var scratch []float32
		if nbuf > 0 {
			scratch = make([]float32, nbuf*geluBlock)
		}
		for blk := b0; blk < b1; blk++ {
			f(blk*geluBlock, min((blk+1)*geluBlock, n), scratch)
		}
	})
}

// geluCost is parallelFor's cost per element of the fused GELU kernels.
const geluCost = 16

// geluFwdVec is GELUFwd for float32 with the fused kernel (gelu.c): per
// element, u = ((x·x)·x·0.044715 + x)·√(2/π), t = tanh u (vecmath.h's
// tanh256), y = ((t + 1)·x)·0.5, in registers; t is not stored when nil.
// It gives bit for bit what the former per-block sequence of vBin and
// vUnary passes gave (TestGELUFusedMatchesPasses).
func geluFwdVec(x, y, t []float32) {
	parallelFor(len(x), geluCost, func(lo, hi int) {
		var ts []float32
		if t != nil {
			ts = t[lo:hi]
		}
		vGELUFwd(x[lo:hi], y[lo:hi], ts)
	})
}

// geluBwdVec is GELUBwd for float32 with the fused kernel. With
// s = 0.5·√(2/π)·x·(1 + 3·0.044715·x²), the derivative
// 0.5·(1 + t) + s·(1 − t²) is computed as (1 + t)·(0.5 + s·(1 − t)). A
// nil t is recomputed by geluFwdVec's own operations, so it is
// bit-identical to the kept one.
func geluBwdVec(x, t, gy, dx []float32) {
	parallelFor(len(x), geluCost, func(lo, hi int) {
		var ts []float32
		if t != nil {
			ts = t[lo:hi]
		}
		vGELUBwd(x[lo:hi], ts, gy[lo:hi], dx[lo:hi])
	})
}

// GELUFwd computes y = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), in the
// primitive form's order of operations; t receives the tanh for GELUBwd
// (nil: it is not kept, and GELUBwd recomputes it).
func GELUFwd[T Float](x, y, t []T) { geluFwd(x, y, t, vecPath(x)) }

// vecPath reports whether the activations' float32 vector kernels take
// x: the build and CPU have them and x is long enough.
func vecPath[T Float](x []T) bool { return vecPathN[T](len(x)) }

// vecPathN is vecPath for a float array of n elements.
func vecPathN[T Float](n int) bool {
	var z T
	_, ok := any(z).(float32)
	return ok && useVec && n >= vecMin
}

// geluFwd is GELUFwd on the vector path when vec (for float32), else on
// the scalar one. Both compute every element on its own, so a part of an
// array gives the elements the whole array would on the same path.
func geluFwd[T Float](x, y, t []T, vec bool) {
	y = y[:len(x)]
	if t != nil {
		t = t[:len(x)]
	}
	if xf, ok := any(x).([]float32); ok && vec {
		geluFwdVec(xf, any(y).([]float32), any(t).([]float32))
		return
	}
	parallelFor(len(x), 24, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := x[i]
			th := geluTanh(v)
			if t != nil {
				t[i] = th
			}
			y[i] = v * 0.5 * (th + 1)
		}
	})
}

// geluTanh is tanh(√(2/π)·(x + 0.044715·x³)) as GELUFwd's scalar path
// computes it.
func geluTanh[T Float](v T) T { return tanhT((v + v*v*v*geluA) * geluC) }

// GELUBwd computes, with t = tanh(√(2/π)·(x + 0.044715·x³)) from GELUFwd,
//
//	dx = gy·(0.5·(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²)).
//
// A nil t is recomputed exactly as GELUFwd computed it (the same
// operations), so the result is the same bit for bit.
func GELUBwd[T Float](x, t, gy, dx []T) { geluBwd(x, t, gy, dx, vecPath(x)) }

// geluBwd is GELUBwd on the vector path when vec, as geluFwd.
func geluBwd[T Float](x, t, gy, dx []T, vec bool) {
	gy, dx = gy[:len(x)], dx[:len(x)]
	if t != nil {
		t = t[:len(x)]
	}
	if xf, ok := any(x).([]float32); ok && vec {
		geluBwdVec(xf, any(t).([]float32), any(gy).([]float32), any(dx).([]float32))
		return
	}
	parallelFor(len(x), 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := x[i]
			var th T
			if t != nil {
				th = t[i]
			} else {
				th = geluTanh(v)
			}
			dx[i] = gy[i] * (0.5*(1+th) + 0.5*v*(1-th*th)*geluC*(1+3*geluA*v*v))
		}
	})
}
