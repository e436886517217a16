package kernels

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
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
	return nil
}

// What moe.experts keeps for its backward (slots of the op's own Side):
// the two input projections of every routed row. Everything else the
// backward needs is recomputed from them, bit for bit: the activation
// and its product with x·W3ᵀ by the forward's own kernels on the same
// path, each row's expert output by the forward's product.
const (
	moeH1 = iota // [NK, H] x·W1ᵀ
	moeH3        // [NK, H] x·W3ᵀ
)

// The slots of the scratch Side the forward and the backward share with
// the graph's other kernels (nothing in them outlives a call). Both run
// the experts one after the other, each product split over the CPUs
// (gemmSplit), except the experts too small for a split, which run side
// by side, one per CPU; so apart from moeYs a slot holds the rows of one
// expert, or of one small expert per CPU (moeRows). Each slot serves in
// turn where its previous content is dead:
const (
	// moeYs [NK, C]: each row's expert output; in the backward gate·dy,
	// then the rows' dx
	moeYs = iota
	// moeXS [M, max(C, H)]: the expert's tokens, and σ(H1) for SiLU (the
	// forward's between its products, the backward's until dH1)
	moeXS
	// moeF [M, H]: act(H1), then act(H1) ⊙ H3 (forward); act(H1), then
	// dH1 (backward)
	moeF
	// moeA [M, H]: act(H1) ⊙ H3, then dH3 (backward); H1 when nothing is
	// kept (a forward-only graph)
	moeA
	// moeDA [M, H]: dA, then dF (backward); H3 when nothing is kept
	moeDA
)

// MoEExpertsScratch is the number of elements of the scratch Side
// MoEExpertsFwd and MoEExpertsBwd use at most with the experts that
// moe.topk gives (k distinct per token, so at most N rows an expert):
// the sum of their slots.
func MoEExpertsScratch(p MoEExperts) int {
	rows := max(p.N, runtime.GOMAXPROCS(0)*MoESmallRows(p))
	return p.N*p.K*p.C + rows*(p.xsWidth()+3*p.H)
}

// MoESmallRows is the most rows of an expert too small for split
// products (moeSmallWork), which run side by side: N at most.
func MoESmallRows(p MoEExperts) int { return min(p.N, (moeSmallWork-1)/(p.H*p.C)) }

// MoEExpertsKept is the number of elements MoEExpertsFwd keeps in its
// state Side for MoEExpertsBwd: x·W1ᵀ and x·W3ᵀ of every routed row.
func MoEExpertsKept(p MoEExperts) int { return 2 * p.N * p.K * p.H }

// xsWidth is the row width of slot moeXS: C, or max(C, H) when it also
// holds σ(H1).
func (p MoEExperts) xsWidth() int {
	if p.GELU {
		return p.C
	}
	return max(p.C, p.H)
}

// moeSmallWork is gemmSplit's threshold: an expert with m rows whose
// products (m·H·C) fall below it runs them on one goroutine, so such
// experts run side by side.
const moeSmallWork = 1 << 22

// moeRows is the schedule of one call's experts: big run one after the
// other with split products, small (most rows first) side by side on
// workers goroutines, each in rows of the slots of its own.
type moeRows struct {
	big, small []int
	// bigRows and smallRows are the most rows of a big and of a small
	// expert
	bigRows, smallRows, workers int
}

func newMoERows(p MoEExperts, plan *MoEPlan) moeRows {
	var s moeRows
	for e := 0; e < p.E; e++ {
		m := plan.Off[e+1] - plan.Off[e]
		switch {
		case m == 0:
		case m*p.H*p.C >= moeSmallWork:
			s.big, s.bigRows = append(s.big, e), max(s.bigRows, m)
		default:
			s.small, s.smallRows = append(s.small, e), max(s.smallRows, m)
		}
	}
	size := func(e int) int { return plan.Off[e+1] - plan.Off[e] }
	slices.SortStableFunc(s.small, func(a, b int) int { return size(b) - size(a) })
	s.workers = min(runtime.GOMAXPROCS(0), len(s.small))
	return s
}

// moeBufs are the per-expert scratch slots (the rows of one expert).
type moeBufs[T Float] struct {
	xs, f, a, da []T
	vec          bool // the activations' path, as for all NK·H at once
}

// moeEach runs f(e, lo, hi, b) for every expert e with rows lo … hi−1,
// b being scratch of its own, as the schedule of plan says.
func moeEach[T Float](p MoEExperts, plan *MoEPlan, tmp *Side, f func(e, lo, hi int, b moeBufs[T])) {
	s := newMoERows(p, plan)
	rows := max(s.bigRows, s.workers*s.smallRows)
	all := moeBufs[T]{
		xs: SideBuf[T](tmp, moeXS, rows*p.xsWidth()),
		f:  SideBuf[T](tmp, moeF, rows*p.H), a: SideBuf[T](tmp, moeA, rows*p.H), da: SideBuf[T](tmp, moeDA, rows*p.H),
		vec: vecPathN[T](p.N * p.K * p.H),
	}
	for _, e := range s.big {
		f(e, plan.Off[e], plan.Off[e+1], all)
	}
	if s.workers <= 1 {
		for _, e := range s.small {
			f(e, plan.Off[e], plan.Off[e+1], all)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range s.workers {
		part := func(b []T, width int) []T { n := s.smallRows * width; return b[w*n : (w+1)*n] }
		own := moeBufs[T]{xs: part(all.xs, p.xsWidth()), f: part(all.f, p.H), a: part(all.a, p.H), da: part(all.da, p.H), vec: all.vec}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(s.small); i = int(next.Add(1)) - 1 {
				e := s.small[i]
				f(e, plan.Off[e], plan.Off[e+1], own)
			}
		}()
	}
	wg.Wait()
}

// moeGather copies into xs [hi−lo, C] the tokens of rows lo … hi−1.
func moeGather[T Float](p MoEExperts, plan *MoEPlan, x, xs []T, lo, hi int) {
	C, K := p.C, p.K
	parallelFor(hi-lo, C, func(a, b int) {
		for r := a; r < b; r++ {
			t := plan.Order[lo+r] / K
			copy(xs[r*C:(r+1)*C], x[t*C:(t+1)*C])
		}
	})
}

// moeHidden computes into f act(h1) ⊙ h3 for m rows of one expert, with
// act(h1) also in af when af is not nil (then f may not be af), and σ(h1)
// in sv for SiLU, on the path (vec) that all routed rows at once would
// take. GELU's tanh is not kept: its backward recomputes it from h1 bit
// for bit.
func moeHidden[T Float](p MoEExperts, vec bool, h1, h3, sv, af, f []T) {
	act := f
	if af != nil {
		act = af
	}
	if p.GELU {
		geluFwd(h1, act, nil, vec)
	} else {
		siluFwd(h1, act, sv, vec)
	}
	mulInto(act, h3, f)
}

// MoEExpertsFwd computes y [N, C] = Σ_j gates[t, j]·FFN_{idx[t, j]}(x[t])
// for x [N, C], idx and gates [N, K] and w1, w3, w2 [E, H, C]. It keeps
// in s (and plan) what MoEExpertsBwd needs, and uses tmp as scratch; a nil
// s keeps nothing (a forward without backward).
func MoEExpertsFwd[T Float](p MoEExperts, x []T, idx []int, gates, w1, w3, w2, y []T, plan *MoEPlan, s, tmp *Side) error {
	if err := plan.build(idx, p.E); err != nil {
		return err
	}
	C, H, K := p.C, p.H, p.K
	nk := p.N * K
	ys := SideBuf[T](tmp, moeYs, nk*C)
	var h1, h3 []T
	if s != nil {
		h1, h3 = SideBuf[T](s, moeH1, nk*H), SideBuf[T](s, moeH3, nk*H)
	}
	moeEach(p, plan, tmp, func(e, lo, hi int, bf moeBufs[T]) {
		m := hi - lo
		xs := bf.xs[:m*C]
		moeGather(p, plan, x, xs, lo, hi)
		e1, e3 := bf.a[:m*H], bf.da[:m*H]
		if s != nil {
			e1, e3 = h1[lo*H:hi*H], h3[lo*H:hi*H]
		}
		gemmSplit(false, true, m, H, C, xs, C, w1[e*H*C:], C, 0, e1, H)
		gemmSplit(false, true, m, H, C, xs, C, w3[e*H*C:], C, 0, e3, H)
		var sv []T
		if !p.GELU {
			sv = bf.xs[:m*H] // the tokens are dead
		}
		f := bf.f[:m*H]
		moeHidden(p, bf.vec, e1, e3, sv, nil, f)
		gemmSplit(false, false, m, C, H, f, H, w2[e*H*C:], C, 0, ys[lo*C:hi*C], C)
	})
	moeCombine(p, plan, gates, ys, y)
	return nil
}

// moeCombine writes y[t] = Σ_j gates[t, j]·ys[row of (t, j)], in the
// order of j; nil gates weigh every row 1.
func moeCombine[T Float](p MoEExperts, plan *MoEPlan, gates, ys, y []T) {
	C, K := p.C, p.K
	parallelFor(p.N, K*C, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			out := y[t*C : (t+1)*C]
			for j := 0; j < K; j++ {
				r := plan.Row[t*K+j]
				row := ys[r*C : (r+1)*C]
				row = row[:len(out)]
				if gates == nil {
					if j == 0 {
						copy(out, row)
						continue
					}
					for c, v := range row {
						out[c] += v
					}
					continue
				}
				g := gates[t*K+j]
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
}

// MoEExpertsBwd computes the gradients of MoEExpertsFwd's inputs from
// gy [N, C]: dx [N, C], dgates [N, K], dw1, dw3, dw2 [E, H, C] (each nil
// when not needed), from x, the weights and the state the forward left in
// s and plan; tmp holds scratch (at most MoEExpertsScratch elements). The
// values the forward did not keep are recomputed as it computed them.
func MoEExpertsBwd[T Float](p MoEExperts, x, gates, w1, w3, w2, gy, dx, dgates, dw1, dw3, dw2 []T, plan *MoEPlan, s, tmp *Side) {
	C, H, K := p.C, p.H, p.K
	nk := p.N * K
	if dgates == nil && dw1 == nil && dw3 == nil && dw2 == nil && dx == nil {
		return
	}
	h1, h3 := SideBuf[T](s, moeH1, nk*H), SideBuf[T](s, moeH3, nk*H)
	ys := SideBuf[T](tmp, moeYs, nk*C)
	moeEach(p, plan, tmp, func(e, lo, hi int, bf moeBufs[T]) {
		m := hi - lo
		e1, e3 := h1[lo*H:hi*H], h3[lo*H:hi*H]
		var sv []T
		if !p.GELU {
			sv = bf.xs[:m*H]
		}
		f, a, da := bf.f[:m*H], bf.a[:m*H], bf.da[:m*H]
		moeHidden(p, bf.vec, e1, e3, sv, f, a)
		dys := ys[lo*C : hi*C]
		if dgates != nil {
			// the forward's ys, overwritten row by row below
			gemmSplit(false, false, m, C, H, a, H, w2[e*H*C:], C, 0, dys, C)
		}
		// dgates[t, j] = dy[t]·ys[row]; then dys[row] = gate·dy[t]
		parallelFor(m, 2*C, func(r0, r1 int) {
			for r := r0; r < r1; r++ {
				sl := plan.Order[lo+r]
				t := sl / K
				g := gy[t*C : (t+1)*C]
				d := dys[r*C : (r+1)*C]
				d = d[:len(g)]
				if dgates != nil {
					dgates[sl] = dot(g, d)
				}
				for c, v := range g {
					d[c] = gates[sl] * v
				}
			}
		})
		if dw1 == nil && dw3 == nil && dw2 == nil && dx == nil {
			return
		}
		gemmSplit(false, true, m, H, C, dys, C, w2[e*H*C:], C, 0, da, H)
		if dw2 != nil {
			gemmSplit(true, false, H, C, m, a, H, dys, C, 0, dw2[e*H*C:(e+1)*H*C], C)
		}
		dh1, dh3 := f, a
		mulInto(da, f, dh3) // a is dead after dw2, f after this
		mulInto(da, e3, da) // dF
		if p.GELU {
			geluBwd(e1, nil, da, dh1, bf.vec)
		} else {
			siluBwd(e1, sv, da, dh1, bf.vec)
		}
		xs := bf.xs[:m*C] // σ(H1) is dead
		moeGather(p, plan, x, xs, lo, hi)
		if dw1 != nil {
			gemmSplit(true, false, H, C, m, dh1, H, xs, C, 0, dw1[e*H*C:(e+1)*H*C], C)
		}
		if dw3 != nil {
			gemmSplit(true, false, H, C, m, dh3, H, xs, C, 0, dw3[e*H*C:(e+1)*H*C], C)
		}
		if dx != nil { // gate·dy is dead: the rows' dx
			gemmSplit(false, false, m, C, H, dh1, H, w1[e*H*C:], C, 0, dys, C)
			gemmSplit(false, false, m, C, H, dh3, H, w3[e*H*C:], C, 1, dys, C)
		}
	})
	moeClearUnused(p, plan, dw1, dw3, dw2)
	if dx == nil {
		return
	}
	moeCombine(p, plan, nil, ys, dx)
}

// moeClearUnused zeroes the weight gradients of the experts that received
// no token.
func moeClearUnused[T Float](p MoEExperts, plan *MoEPlan, dws ...[]T) {
	n := p.H * p.C
	for e := 0; e < p.E; e++ {
		if plan.Off[e+1] > plan.Off[e] {
			continue
		}
		for _, dw := range dws {
			if dw != nil {
				clear(dw[e*n : (e+1)*n])
			}
		}
	}
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
