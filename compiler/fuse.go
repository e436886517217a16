package compiler

import (
	"math"

	"github.com/mhcc/mhcc/ir"
)

// The -O2 fusion passes. Each one is a named rewrite rule that recognises
// exactly the primitive pattern the lowering emits (lower.go, hyper.go),
// checks that every intermediate of the pattern has no use outside it, and
// replaces the pattern by one fused op (defined in ir/ops.go) plus, where
// the pattern had several results, slices of the fused result. The fused
// value keeps the source position of the value it replaces and records in
// its attribute members (int) how many computing values of the primitive
// form it replaced (constants, params and inputs are leaves and are not
// counted). Values made dead by a rewrite (a constant only the pattern
// used) are removed by the pass itself.

// fusion runs a matcher over every value and applies the matches.
type fusion struct {
	m   *ir.Module
	u   *useInfo
	e   *edit
	idx map[*ir.Value]int // position in m.Values (unchanged until finish)
}

func newFusion(m *ir.Module) *fusion {
	idx := make(map[*ir.Value]int, len(m.Values))
	for i, v := range m.Values {
		idx[v] = i
	}
	return &fusion{m: m, u: uses(m), e: newEdit(), idx: idx}
}

// only reports whether every value in vs is used exactly once (inside the
// pattern) and none is claimed by an earlier match of this pass.
func (f *fusion) only(vs ...*ir.Value) bool {
	for _, v := range vs {
		if v == nil || !f.u.once(v) || f.e.claimed(v) {
			return false
		}
	}
	return true
}

// replace records a match: members are deleted, each old→new pair in outs
// is redirected, and the new values are placed after the last member.
func (f *fusion) replace(members []*ir.Value, outs map[*ir.Value]*ir.Value, news ...*ir.Value) {
	anchor := members[0]
	for _, v := range members {
		if f.idx[v] > f.idx[anchor] {
			anchor = v
		}
		f.e.drop[v] = true
	}
	for o, n := range outs {
		f.e.repl[o] = n
	}
	f.e.insert[anchor] = append(f.e.insert[anchor], news...)
}

func (f *fusion) finish() {
	f.e.apply(f.m)
	removeDead(f.m)
}

func members(n int) ir.Attr { return ir.Attr{Key: "members", Val: n} }

// fuseRMSNorm: mul(div(x, sqrt(add(mean(square(x), last), eps))), g) → rmsnorm(x, g).
func fuseRMSNorm(m *ir.Module) (bool, Counts) {
	f := newFusion(m)
	n := 0
	for _, v := range m.Values {
		if v.Op != ir.OpMul || f.e.claimed(v) {
			continue
		}
		for _, ord := range [][2]int{{0, 1}, {1, 0}} {
			d, g := v.Args[ord[0]], v.Args[ord[1]]
			if !is(d, ir.OpDiv) || !is(d.Args[1], ir.OpSqrt) {
				continue
			}
			x, r := d.Args[0], d.Args[1]
			ad := r.Args[0]
			if !is(ad, ir.OpAdd) {
				continue
			}
			mn, c := ad.Args[0], ad.Args[1]
			if !is(mn, ir.OpMean) {
				mn, c = c, mn
			}
			eps, ok := constValue(c)
			if !ok || !is(mn, ir.OpMean) || !is(mn.Args[0], ir.OpSquare) || mn.Args[0].Args[0] != x ||
				!axesAre(mn, x.Type.Shape.Rank()-1) {
				continue
			}
			sq := mn.Args[0]
			if !f.only(sq, mn, ad, r, d) {
				continue
			}
			nv := newValue(ir.OpRMSNorm, ir.Attrs{{Key: "eps", Val: eps}, members(6)}, v.Type, v.Pos, x, g)
			if nv == nil {
				continue
			}
			f.replace([]*ir.Value{sq, mn, ad, r, d, v}, map[*ir.Value]*ir.Value{v: nv}, nv)
			n++
			break
		}
	}
	f.finish()
	var c Counts
	c.Add("fused", n)
	return n > 0, c
}

// fuseSinkhorn: exp(L − max(L, last two axes)) followed by t rounds of
// M ← M / sum(M, rows); M ← M / sum(M, columns) → sinkhorn(L) iters=t.
func fuseSinkhorn(m *ir.Module) (bool, Counts) {
	f := newFusion(m)
	n, total := 0, 0
	for _, ex := range m.Values {
		if ex.Op != ir.OpExp || !is(ex.Args[0], ir.OpSub) || f.e.claimed(ex) {
			continue
		}
		sb := ex.Args[0]
		L, mx := sb.Args[0], sb.Args[1]
		r := L.Type.Shape.Rank()
		if !is(mx, ir.OpMax) || mx.Args[0] != L || r < 2 || !axesAre(mx, r-2, r-1) || !f.only(mx, sb) {
			continue
		}
		mems := []*ir.Value{mx, sb, ex}
		M, iters := ex, 0
		for {
			// One round: columns (sum over axis r−2), then rows (axis r−1).
			d1, s1 := f.normStep(M, r-2)
			if d1 == nil {
				break
			}
			d2, s2 := f.normStep(d1, r-1)
			if d2 == nil {
				break
			}
			mems = append(mems, s1, d1, s2, d2)
			M = d2
			iters++
		}
		if iters == 0 {
			continue
		}
		nv := newValue(ir.OpSinkhorn, ir.Attrs{{Key: "iters", Val: iters}, members(len(mems))}, M.Type, M.Pos, L)
		if nv == nil {
			continue
		}
		f.replace(mems, map[*ir.Value]*ir.Value{M: nv}, nv)
		n++
		total += iters
	}
	f.finish()
	var c Counts
	c.Add("fused", n)
	c.Add("iterations", total)
	return n > 0, c
}

// normStep matches s = sum(M, axis), d = div(M, s) where M's only uses are
// s and d, and s's only use is d. It returns d and s, or nil.
func (f *fusion) normStep(M *ir.Value, axis int) (d, s *ir.Value) {
	if f.u.count[M] != 2 || len(f.u.users[M]) != 2 || f.e.claimed(M) {
		return nil, nil
	}
	us := f.u.users[M]
	for _, ord := range [][2]int{{0, 1}, {1, 0}} {
		s, d = us[ord[0]], us[ord[1]]
		if is(s, ir.OpSum) && axesAre(s, axis) && is(d, ir.OpDiv) && d.Args[0] == M && d.Args[1] == s &&
			f.u.user(s) == d && !f.e.claimed(s) {
			return d, s
		}
	}
	return nil, nil
}

// fuseHCCoeffs: the mHC coefficient projection of mhcSublayer (mhc.md §3
// steps 1–4, without Sinkhorn) → one hc.coeffs and three slices of it.
//
//	r = sqrt(mean(square(xf), last) + eps);  m = matmul(xf, phi) / r
//	pre  = sigmoid(slice(m, 0, n)·slice(alpha, 0, 1) + slice(bias, 0, n))
//	post = sigmoid(slice(m, n, 2n)·slice(alpha, 1, 2) + slice(bias, n, 2n))·2
//	res  = slice(m, 2n, w)·slice(alpha, 2, 3) + slice(bias, 2n, w)
func fuseHCCoeffs(m *ir.Module) (bool, Counts) {
	f := newFusion(m)
	n := 0
	for _, dv := range m.Values {
		if dv.Op != ir.OpDiv || f.e.claimed(dv) {
			continue
		}
		if ok := f.matchHCCoeffs(dv); ok {
			n++
		}
	}
	f.finish()
	var c Counts
	c.Add("fused", n)
	return n > 0, c
}

func (f *fusion) matchHCCoeffs(dv *ir.Value) bool {
	mm, r := dv.Args[0], dv.Args[1]
	if !is(mm, ir.OpMatmul) || mm.Attrs.Bool("trans_b") || !is(r, ir.OpSqrt) || !is(r.Args[0], ir.OpAdd) {
		return false
	}
	xf, phi := mm.Args[0], mm.Args[1]
	ad := r.Args[0]
	mn, c := ad.Args[0], ad.Args[1]
	if !is(mn, ir.OpMean) {
		mn, c = c, mn
	}
	eps, ok := constValue(c)
	if !ok || !is(mn, ir.OpMean) || !axesAre(mn, xf.Type.Shape.Rank()-1) || !is(mn.Args[0], ir.OpSquare) ||
		mn.Args[0].Args[0] != xf || phi.Type.Shape.Rank() != 2 {
		return false
	}
	sq := mn.Args[0]
	w := lastDim(phi)
	if w.IsSym() || !f.only(sq, mn, ad, r, mm) || f.e.claimed(dv) {
		return false
	}
	if f.u.count[dv] != 3 || len(f.u.users[dv]) != 3 {
		return false
	}
	// n is the width of the pre group, the slice that starts at 0; the
	// res group takes the remaining R = w − 2n columns (n², or n! for
	// constraint=permutations).
	nS := 0
	for _, sm := range f.u.users[dv] {
		if is(sm, ir.OpSlice) && sm.Attrs.Int("start") == 0 {
			nS = sm.Attrs.Int("end")
		}
	}
	if nS < 1 || 2*nS >= w.N {
		return false
	}
	// The three groups, each slice(m)·slice(alpha) + slice(bias).
	bounds := [3][2]int{{0, nS}, {nS, 2 * nS}, {2 * nS, w.N}}
	var groups [3]*ir.Value // the add of each group
	var alpha, bias *ir.Value
	mems := []*ir.Value{sq, mn, ad, r, mm, dv}
	for _, sm := range f.u.users[dv] {
		if !is(sm, ir.OpSlice) || sm.Attrs.Int("axis") != dv.Type.Shape.Rank()-1 {
			return false
		}
		gi := -1
		for i, b := range bounds {
			if sm.Attrs.Int("start") == b[0] && sm.Attrs.Int("end") == b[1] {
				gi = i
			}
		}
		if gi < 0 || groups[gi] != nil {
			return false
		}
		ml := f.u.user(sm)
		if !is(ml, ir.OpMul) {
			return false
		}
		sa := ml.Args[1]
		if ml.Args[1] == sm {
			sa = ml.Args[0]
		}
		add := f.u.user(ml)
		if !is(add, ir.OpAdd) || !is(sa, ir.OpSlice) {
			return false
		}
		sb := add.Args[1]
		if add.Args[1] == ml {
			sb = add.Args[0]
		}
		if !is(sb, ir.OpSlice) {
			return false
		}
		a, b := sa.Args[0], sb.Args[0]
		if alpha == nil {
			alpha, bias = a, b
		}
		if a != alpha || b != bias || !alpha.Type.Shape.Equal(ir.Dims(3)) || !bias.Type.Shape.Equal(ir.Dims(w.N)) ||
			sa.Attrs.Int("axis") != 0 || sa.Attrs.Int("start") != gi || sa.Attrs.Int("end") != gi+1 ||
			sb.Attrs.Int("axis") != 0 || sb.Attrs.Int("start") != bounds[gi][0] || sb.Attrs.Int("end") != bounds[gi][1] ||
			!f.only(sm, sa, ml, sb) {
			return false
		}
		groups[gi] = add
		mems = append(mems, sm, sa, ml, sb, add)
	}
	// pre = sigmoid(group 0), post = 2·sigmoid(group 1), res = group 2.
	pre := f.u.user(groups[0])
	sig1 := f.u.user(groups[1])
	if !is(pre, ir.OpSigmoid) || !is(sig1, ir.OpSigmoid) || !f.only(groups[0], groups[1], sig1) {
		return false
	}
	post := f.u.user(sig1)
	if !is(post, ir.OpMul) || !(isConst(post.Args[0], 2) && post.Args[1] == sig1 || isConst(post.Args[1], 2) && post.Args[0] == sig1) {
		return false
	}
	res := groups[2]
	if f.e.claimed(pre, post, res) {
		return false
	}
	mems = append(mems, pre, sig1, post)
	outT := dv.Type
	attrs := ir.Attrs{{Key: "n", Val: nS}, {Key: "eps", Val: eps}}
	if res := w.N - 2*nS; res != nS*nS {
		attrs = append(attrs, ir.Attr{Key: "res", Val: res})
	}
	cv := newValue(ir.OpHCCoeffs, append(attrs, members(len(mems))), outT, dv.Pos, xf, phi, alpha, bias)
	if cv == nil {
		return false
	}
	sPre := sliceLast(cv, 0, nS, pre.Pos)
	sPost := sliceLast(cv, nS, 2*nS, post.Pos)
	sRes := sliceLast(cv, 2*nS, w.N, res.Pos)
	f.replace(mems, map[*ir.Value]*ir.Value{pre: sPre, post: sPost, res: sRes}, cv, sPre, sPost, sRes)
	return true
}

// fuseHCRead: reshape(sum(mul(X, reshape(hPre, [..., n, 1])), axis n), [..., C])
// → hc.read(hPre, X).
func fuseHCRead(m *ir.Module) (bool, Counts) {
	f := newFusion(m)
	n := 0
	for _, u := range m.Values {
		if u.Op != ir.OpReshape || !is(u.Args[0], ir.OpSum) || f.e.claimed(u) {
			continue
		}
		s := u.Args[0]
		ml := s.Args[0]
		if !is(ml, ir.OpMul) {
			continue
		}
		for _, ord := range [][2]int{{0, 1}, {1, 0}} {
			X, hr := ml.Args[ord[0]], ml.Args[ord[1]]
			r := X.Type.Shape.Rank()
			if !is(hr, ir.OpReshape) || r < 2 || !axesAre(s, r-2) || !ml.Type.Shape.Equal(X.Type.Shape) {
				continue
			}
			hPre := hr.Args[0]
			wantHr := append(X.Type.Shape[:r-1].Clone(), ir.D(1))
			if !hr.Type.Shape.Equal(wantHr) || !hPre.Type.Shape.Equal(X.Type.Shape[:r-1]) || !f.only(hr, ml, s) {
				continue
			}
			nv := newValue(ir.OpHCRead, ir.Attrs{members(4)}, u.Type, u.Pos, hPre, X)
			if nv == nil {
				continue
			}
			f.replace([]*ir.Value{hr, ml, s, u}, map[*ir.Value]*ir.Value{u: nv}, nv)
			n++
			break
		}
	}
	f.finish()
	var c Counts
	c.Add("fused", n)
	return n > 0, c
}

// fuseHCWrite: add(matmul(hRes, X), mul(reshape(hPost, [..., n, 1]),
// reshape(y, [..., 1, C]))) → hc.write(hRes, X, hPost, y).
func fuseHCWrite(m *ir.Module) (bool, Counts) {
	f := newFusion(m)
	n := 0
	for _, o := range m.Values {
		if o.Op != ir.OpAdd || f.e.claimed(o) {
			continue
		}
		for _, ord := range [][2]int{{0, 1}, {1, 0}} {
			mix, wr := o.Args[ord[0]], o.Args[ord[1]]
			if !is(mix, ir.OpMatmul) || mix.Attrs.Bool("trans_b") || !is(wr, ir.OpMul) {
				continue
			}
			hRes, X := mix.Args[0], mix.Args[1]
			r := X.Type.Shape.Rank()
			if r < 3 || hRes.Type.Shape.Rank() != r {
				continue
			}
			for _, ord2 := range [][2]int{{0, 1}, {1, 0}} {
				hp, yr := wr.Args[ord2[0]], wr.Args[ord2[1]]
				if !is(hp, ir.OpReshape) || !is(yr, ir.OpReshape) {
					continue
				}
				hPost, y := hp.Args[0], yr.Args[0]
				xs := X.Type.Shape
				wantHp := append(xs[:r-1].Clone(), ir.D(1))
				wantYr := append(xs[:r-2].Clone(), ir.D(1), xs[r-1])
				if !hp.Type.Shape.Equal(wantHp) || !yr.Type.Shape.Equal(wantYr) || !f.only(mix, hp, yr, wr) {
					continue
				}
				nv := newValue(ir.OpHCWrite, ir.Attrs{members(5)}, o.Type, o.Pos, hRes, X, hPost, y)
				if nv == nil {
					continue
				}
				f.replace([]*ir.Value{mix, hp, yr, wr, o}, map[*ir.Value]*ir.Value{o: nv}, nv)
				n++
				break
			}
			if f.e.claimed(o) {
				break
			}
		}
	}
	f.finish()
	var c Counts
	c.Add("fused", n)
	return n > 0, c
}

// fuseQKV: two or more matmuls of the same x by 2-D weights (trans_b
// false) → one matmul.concat(x, w₁, w₂, ...) and one slice per matmul.
func fuseQKV(m *ir.Module) (bool, Counts) {
	f := newFusion(m)
	groups := map[*ir.Value][]*ir.Value{}
	var order []*ir.Value
	for _, v := range m.Values {
		if v.Op != ir.OpMatmul || v.Attrs.Bool("trans_b") || v.Args[1].Type.Shape.Rank() != 2 || lastDim(v.Args[1]).IsSym() {
			continue
		}
		x := v.Args[0]
		if groups[x] == nil {
			order = append(order, x)
		}
		groups[x] = append(groups[x], v)
	}
	n, mms := 0, 0
	for _, x := range order {
		g := groups[x]
		if len(g) < 2 {
			continue
		}
		args := []*ir.Value{x}
		for _, mm := range g {
			args = append(args, mm.Args[1])
		}
		out := x.Type.Shape.Clone()
		total := 0
		for _, mm := range g {
			total += lastDim(mm).N
		}
		out[len(out)-1] = ir.D(total)
		cv := newValue(ir.OpMatmulConcat, ir.Attrs{members(len(g))}, ir.Type{DType: ir.F32, Shape: out}, g[0].Pos, args...)
		if cv == nil {
			continue
		}
		outs := map[*ir.Value]*ir.Value{}
		news := []*ir.Value{cv}
		off := 0
		for _, mm := range g {
			w := lastDim(mm).N
			s := sliceLast(cv, off, off+w, mm.Pos)
			off += w
			outs[mm] = s
			news = append(news, s)
		}
		f.replace(g, outs, news...)
		n++
		mms += len(g)
	}
	f.finish()
	var c Counts
	c.Add("fused", n)
	c.Add("matmuls", mms)
	return n > 0, c
}

// fuseAttention: matmul(softmax(causal_mask(matmul(q, k, trans_b)·scale)), v)
// → attention(q, k, v) scale=… causal=…; the scale and the mask are
// optional in the pattern.
func fuseAttention(m *ir.Module) (bool, Counts) {
	f := newFusion(m)
	n := 0
	for _, o := range m.Values {
		if o.Op != ir.OpMatmul || o.Attrs.Bool("trans_b") || !is(o.Args[0], ir.OpSoftmax) || f.e.claimed(o) {
			continue
		}
		sm, v := o.Args[0], o.Args[1]
		mems := []*ir.Value{sm, o}
		x := sm.Args[0]
		causal := false
		if is(x, ir.OpCausalMask) {
			causal = true
			mems = append(mems, x)
			x = x.Args[0]
		}
		scale := 1.0
		if is(x, ir.OpMul) {
			s, c := x.Args[0], x.Args[1]
			if !is(s, ir.OpMatmul) {
				s, c = c, s
			}
			k, ok := constValue(c)
			if !ok {
				continue
			}
			scale = k
			mems = append(mems, x)
			x = s
		}
		if !is(x, ir.OpMatmul) || !x.Attrs.Bool("trans_b") {
			continue
		}
		mems = append(mems, x)
		// o itself may have any uses; every other member exactly one.
		if !f.only(mems[:1]...) || !f.only(mems[2:]...) {
			continue
		}
		q, k := x.Args[0], x.Args[1]
		nv := newValue(ir.OpAttention, ir.Attrs{{Key: "scale", Val: scale}, {Key: "causal", Val: causal}, members(len(mems))},
			o.Type, o.Pos, q, k, v)
		if nv == nil {
			continue
		}
		f.replace(mems, map[*ir.Value]*ir.Value{o: nv}, nv)
		n++
	}
	f.finish()
	var c Counts
	c.Add("fused", n)
	return n > 0, c
}

// fuseCrossEntropy: neg(reshape(mean(pick(log_softmax(logits), targets),
// all axes), [])) → cross_entropy(logits, targets).
func fuseCrossEntropy(m *ir.Module) (bool, Counts) {
	f := newFusion(m)
	n := 0
	for _, ng := range m.Values {
		if ng.Op != ir.OpNeg || ng.Type.Shape.Rank() != 0 || !is(ng.Args[0], ir.OpReshape) || f.e.claimed(ng) {
			continue
		}
		rs := ng.Args[0]
		mn := rs.Args[0]
		if !is(mn, ir.OpMean) || !is(mn.Args[0], ir.OpPick) || !is(mn.Args[0].Args[0], ir.OpLogSoftmax) {
			continue
		}
		pk := mn.Args[0]
		ls := pk.Args[0]
		all := make([]int, pk.Type.Shape.Rank())
		for i := range all {
			all[i] = i
		}
		if len(all) == 0 || !axesAre(mn, all...) || !f.only(rs, mn, pk, ls) {
			continue
		}
		nv := newValue(ir.OpCrossEntropy, ir.Attrs{members(5)}, ng.Type, ng.Pos, ls.Args[0], pk.Args[1])
		if nv == nil {
			continue
		}
		f.replace([]*ir.Value{ls, pk, mn, rs, ng}, map[*ir.Value]*ir.Value{ng: nv}, nv)
		n++
	}
	f.finish()
	var c Counts
	c.Add("fused", n)
	return n > 0, c
}

// geluC is √(2/π), the constant of the tanh approximation of GELU.
var geluC = math.Sqrt(2 / math.Pi)

// withConst reports whether v is op(a, c) or op(c, a) for the scalar
// constant c, and returns a.
func withConst(v *ir.Value, op string, c float64) (*ir.Value, bool) {
	if !is(v, op) {
		return nil, false
	}
	if isConst(v.Args[1], c) {
		return v.Args[0], true
	}
	if isConst(v.Args[0], c) {
		return v.Args[1], true
	}
	return nil, false
}

// fuseGELU: the tanh approximation as lower.go emits it,
//
//	mul(mul(x, 0.5), add(tanh(mul(add(x, mul(mul(square(x), x), 0.044715)), √(2/π))), 1))
//
// → gelu(x). Every product and sum may have its operands in either order.
func fuseGELU(m *ir.Module) (bool, Counts) {
	f := newFusion(m)
	n := 0
	for _, v := range m.Values {
		if v.Op != ir.OpMul || f.e.claimed(v) {
			continue
		}
		for _, ord := range [][2]int{{0, 1}, {1, 0}} {
			h, a2 := v.Args[ord[0]], v.Args[ord[1]]
			x, ok := withConst(h, ir.OpMul, 0.5)
			if !ok {
				continue
			}
			th, ok := withConst(a2, ir.OpAdd, 1)
			if !ok || !is(th, ir.OpTanh) {
				continue
			}
			s2 := th.Args[0]
			a1, ok := withConst(s2, ir.OpMul, geluC)
			if !ok || !is(a1, ir.OpAdd) {
				continue
			}
			s1 := a1.Args[1]
			if a1.Args[1] == x {
				s1 = a1.Args[0]
			} else if a1.Args[0] != x {
				continue
			}
			x3, ok := withConst(s1, ir.OpMul, 0.044715)
			if !ok || !is(x3, ir.OpMul) {
				continue
			}
			sq := x3.Args[0]
			if x3.Args[0] == x {
				sq = x3.Args[1]
			} else if x3.Args[1] != x {
				continue
			}
			if !is(sq, ir.OpSquare) || sq.Args[0] != x || !f.only(sq, x3, s1, a1, s2, th, a2, h) {
				continue
			}
			nv := newValue(ir.OpGELU, ir.Attrs{members(9)}, v.Type, v.Pos, x)
			if nv == nil {
				continue
			}
			f.replace([]*ir.Value{sq, x3, s1, a1, s2, th, a2, h, v}, map[*ir.Value]*ir.Value{v: nv}, nv)
			n++
			break
		}
	}
	f.finish()
	var c Counts
	c.Add("fused", n)
	return n > 0, c
}
