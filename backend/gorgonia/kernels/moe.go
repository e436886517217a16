package kernels

import (
	"fmt"
	"runtime"
	"slices"

	"github.com/mhcc/mhcc/internal/par"
)

// The mixture-of-experts kernels (ir/ops_moe.go): top-k selection, the
// experts' load, and the routed experts as grouped products. The routed
// experts never touch a token an expert was not chosen for: the slots
// (token t, choice j) are sorted by expert (a counting sort, stable in
// slot order), each expert's tokens are gathered into one block of rows,
// and each expert runs one product per weight over its block. The work
// is k expert FFNs per token whatever the number of experts E.

// TopK writes, for every row of x [rows, E], the indices of its k largest
// entries into y [rows, k], in descending order, ties to the lower index,
// NaN below every number.
func TopK[T Float](x []T, y []int, E, k int) {
	rows := len(x) / E
	parallelFor(rows, E*k, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xs, out := x[r*E:(r+1)*E], y[r*k:(r+1)*k]
			for j := range out {
				best := -1
				for e, v := range xs {
					if slices.Contains(out[:j], e) {
						continue
					}
					if best < 0 || ranksAbove(v, xs[best]) {
						best = e
					}
				}
				out[j] = best
			}
		}
	})
}

// ranksAbove reports whether a ranks strictly above b: a larger number,
// or a number against NaN.
func ranksAbove[T Float](a, b T) bool {
	if a != a {
		return false
	}
	return b != b || a > b
}

// ExpertLoad writes into y [E] the share of the entries of idx equal to
// each expert.
func ExpertLoad[T Float](idx []int, y []T) error {
	E := len(y)
	counts := make([]int, E)
	for i, e := range idx {
		if e < 0 || e >= E {
			return fmt.Errorf("moe.load: index %d at position %d out of range [0, %d)", e, i, E)
		}
		counts[e]++
	}
	for e, c := range counts {
		y[e] = T(float64(c) / float64(len(idx)))
	}
	return nil
}

// MoEExperts describes one moe.experts: N tokens of width C, K experts per
// token out of E, hidden width H, and the gate activation (GELU, else
// SiLU).
type MoEExperts struct {
	N, K, C, H, E int
	GELU          bool
}

// MoEPlan is the routing of one call, kept from the forward for the
// backward: the N·K slots (token t, choice j; slot t·K + j) grouped by
// expert.
type MoEPlan struct {
	// Order[r] is the slot of row r; the rows Off[e] … Off[e+1]−1 are
	// expert e's, in slot order.
	Order []int
	// Row[s] is the row of slot s.
	Row []int
	Off []int
	// experts lists the experts with rows, most rows first (ties by
	// index): the order the parallel loops hand them out in.
	experts []int
}

func (p *MoEPlan) build(idx []int, E int) error {
	n := len(idx)
	if len(p.Order) != n {
		p.Order, p.Row = make([]int, n), make([]int, n)
	}
	if len(p.Off) != E+1 {
		p.Off = make([]int, E+1)
	}
	clear(p.Off)
	for s, e := range idx {
		if e < 0 || e >= E {
			return fmt.Errorf("moe.experts: expert index %d at slot %d out of range [0, %d)", e, s, E)
		}
		p.Off[e+1]++
	}
	for e := 0; e < E; e++ {
		p.Off[e+1] += p.Off[e]
	}
	next := slices.Clone(p.Off[:E])
	for s, e := range idx {
		r := next[e]
		next[e]++
		p.Order[r], p.Row[s] = s, r
	}
	p.experts = p.experts[:0]
	for e := 0; e < E; e++ {
		if p.Off[e+1] > p.Off[e] {
			p.experts = append(p.experts, e)
		}
	}
	slices.SortStableFunc(p.experts, func(a, b int) int { return (p.Off[b+1] - p.Off[b]) - (p.Off[a+1] - p.Off[a]) })
	return nil
}

// each runs f(e, lo, hi) for every expert e with rows lo … hi−1, the
// experts spread over the CPUs (each writes only its own rows and
// weights, so the result does not depend on the schedule); perRow is the
// work per row, to keep small calls on one goroutine.
func (p *MoEPlan) each(perRow int, f func(e, lo, hi int)) {
	w := min(runtime.GOMAXPROCS(0), len(p.experts))
	if w <= 1 || len(p.Order)*perRow < 1<<16 {
		for _, e := range p.experts {
			f(e, p.Off[e], p.Off[e+1])
		}
		return
	}
	par.Tasks(w, len(p.experts), func(i int) {
		e := p.experts[i]
		f(e, p.Off[e], p.Off[e+1])
	})
}

// The side slots of moe.experts: what the forward keeps for the backward.
const (
	moeXs = iota // [NK, C] the tokens, gathered by row
	moeH1        // [NK, H] x·W1ᵀ
	moeH3        // [NK, H] x·W3ᵀ
	moeS         // [NK, H] σ(H1) (SiLU) or the tanh of GELU
	moeF         // [NK, H] act(H1)
	moeYs        // [NK, C] each row's expert output before its gate
	moeA         // [NK, H] act(H1) ⊙ H3 (forward scratch)
)

// The scratch slots of the backward.
const (
	moeDYs = iota // [NK, C] gate · dy, by row
	moeBA         // [NK, H] act(H1) ⊙ H3, recomputed
	moeDA         // [NK, H]
	moeDH1        // [NK, H]
	moeDH3        // [NK, H]
	moeDF         // [NK, H]
	moeDXs        // [NK, C]
)

// MoEExpertsFwd computes y [N, C] = Σ_j gates[t, j]·FFN_{idx[t, j]}(x[t])
// for x [N, C], idx and gates [N, K] and w1, w3, w2 [E, H, C], keeping in
// s (and plan) what MoEExpertsBwd needs.
func MoEExpertsFwd[T Float](p MoEExperts, x []T, idx []int, gates, w1, w3, w2, y []T, plan *MoEPlan, s *Side) error {
	if err := plan.build(idx, p.E); err != nil {
		return err
	}
	C, H, K := p.C, p.H, p.K
	nk := p.N * K
	xs := SideBuf[T](s, moeXs, nk*C)
	h1, h3 := SideBuf[T](s, moeH1, nk*H), SideBuf[T](s, moeH3, nk*H)
	sv, f := SideBuf[T](s, moeS, nk*H), SideBuf[T](s, moeF, nk*H)
	ys, a := SideBuf[T](s, moeYs, nk*C), SideBuf[T](s, moeA, nk*H)
	parallelFor(nk, C, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			t := plan.Order[r] / K
			copy(xs[r*C:(r+1)*C], x[t*C:(t+1)*C])
		}
	})
	plan.each(4*H*C, func(e, lo, hi int) {
		m := hi - lo
		gemm(false, true, m, H, C, xs[lo*C:], C, w1[e*H*C:], C, 0, h1[lo*H:], H)
		gemm(false, true, m, H, C, xs[lo*C:], C, w3[e*H*C:], C, 0, h3[lo*H:], H)
	})
	if p.GELU {
		GELUFwd(h1, f, sv)
	} else {
		SiLUFwd(h1, f, sv)
	}
	mulInto(f, h3, a)
	plan.each(2*H*C, func(e, lo, hi int) {
		gemm(false, false, hi-lo, C, H, a[lo*H:], H, w2[e*H*C:], C, 0, ys[lo*C:], C)
	})
	parallelFor(p.N, K*C, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			out := y[t*C : (t+1)*C]
			for j := 0; j < K; j++ {
				g, r := gates[t*K+j], plan.Row[t*K+j]
				row := ys[r*C : (r+1)*C]
				row = row[:len(out)]
				if j == 0 {
					for c, v := range row {
						out[c] = g * v
					}
					continue
				}
				for c, v := range row {
					out[c] += g * v
				}
			}
		}
	})
	return nil
}

// MoEExpertsBwd computes the gradients of MoEExpertsFwd's inputs from
// gy [N, C]: dx [N, C], dgates [N, K], dw1, dw3, dw2 [E, H, C] (each nil
// when not needed), from the state the forward left in s and plan; tmp
// holds scratch.
func MoEExpertsBwd[T Float](p MoEExperts, gates, w1, w3, w2, gy, dx, dgates, dw1, dw3, dw2 []T, plan *MoEPlan, s, tmp *Side) {
	C, H, K := p.C, p.H, p.K
	nk := p.N * K
	xs := SideBuf[T](s, moeXs, nk*C)
	h1, h3 := SideBuf[T](s, moeH1, nk*H), SideBuf[T](s, moeH3, nk*H)
	sv, f, ys := SideBuf[T](s, moeS, nk*H), SideBuf[T](s, moeF, nk*H), SideBuf[T](s, moeYs, nk*C)
	dys := SideBuf[T](tmp, moeDYs, nk*C)
	// dys[row] = gate·dy[t]; dgates[t, j] = dy[t]·ys[row]
	parallelFor(p.N, 2*K*C, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			g := gy[t*C : (t+1)*C]
			for j := 0; j < K; j++ {
				sl := t*K + j
				r := plan.Row[sl]
				if dgates != nil {
					dgates[sl] = dot(g, ys[r*C:(r+1)*C])
				}
				d := dys[r*C : (r+1)*C]
				d = d[:len(g)]
				for c, v := range g {
					d[c] = gates[sl] * v
				}
			}
		}
	})
	if dw1 == nil && dw3 == nil && dw2 == nil && dx == nil {
		return
	}
	a := SideBuf[T](tmp, moeBA, nk*H)
	da := SideBuf[T](tmp, moeDA, nk*H)
	mulInto(f, h3, a)
	plan.each(4*H*C, func(e, lo, hi int) {
		m := hi - lo
		gemm(false, true, m, H, C, dys[lo*C:], C, w2[e*H*C:], C, 0, da[lo*H:], H)
		if dw2 != nil {
			gemm(true, false, H, C, m, a[lo*H:], H, dys[lo*C:], C, 0, dw2[e*H*C:], C)
		}
	})
	dh1, dh3, df := SideBuf[T](tmp, moeDH1, nk*H), SideBuf[T](tmp, moeDH3, nk*H), SideBuf[T](tmp, moeDF, nk*H)
	mulInto(da, f, dh3)
	mulInto(da, h3, df)
	if p.GELU {
		GELUBwd(h1, sv, df, dh1)
	} else {
		SiLUBwd(h1, sv, df, dh1)
	}
	var dxs []T
	if dx != nil {
		dxs = SideBuf[T](tmp, moeDXs, nk*C)
	}
	plan.each(6*H*C, func(e, lo, hi int) {
		m := hi - lo
		if dw1 != nil {
			gemm(true, false, H, C, m, dh1[lo*H:], H, xs[lo*C:], C, 0, dw1[e*H*C:], C)
		}
		if dw3 != nil {
			gemm(true, false, H, C, m, dh3[lo*H:], H, xs[lo*C:], C, 0, dw3[e*H*C:], C)
		}
		if dxs != nil {
			gemm(false, false, m, C, H, dh1[lo*H:], H, w1[e*H*C:], C, 0, dxs[lo*C:], C)
			gemm(false, false, m, C, H, dh3[lo*H:], H, w3[e*H*C:], C, 1, dxs[lo*C:], C)
		}
	})
	// experts that received no token get a zero gradient
	for e := 0; e < p.E; e++ {
		if plan.Off[e+1] > plan.Off[e] {
			continue
		}
		for _, dw := range [][]T{dw1, dw3, dw2} {
			if dw != nil {
				clear(dw[e*H*C : (e+1)*H*C])
			}
		}
	}
	if dx == nil {
		return
	}
	parallelFor(p.N, K*C, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			out := dx[t*C : (t+1)*C]
			for j := 0; j < K; j++ {
				r := plan.Row[t*K+j]
				row := dxs[r*C : (r+1)*C]
				row = row[:len(out)]
				if j == 0 {
					copy(out, row)
					continue
				}
				for c, v := range row {
					out[c] += v
				}
			}
		}
	})
}

// mulInto writes c = a ⊙ b elementwise.
func mulInto[T Float](a, b, c []T) {
	b, c = b[:len(a)], c[:len(a)]
	parallelFor(len(a), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			c[i] = a[i] * b[i]
		}
	})
}
