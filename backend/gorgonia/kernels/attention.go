package kernels

import "math"

// Attention describes one fused attention over [..., T, D] queries and
// keys and [..., T, DV] values: the scores are scaled by Scale and, when
// Causal, masked above the diagonal.
type Attention struct {
	T, D, DV int
	Scale    float64
	Causal   bool
}

// AttentionFwd computes, per (batch, head) b, S = q_b·k_bᵀ·scale,
// P = softmax over j ≤ i (causal) or all j, out_b = P·v_b. P is kept in st
// slot 0 for AttentionBwd.
func AttentionFwd[T Float](q, k, v, out []T, a Attention, st *Side) {
	tt, d, dv := a.T, a.D, a.DV
	bh := len(q) / (tt * d)
	P := SideBuf[T](st, 0, bh*tt*tt)
	sc := T(a.Scale)
	parallelFor(bh, tt*tt*(d+dv+8), func(lo, hi int) {
		for b := lo; b < hi; b++ {
			pb := P[b*tt*tt : (b+1)*tt*tt]
			qb, kb, vb, ob := q[b*tt*d:], k[b*tt*d:], v[b*tt*dv:], out[b*tt*dv:]
			// S = q·kᵀ and out = P·v, causal: only the row blocks' columns
			// up to the block's last row (the rest is masked)
			for i0, i1 := range attnBlocks(tt, a.Causal) {
				gemm(false, true, i1-i0, i1, d, qb[i0*d:], d, kb, d, 0, pb[i0*tt:], tt)
			}
			attnSoftmax(pb, tt, a.Causal, sc)
			for i0, i1 := range attnBlocks(tt, a.Causal) {
				gemm(false, false, i1-i0, dv, i1, pb[i0*tt:], tt, vb, dv, 0, ob[i0*dv:], dv)
			}
		}
	})
}

// AttentionBwd computes, from the P that AttentionFwd kept in st and the
// output gradient G, per (batch, head):
//
//	dv = Pᵀ·G,  dP = G·vᵀ,  dS = P ⊙ (dP − rowsum(P ⊙ dP))·scale,
//	dq = dS·k,  dk = dSᵀ·q.
//
// Any of dq, dk, dv may be nil; tmp holds the scratch of dS.
func AttentionBwd[T Float](q, k, v, G, dq, dk, dvv []T, a Attention, st, tmp *Side) {
	tt, d, dv := a.T, a.D, a.DV
	bh := len(q) / (tt * d)
	P := SideBuf[T](st, 0, bh*tt*tt)
	sc := T(a.Scale)
	nch := nChunks(bh, 2*tt*tt*(d+dv))
	var scratch []T
	if dq != nil || dk != nil {
		scratch = SideBuf[T](tmp, 0, nch*tt*tt)
	}
	parallelChunks(bh, nch, func(ch, lo, hi int) {
		for b := lo; b < hi; b++ {
			pb, gb := P[b*tt*tt:(b+1)*tt*tt], G[b*tt*dv:(b+1)*tt*dv]
			// causal: P and dS vanish above the diagonal, so column block
			// [j0, j1) of Pᵀ·G and dSᵀ·q only needs rows j0..T
			if dvv != nil {
				dvb := dvv[b*tt*dv:]
				for j0, j1 := range attnBlocks(tt, a.Causal) {
					r0 := lowerRow(j0, a.Causal)
					gemm(true, false, j1-j0, dv, tt-r0, pb[r0*tt+j0:], tt, gb[r0*dv:], dv, 0, dvb[j0*dv:], dv)
				}
			}
			if scratch == nil {
				continue
			}
			ds := scratch[ch*tt*tt : (ch+1)*tt*tt]
			vb := v[b*tt*dv:]
			for i0, i1 := range attnBlocks(tt, a.Causal) {
				gemm(false, true, i1-i0, i1, dv, gb[i0*dv:], dv, vb, dv, 0, ds[i0*tt:], tt)
			}
			attnDSoftmax(pb, ds, tt, a.Causal, sc)
			if dq != nil {
				kb, dqb := k[b*tt*d:], dq[b*tt*d:]
				for i0, i1 := range attnBlocks(tt, a.Causal) {
					gemm(false, false, i1-i0, d, i1, ds[i0*tt:], tt, kb, d, 0, dqb[i0*d:], d)
				}
			}
			if dk != nil {
				qb, dkb := q[b*tt*d:], dk[b*tt*d:]
				for j0, j1 := range attnBlocks(tt, a.Causal) {
					r0 := lowerRow(j0, a.Causal)
					gemm(true, false, j1-j0, d, tt-r0, ds[r0*tt+j0:], tt, qb[r0*d:], d, 0, dkb[j0*d:], d)
				}
			}
		}
	})
}

// attnBlock is the row-block size of causal attention's GEMMs.
const attnBlock = 32

// attnBlocks yields the row blocks [i0, i1) of a T×T attention: one block
// (0, T) unless causal with T ≥ 2·attnBlock, where row block [i0, i1)
// only needs columns [0, i1) (about 60% of the work at T = 128).
func attnBlocks(tt int, causal bool) func(yield func(int, int) bool) {
	return func(yield func(int, int) bool) {
		if !causal || tt < 2*attnBlock {
			yield(0, tt)
			return
		}
		for i0 := 0; i0 < tt; i0 += attnBlock {
			if !yield(i0, min(i0+attnBlock, tt)) {
				return
			}
		}
	}
}

// lowerRow is the first row that has non-zero entries in column block
// [j0, ...) of a causal attention matrix blocked by attnBlocks.
func lowerRow(j0 int, causal bool) int {
	if causal {
		return j0
	}
	return 0
}

// attnSoftmax turns one T×T block of scores into probabilities in place:
// row i is scaled, softmaxed over j ≤ i (causal) or all j, zero beyond.
func attnSoftmax[T Float](S []T, tt int, causal bool, sc T) {
	if sf, ok := any(S).([]float32); ok && useVec {
		vAttnSoftmax(sf, tt, causal, float32(sc))
		return
	}
	for i := 0; i < tt; i++ {
		row := S[i*tt : (i+1)*tt]
		lim := tt
		if causal {
			lim = i + 1
		}
		r := row[:lim]
		for j := range r {
			r[j] *= sc
		}
		s := expShift(r, r, maxOf(r))
		inv := T(1 / s)
		for j := range r {
			r[j] *= inv
		}
		clear(row[lim:])
	}
}

// attnDSoftmax: dS = P ⊙ (dP − rowsum(P ⊙ dP))·scale in place of dP, for
// one T×T block (zero above the diagonal when causal).
func attnDSoftmax[T Float](P, ds []T, tt int, causal bool, sc T) {
	if pf, ok := any(P).([]float32); ok && useVec {
		vAttnDSoftmax(pf, any(ds).([]float32), tt, causal, float32(sc))
		return
	}
	for i := 0; i < tt; i++ {
		lim := tt
		if causal {
			lim = i + 1
		}
		pr, dr := P[i*tt:i*tt+lim], ds[i*tt:(i+1)*tt]
		s := dot(pr, dr[:lim])
		for j, p := range pr {
			dr[j] = p * (dr[j] - s) * sc
		}
		clear(dr[lim:])
	}
}

// AttentionCached describes one decoding step of causal attention over a
// key/value cache (ir.OpAttentionCached): T new positions of D-wide
// queries and keys and DV-wide values, caches of S rows.
type AttentionCached struct {
	T, S, D, DV int
	Scale       float64
}

// AttentionCachedFwd computes the step for every leading index: query i
// of the new positions attends to the first n rows of kc and vc and to
// the new keys and values 0 … i. Sums run in float64.
func AttentionCachedFwd[T Float](q, k, v, kc, vc []T, n int, a AttentionCached, out []T) {
	lead := len(q) / (a.T * a.D)
	parallelFor(lead, a.T*(n+a.T)*(a.D+a.DV), func(lo, hi int) {
		w := make([]float64, n+a.T)
		acc := make([]float64, a.DV)
		for p := lo; p < hi; p++ {
			for i := 0; i < a.T; i++ {
				qi := q[(p*a.T+i)*a.D : (p*a.T+i+1)*a.D]
				key := func(j int) []T {
					if j < n {
						return kc[(p*a.S+j)*a.D : (p*a.S+j+1)*a.D]
					}
					return k[(p*a.T+j-n)*a.D : (p*a.T+j-n+1)*a.D]
				}
				val := func(j int) []T {
					if j < n {
						return vc[(p*a.S+j)*a.DV : (p*a.S+j+1)*a.DV]
					}
					return v[(p*a.T+j-n)*a.DV : (p*a.T+j-n+1)*a.DV]
				}
				keys := n + i + 1
				mx := math.Inf(-1)
				for j := 0; j < keys; j++ {
					var s float64
					for c, x := range key(j) {
						s += float64(qi[c]) * float64(x)
					}
					w[j] = s * a.Scale
					mx = math.Max(mx, w[j])
				}
				var sum float64
				for j := 0; j < keys; j++ {
					w[j] = math.Exp(w[j] - mx)
					sum += w[j]
				}
				clear(acc)
				for j := 0; j < keys; j++ {
					wj := w[j] / sum
					for c, x := range val(j) {
						acc[c] += wj * float64(x)
					}
				}
				o := out[(p*a.T+i)*a.DV : (p*a.T+i+1)*a.DV]
				for c := range o {
					o[c] = T(acc[c])
				}
			}
		}
	})
}
