package kernels

import (
	"fmt"
	"math"
)

// CrossEntropyFwd computes the loss y[0] = mean over the rows x_r (of
// length v) of logsumexp(x_r) − x_r[target_r]; the probabilities are kept
// in st slot 0 for CrossEntropyBwd. It fails on a target outside [0, v).
func CrossEntropyFwd[T Float](x []T, tgt []int, y []T, v int, st *Side) error {
	N := len(x) / v
	P := SideBuf[T](st, 0, N*v)
	nch := nChunks(N, 4*v)
	part := SideBuf[float64](st, 1, nch)
	errs := make([]error, nch)
	parallelChunks(N, nch, func(ch, lo, hi int) {
		for _, id := range tgt[lo:hi] {
			if id < 0 || id >= v {
				errs[ch] = fmt.Errorf("cross_entropy: target %d out of range [0, %d)", id, v)
				return
			}
		}
		if xf, ok := any(x).([]float32); ok && useVec && hi > lo {
			part[ch] = vCERows(xf, tgt, any(P).([]float32), lo, hi, v)
			return
		}
		var l float64
		for r := lo; r < hi; r++ {
			id := tgt[r]
			xr, pr := x[r*v:(r+1)*v], P[r*v:(r+1)*v]
			mx := maxOf(xr)
			s := expShift(xr, pr, mx)
			l += math.Log(s) + float64(mx) - float64(xr[id])
			inv := T(1 / s)
			for j := range pr {
				pr[j] *= inv
			}
		}
		part[ch] = l
	})
	var total float64
	for ch, err := range errs {
		if err != nil {
			return err
		}
		total += part[ch]
	}
	y[0] = T(total / float64(N))
	return nil
}

// CrossEntropyBwd computes dx = (P − onehot(target))·g/N from the
// probabilities P that CrossEntropyFwd kept in st and the loss gradient g.
func CrossEntropyBwd[T Float](tgt []int, g T, dx []T, v int, st *Side) {
	P := SideBuf[T](st, 0, len(dx))
	N := len(dx) / v
	c := g / T(N)
	parallelFor(N, 2*v, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			pr, dr := P[r*v:(r+1)*v], dx[r*v:(r+1)*v]
			for j, p := range pr {
				dr[j] = p * c
			}
			dr[tgt[r]] -= c
		}
	})
}
