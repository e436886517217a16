package kernels

import (
	"runtime"
	"slices"

	"github.com/mhcc/mhcc/internal/par"
)

// The routed experts' kernels as they were before the forward kept only
// x·W1ᵀ and x·W3ᵀ: every hidden layer of every routed row kept, the
// backward's intermediates in buffers of their own. They are the reference
// the kernels in moe.go must match bit for bit (TestMoEExpertsMatchKeepAll).

// oldEach is how the old kernels spread the experts over the CPUs: f(e,
// lo, hi) for every expert e with rows lo … hi−1, the experts with most
// rows first; perRow is the work per row, to keep small calls on one
// goroutine.
func oldEach(p *MoEPlan, perRow int, f func(e, lo, hi int)) {
	var experts []int
	for e := 0; e+1 < len(p.Off); e++ {
		if p.Off[e+1] > p.Off[e] {
			experts = append(experts, e)
		}
	}
	slices.SortStableFunc(experts, func(a, b int) int { return (p.Off[b+1] - p.Off[b]) - (p.Off[a+1] - p.Off[a]) })
	w := min(runtime.GOMAXPROCS(0), len(experts))
	if w <= 1 || len(p.Order)*perRow < 1<<16 {
		for _, e := range experts {
			f(e, p.Off[e], p.Off[e+1])
		}
		return
	}
	par.Tasks(w, len(experts), func(i int) {
		e := experts[i]
		f(e, p.Off[e], p.Off[e+1])
	})
}

// The side slots of the old forward: what it kept for the backward.
const (
	oldXs = iota // [NK, C] the tokens, gathered by row
	oldH1        // [NK, H] x·W1ᵀ
	oldH3        // [NK, H] x·W3ᵀ
	oldS         // [NK, H] σ(H1) (SiLU) or the tanh of GELU
	oldF         // [NK, H] act(H1)
	oldYs        // [NK, C] each row's expert output before its gate
	oldA         // [NK, H] act(H1) ⊙ H3 (forward scratch)
)

// The scratch slots of the backward.
const (
	oldDYs = iota // [NK, C] gate · dy, by row
	oldBA         // [NK, H] act(H1) ⊙ H3, recomputed
	oldDA         // [NK, H]
	oldDH1        // [NK, H]
	oldDH3        // [NK, H]
	oldDF         // [NK, H]
	oldDXs        // [NK, C]
)

// moeOldFwd computes y [N, C] = Σ_j gates[t, j]·FFN_{idx[t, j]}(x[t])
// for x [N, C], idx and gates [N, K] and w1, w3, w2 [E, H, C], keeping in
// s (and plan) what moeOldBwd needs.
func moeOldFwd[T Float](p MoEExperts, x []T, idx []int, gates, w1, w3, w2, y []T, plan *MoEPlan, s *Side) error {
	if err := plan.build(idx, p.E); err != nil {
		return err
	}
	C, H, K := p.C, p.H, p.K
	nk := p.N * K
	xs := SideBuf[T](s, oldXs, nk*C)
	h1, h3 := SideBuf[T](s, oldH1, nk*H), SideBuf[T](s, oldH3, nk*H)
	sv, f := SideBuf[T](s, oldS, nk*H), SideBuf[T](s, oldF, nk*H)
	ys, a := SideBuf[T](s, oldYs, nk*C), SideBuf[T](s, oldA, nk*H)
	parallelFor(nk, C, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			t := plan.Order[r] / K
			copy(xs[r*C:(r+1)*C], x[t*C:(t+1)*C])
		}
	})
	oldEach(plan, 4*H*C, func(e, lo, hi int) {
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
	oldEach(plan, 2*H*C, func(e, lo, hi int) {
		gemm(false, false, hi-lo, C, H, a[lo*H:], H, w2[e*H*C:], C, 0, ys[lo*C:], C)
	})
	moeCombine(p, plan, gates, ys, y)
	return nil
}

// moeOldBwd computes the gradients of moeOldFwd's inputs from
// gy [N, C]: dx [N, C], dgates [N, K], dw1, dw3, dw2 [E, H, C] (each nil
// when not needed), from the state the forward left in s and plan; tmp
// holds scratch.
func moeOldBwd[T Float](p MoEExperts, gates, w1, w3, w2, gy, dx, dgates, dw1, dw3, dw2 []T, plan *MoEPlan, s, tmp *Side) {
	C, H, K := p.C, p.H, p.K
	nk := p.N * K
	xs := SideBuf[T](s, oldXs, nk*C)
	h1, h3 := SideBuf[T](s, oldH1, nk*H), SideBuf[T](s, oldH3, nk*H)
	sv, f, ys := SideBuf[T](s, oldS, nk*H), SideBuf[T](s, oldF, nk*H), SideBuf[T](s, oldYs, nk*C)
	dys := SideBuf[T](tmp, oldDYs, nk*C)
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
	a := SideBuf[T](tmp, oldBA, nk*H)
	da := SideBuf[T](tmp, oldDA, nk*H)
	mulInto(f, h3, a)
	oldEach(plan, 4*H*C, func(e, lo, hi int) {
		m := hi - lo
		gemm(false, true, m, H, C, dys[lo*C:], C, w2[e*H*C:], C, 0, da[lo*H:], H)
		if dw2 != nil {
			gemm(true, false, H, C, m, a[lo*H:], H, dys[lo*C:], C, 0, dw2[e*H*C:], C)
		}
	})
	dh1, dh3, df := SideBuf[T](tmp, oldDH1, nk*H), SideBuf[T](tmp, oldDH3, nk*H), SideBuf[T](tmp, oldDF, nk*H)
	mulInto(da, f, dh3)
	mulInto(da, h3, df)
	if p.GELU {
		GELUBwd(h1, sv, df, dh1)
	} else {
		SiLUBwd(h1, sv, df, dh1)
	}
	var dxs []T
	if dx != nil {
		dxs = SideBuf[T](tmp, oldDXs, nk*C)
	}
	oldEach(plan, 6*H*C, func(e, lo, hi int) {
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
	moeClearUnused(p, plan, dw1, dw3, dw2)
	if dx == nil {
		return
	}
	moeCombine(p, plan, nil, dxs, dx)
}
