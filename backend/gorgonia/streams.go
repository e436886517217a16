package gorgonia

import (
	G "gorgonia.org/gorgonia"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
	"github.com/mhcc/mhcc/ir"
)

// Memory and gradient plumbing of the hyper-connection stream tensors.
//
// A stream tensor X_l [B, T, n, C] is the largest activation of an mHC
// model, and at -O2 the fused ops of sublayer l+1 are its only readers:
// hc.coeffs (argument 0), hc.read and hc.write (argument 1). Two things
// follow, both planned here from the IR before any node is built.
//
// Gradient accumulation. Left to G.Grad, each reader's backward writes its
// own dX and two stock Adds sum them: three gradient buffers of X's size
// per sublayer plus the Adds' results, and two extra passes over them.
// Instead the readers' backward kernels share one buffer: hc.write's
// backward writes its part, hc.read's adds its part, and the last one to
// run (hc.coeffs, or hc.read when the coefficients are static) adds its
// part and returns the buffer as X's only gradient node (the other two
// declare no gradient for X, so G.Grad builds no Adds). The order is fixed
// by the data: the coefficients feed hc.read and hc.write, and hc.read
// feeds hc.write through the sublayer, so hc.write's backward runs first
// and hc.coeffs's last; the plan checks exactly that. dX_l is read only by
// the backward of the hc.write that produced X_l, which writes dX_{l−1}
// before anything else reuses dX_l's buffer, so the stream tensors of one
// chain X_0 → X_1 → … alternate between two gradient buffers.
//
// Recomputation (Module.RecomputeSegment = S > 0, `recompute=true`). The
// chain's X_l with S ∤ l (l ≥ 1, X_l read only by fused ops) are not kept:
// the forward writes X_l into slot (l mod S) − 1 of S−1 buffers shared by
// the whole chain (all of X_l's readers run before X_{l+S} is written
// there), and a backward kernel that needs such an X_l first makes sure the
// buffers hold X_l's segment, recomputing it from the stored X_{S⌊l/S⌋} with
// the hc.write forward kernel over the coefficients and sublayer outputs
// that the forward recorded (they stay in their ops' buffers for the whole
// step). The recomputed values are bit-identical to the forward's (same
// kernel, same inputs, same chunking).

// bufRef names one buffer: slot of a side.
type bufRef struct {
	s    *kernels.Side
	slot int
}

// refBuf returns the buffer of r with n elements.
func refBuf[T float](r *bufRef, n int) []T { return kernels.SideBuf[T](r.s, r.slot, n) }

// hcRole is what the plan says about one hc.coeffs, hc.read or hc.write.
type hcRole struct {
	// xGrad, when set, is the buffer that accumulates the gradient of the
	// op's stream input X (see above).
	xGrad *bufRef
	// final: this op's backward runs last among X's readers; it adds its
	// part into xGrad and returns the buffer as X's gradient node. When
	// false (and xGrad is set) the op declares no gradient for X: hc.write
	// writes its part into xGrad, hc.read adds it.
	final bool
	// parts, when set (with xGrad, for an X read by all three ops), is
	// shared by the three: hc.write's and hc.read's backward compute no
	// part of dX but leave their inputs here, and hc.coeffs's computes
	// all of dX in one pass over X (kernels.HCCoeffsBwdX).
	parts *xParts
	// in, when set, is the recomputed stream tensor that is the op's X: its
	// backward reads it from there (its forward reads the Gorgonia input).
	in *member
	// out (hc.write only), when set, is the recomputed stream tensor this
	// op produces: its forward writes into the shared buffers and records
	// its inputs for the recomputation.
	out *member
}

// xParts is what hc.write's and hc.read's backward leave, in one backward
// pass, to hc.coeffs's for one stream tensor X (hcRole.parts): R = hRes and
// G = the gradient of hc.write's output, H = hPre and GU = the gradient of
// hc.read's output ([]float32 or []float64). They are inputs of those
// backward ops, so they hold these values until the next step.
type xParts struct{ R, G, H, GU any }

// kernelParts returns p as the kernel's HCXParts of element type T.
func kernelParts[T float](p *xParts) *kernels.HCXParts[T] {
	R, _ := p.R.([]T)
	G, _ := p.G.([]T)
	H, _ := p.H.([]T)
	GU, _ := p.GU.([]T)
	return &kernels.HCXParts[T]{R: R, G: G, H: H, GU: GU}
}

// chain is one sequence X_0 → X_1 → … of planned stream tensors.
type chain struct {
	grads kernels.Side // slots 0 and 1: the alternating gradient buffers
	store kernels.Side // slots 0 … S−2: the recomputed stream tensors
	// owner is the segment whose tensors the store holds, valid how many
	// of them, in order from the first.
	owner *segment
	valid int
}

// segment is the recomputed tensors X_{kS+1} … X_{kS+r} after the stored
// X_{kS} of a chain.
type segment struct {
	ch      *chain
	members []*member
	ckpt    any // the stored X_{kS} ([]float32 or []float64), recorded by the forward
}

// member is one recomputed stream tensor: slot i of its chain's store.
type member struct {
	seg  *segment
	i    int
	n, c int
	// R, p, y: the inputs of the hc.write that produces it, recorded by
	// the forward ([]float32 or []float64).
	R, p, y any
}

// record notes, in the forward pass of the hc.write producing m (whose
// output buffer is slot m.i of the store), its inputs and what the store
// now holds.
func (m *member) record(R, X, p, y any) {
	m.R, m.p, m.y = R, p, y
	ch := m.seg.ch
	switch {
	case m.i == 0:
		m.seg.ckpt = X
		ch.owner, ch.valid = m.seg, 1
	case ch.owner == m.seg && ch.valid == m.i:
		ch.valid = m.i + 1
	default:
		ch.owner, ch.valid = nil, 0
	}
}

// inputOf returns the recomputed stream tensor that r's op reads (nil:
// none, or no role).
func (r *hcRole) inputOf() *member {
	if r == nil {
		return nil
	}
	return r.in
}

// streamX returns the values of a backward kernel's stream input x: x
// itself, or the recomputed m when x is not kept.
func streamX[T float](m *member, x []T) []T {
	if m == nil {
		return x
	}
	return recomputed[T](m)
}

// recomputed returns the values of m for a backward kernel, recomputing
// m's segment into the store unless it holds them already.
func recomputed[T float](m *member) []T {
	s, ch := m.seg, m.seg.ch
	if ch.owner != s || ch.valid < len(s.members) {
		x, _ := s.ckpt.([]T)
		for _, o := range s.members {
			out := kernels.SideBuf[T](&ch.store, o.i, len(x))
			R, _ := o.R.([]T)
			p, _ := o.p.([]T)
			y, _ := o.y.([]T)
			kernels.HCWriteFwd(R, x, p, y, out, o.n, o.c)
			x = out
		}
		ch.owner, ch.valid = s, len(s.members)
	}
	return kernels.SideBuf[T](&ch.store, m.i, len(m.seg.ckpt.([]T)))
}

// streamPlan maps the fused hc ops of a module to their roles.
type streamPlan struct {
	roles map[*ir.Value]*hcRole
	// chains, accumulated and members count what was planned (for tests
	// and reports: StreamStats).
	chains, accumulated, members int
}

// role returns v's role (nil: the default path).
func (p *streamPlan) role(v *ir.Value) *hcRole {
	if p == nil {
		return nil
	}
	return p.roles[v]
}

// planStreams plans the stream tensors of m's live values (for a graph
// with gradients).
func planStreams(m *ir.Module, live map[*ir.Value]bool) *streamPlan {
	p := &streamPlan{roles: map[*ir.Value]*hcRole{}}
	role := func(v *ir.Value) *hcRole {
		r := p.roles[v]
		if r == nil {
			r = &hcRole{}
			p.roles[v] = r
		}
		return r
	}
	// The chains and readers come from the one stream-chain analysis,
	// which the compiler's recompute warning uses too.
	st := ir.AnalyzeStreams(m, live)
	p.chains = st.Chains
	chains := make([]*chain, st.Chains)
	for i := range chains {
		chains[i] = &chain{}
	}
	S := m.RecomputeSegment
	segs := map[*chain]map[int]*segment{}
	for _, t := range st.Tensors {
		ch, pos := chains[t.Chain], t.Pos
		coeffs, read, write, norms := t.Coeffs, t.Read, t.Write, t.Norms
		// Gradient accumulation: hc.write's backward first, hc.coeffs's
		// (or hc.read's) last; not with other readers, whose gradients
		// G.Grad sums as usual.
		if len(norms) == 0 && (read != nil || coeffs != nil) && (coeffs == nil || read == nil || t.CoeffsBeforeRead) {
			p.accumulated++
			g := &bufRef{&ch.grads, pos % 2}
			role(write).xGrad = g
			if read != nil {
				r := role(read)
				r.xGrad, r.final = g, coeffs == nil
			}
			if coeffs != nil {
				r := role(coeffs)
				r.xGrad, r.final = g, true
			}
			if coeffs != nil && read != nil {
				// hc.coeffs's backward runs after both others: it
				// computes all of dX
				xp := &xParts{}
				role(write).parts, role(read).parts, role(coeffs).parts = xp, xp, xp
			}
		}
		if S > 0 && pos > 0 && pos%S != 0 {
			k := pos / S
			if segs[ch] == nil {
				segs[ch] = map[int]*segment{}
			}
			seg := segs[ch][k]
			if seg == nil {
				seg = &segment{ch: ch}
				segs[ch][k] = seg
			}
			mem := &member{seg: seg, i: len(seg.members)} // n, c: set by hcWrite
			if mem.i != pos-k*S-1 {
				continue // not contiguous: cannot happen along a chain
			}
			seg.members = append(seg.members, mem)
			p.members++
			role(t.X).out = mem
			for _, r := range append([]*ir.Value{coeffs, read, write}, norms...) {
				if r != nil {
					role(r).in = mem
				}
			}
		}
	}
	return p
}

// laterReads returns, for the buffer plan (pool.go), the nodes whose memory
// a backward kernel reads after the ops that take them as inputs have run:
// the inputs hc.write's and hc.read's backward leave in an xParts (R, G, h,
// gu) are read by hc.coeffs's backward, which runs after both; each maps to
// the position of that read. sorted is the run order, pos its inverse.
func laterReads(g *G.ExprGraph, sorted []*G.Node, pos map[*G.Node]int) map[*G.Node]int {
	reader := map[*xParts]int{} // the position of hc.coeffs's backward
	left := map[*xParts][]*G.Node{}
	for _, n := range sorted {
		o, ok := n.Op().(*op)
		if !ok {
			continue
		}
		switch k := o.k.(type) {
		case hcCoeffsGradK:
			if k.role != nil && k.role.parts != nil {
				reader[k.role.parts] = pos[n]
			}
		case hcWriteGradK: // children R, X, hPost, y, gradient: R and G
			if k.role != nil && k.role.parts != nil {
				c := children(g, n)
				left[k.role.parts] = append(left[k.role.parts], c[0], c[4])
			}
		case hcReadGradK: // children h, X, gradient: H and GU
			if k.role != nil && k.role.parts != nil {
				c := children(g, n)
				left[k.role.parts] = append(left[k.role.parts], c[0], c[2])
			}
		}
	}
	later := map[*G.Node]int{}
	for p, ns := range left {
		at, ok := reader[p]
		if !ok {
			continue
		}
		for _, n := range ns {
			later[n] = max(later[n], at)
		}
	}
	return later
}
