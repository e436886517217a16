package gorgonia

import (
	"fmt"
	"math"
	"sync"
)

// plan describes a strided walk over an index space shared by several
// operands (operand k's element at multi-index i is at Σ_d i_d·st[k][d]).
// Size-1 dimensions are dropped and adjacent dimensions that are contiguous
// for every operand are merged, so the innermost loop is as long as possible.
type plan struct {
	dims []int   // at least one dimension
	st   [][]int // st[k][d]

	// For small walks with short innermost runs (e.g. the [B,T,n,n]
	// Sinkhorn steps of hyper-connections), looping over rows of 4 costs
	// far more than the arithmetic; such plans precompute every operand's
	// offset per element instead (see gathered).
	once sync.Once
	idx  [][]int32
}

// noGather disables gathered walks (a test hook: both paths are checked).
var noGather bool

// gathered returns per-operand element offsets (in walk order) when the
// plan is small with a short innermost dimension, else nil.
func (p *plan) gathered() [][]int32 {
	n := p.size()
	if noGather || len(p.dims) < 2 || p.dims[len(p.dims)-1] >= 16 || n > 1<<17 {
		return nil
	}
	p.once.Do(func() {
		// Identical walks (Sinkhorn repeats the same few) share one table,
		// so it stays in cache.
		key := fmt.Sprint(p.dims, p.st)
		if v, ok := gatherTables.Load(key); ok {
			p.idx = v.([][]int32)
			return
		}
		idx := make([][]int32, len(p.st))
		for k := range idx {
			idx[k] = make([]int32, 0, n)
		}
		in := p.dims[len(p.dims)-1]
		p.rows(func(off []int) {
			for k := range idx {
				s := p.inner(k)
				for i := 0; i < in; i++ {
					idx[k] = append(idx[k], int32(off[k]+i*s))
				}
			}
		})
		v, _ := gatherTables.LoadOrStore(key, idx)
		p.idx = v.([][]int32)
	})
	return p.idx
}

// gatherTables caches gathered offset tables by walk (read-only once built).
var gatherTables sync.Map

func newPlan(dims []int, st [][]int) *plan {
	p := &plan{st: make([][]int, len(st))}
	for d := len(dims) - 1; d >= 0; d-- {
		if dims[d] == 1 {
			continue
		}
		if len(p.dims) > 0 { // try to merge into the current outermost kept dim
			last := len(p.dims) - 1
			ok := true
			for k := range st {
				if st[k][d] != p.st[k][last]*p.dims[last] {
					ok = false
					break
				}
			}
			if ok {
				p.dims[last] *= dims[d]
				continue
			}
		}
		p.dims = append(p.dims, dims[d])
		for k := range st {
			p.st[k] = append(p.st[k], st[k][d])
		}
	}
	if len(p.dims) == 0 {
		p.dims = []int{1}
		for k := range st {
			p.st[k] = []int{0}
		}
	}
	reverse(p.dims)
	for k := range p.st {
		reverse(p.st[k])
	}
	return p
}

func reverse(s []int) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

// contiguous returns row-major strides of shape.
func contiguous(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for d := len(shape) - 1; d >= 0; d-- {
		st[d] = s
		s *= shape[d]
	}
	return st
}

// padShape right-aligns shape to rank r with leading 1s.
func padShape(shape []int, r int) []int {
	out := make([]int, r)
	for i := range out {
		out[i] = 1
	}
	copy(out[r-len(shape):], shape)
	return out
}

// bcastPlan walks the full shape; every operand shape is right-aligned with
// it and has either the full size or 1 (stride 0) in each dimension.
func bcastPlan(full []int, shapes ...[]int) (*plan, error) {
	r := len(full)
	st := make([][]int, len(shapes))
	for k, s := range shapes {
		if len(s) > r {
			return nil, fmt.Errorf("shape %v has higher rank than %v", s, full)
		}
		ps := padShape(s, r)
		cs := contiguous(ps)
		for d := range ps {
			switch {
			case ps[d] == full[d]:
			case ps[d] == 1:
				cs[d] = 0
			default:
				return nil, fmt.Errorf("shape %v does not broadcast to %v", s, full)
			}
		}
		st[k] = cs
	}
	return newPlan(full, st), nil
}

// size returns the number of elements walked.
func (p *plan) size() int {
	n := 1
	for _, d := range p.dims {
		n *= d
	}
	return n
}

// inner returns the innermost length and operand k's innermost stride.
func (p *plan) inner(k int) int { return p.st[k][len(p.dims)-1] }

// rows calls fn with the start offsets of every innermost run (length
// p.dims[last], operand k advancing by p.inner(k)).
func (p *plan) rows(fn func(off []int)) {
	r := len(p.dims)
	off := make([]int, len(p.st))
	idx := make([]int, r)
	for {
		fn(off)
		d := r - 2
		for ; d >= 0; d-- {
			idx[d]++
			for k := range off {
				off[k] += p.st[k][d]
			}
			if idx[d] < p.dims[d] {
				break
			}
			for k := range off {
				off[k] -= p.st[k][d] * p.dims[d]
			}
			idx[d] = 0
		}
		if d < 0 {
			return
		}
	}
}

// Binary op kinds.
const (
	kAdd = iota
	kSub
	kMul
	kDiv
	kRSub // c − x (scalar ops only)
	kRDiv // c / x (scalar ops only)
)

var kindNames = []string{"add", "sub", "mul", "div", "rsub", "rdiv"}

// binFwd computes y = a ∘ b with broadcasting; the plan's operands are
// (y, a, b). y is contiguous, so its innermost stride is 1, and a and b
// have innermost stride 1 or 0 (never both 0).
func binFwd[T float](kind int, p *plan, a, b, y []T) {
	if ix := p.gathered(); ix != nil {
		iy, ia, ib := ix[0], ix[1], ix[2]
		switch kind {
		case kAdd:
			for i, o := range iy {
				y[o] = a[ia[i]] + b[ib[i]]
			}
		case kSub:
			for i, o := range iy {
				y[o] = a[ia[i]] - b[ib[i]]
			}
		case kMul:
			for i, o := range iy {
				y[o] = a[ia[i]] * b[ib[i]]
			}
		case kDiv:
			for i, o := range iy {
				y[o] = a[ia[i]] / b[ib[i]]
			}
		}
		return
	}
	n := p.dims[len(p.dims)-1]
	sa, sb := p.inner(1), p.inner(2)
	p.rows(func(off []int) {
		yy := y[off[0] : off[0]+n]
		switch {
		case sa == 1 && sb == 1:
			binVV(kind, a[off[1]:off[1]+n], b[off[2]:off[2]+n], yy)
		case sa == 1:
			binVS(kind, a[off[1]:off[1]+n], b[off[2]], yy)
		default:
			binSV(kind, a[off[1]], b[off[2]:off[2]+n], yy)
		}
	})
}

// vecMin is the length from which float32 elementwise runs use the AVX2
// kernels (shorter runs are not worth a cgo call).
const vecMin = 256

func binVV[T float](kind int, a, b, y []T) {
	b, y = b[:len(a)], y[:len(a)]
	if af, ok := any(a).([]float32); ok && useVec && len(a) >= vecMin {
		vBin(kind, 0, af, any(b).([]float32), 0, any(y).([]float32))
		return
	}
	switch kind {
	case kAdd:
		for i, v := range a {
			y[i] = v + b[i]
		}
	case kSub:
		for i, v := range a {
			y[i] = v - b[i]
		}
	case kMul:
		for i, v := range a {
			y[i] = v * b[i]
		}
	case kDiv:
		for i, v := range a {
			y[i] = v / b[i]
		}
	}
}

func binVS[T float](kind int, a []T, c T, y []T) {
	y = y[:len(a)]
	if af, ok := any(a).([]float32); ok && useVec && len(a) >= vecMin {
		vBin(kind, 1, af, nil, float32(c), any(y).([]float32))
		return
	}
	switch kind {
	case kAdd:
		for i, v := range a {
			y[i] = v + c
		}
	case kSub:
		for i, v := range a {
			y[i] = v - c
		}
	case kMul:
		for i, v := range a {
			y[i] = v * c
		}
	case kDiv:
		for i, v := range a {
			y[i] = v / c
		}
	}
}

func binSV[T float](kind int, c T, b, y []T) {
	y = y[:len(b)]
	if bf, ok := any(b).([]float32); ok && useVec && len(b) >= vecMin {
		vBin(kind, 2, nil, bf, float32(c), any(y).([]float32))
		return
	}
	switch kind {
	case kAdd:
		for i, v := range b {
			y[i] = c + v
		}
	case kSub:
		for i, v := range b {
			y[i] = c - v
		}
	case kMul:
		for i, v := range b {
			y[i] = c * v
		}
	case kDiv:
		for i, v := range b {
			y[i] = c / v
		}
	}
}

// binGradDirect computes the gradient of operand w of y = a ∘ b when a,
// b and y all have the same shape (no broadcasting, so no accumulation):
// mul: g·other, div: g/b or −g·a/b², sub (w = 1): −g.
func binGradDirect[T float](kind, w int, a, b, g, out []T) {
	if gf, ok := any(g).([]float32); ok && useVec && len(g) >= vecMin {
		f := func(s []T) []float32 { return any(s).([]float32) }
		if kind == kSub {
			vBin(kSub, 2, nil, gf, 0, f(out))
		} else {
			vBinGrad(kind, w, f(a), f(b), 0, gf, f(out))
		}
		return
	}
	out = out[:len(g)]
	switch {
	case kind == kSub:
		for i, v := range g {
			out[i] = -v
		}
	case kind == kMul && w == 0:
		for i, v := range g {
			out[i] = v * b[i]
		}
	case kind == kMul:
		for i, v := range g {
			out[i] = v * a[i]
		}
	case w == 0:
		for i, v := range g {
			out[i] = v / b[i]
		}
	default:
		for i, v := range g {
			out[i] = -v * a[i] / (b[i] * b[i])
		}
	}
}

// binGrad accumulates into out the gradient of operand w (0 = a, 1 = b) of
// y = a ∘ b, summing over the broadcast axes; the plan's operands are
// (y/g, a, b). a and b are only read by mul and div.
func binGrad[T float](kind, w int, p *plan, a, b, g, out []T) {
	if ix := p.gathered(); ix != nil {
		ig, ia, ib, io := ix[0], ix[1], ix[2], ix[1+w]
		switch {
		case kind == kAdd || (kind == kSub && w == 0):
			for i, o := range io {
				out[o] += g[ig[i]]
			}
		case kind == kSub:
			for i, o := range io {
				out[o] -= g[ig[i]]
			}
		case kind == kMul && w == 0:
			for i, o := range io {
				out[o] += g[ig[i]] * b[ib[i]]
			}
		case kind == kMul:
			for i, o := range io {
				out[o] += g[ig[i]] * a[ia[i]]
			}
		case kind == kDiv && w == 0:
			for i, o := range io {
				out[o] += g[ig[i]] / b[ib[i]]
			}
		default: // w == 1: out has b's layout, so −Σ g·a / b² = −(Σ g·a) / b²
			for i, o := range io {
				out[o] += g[ig[i]] * a[ia[i]]
			}
			for o, v := range b[:len(out)] {
				out[o] = -out[o] / (v * v)
			}
		}
		return
	}
	n := p.dims[len(p.dims)-1]
	sa, sb := p.inner(1), p.inner(2)
	so := p.inner(1 + w)
	p.rows(func(off []int) {
		gg := g[off[0] : off[0]+n]
		// the other operand's values (mul/div) as a vector or a scalar
		var ov []T
		var os T
		if kind == kMul || kind == kDiv {
			x, sx, o := b, sb, off[2]
			if w == 1 {
				x, sx, o = a, sa, off[1]
			}
			if sx == 1 {
				ov = x[o : o+n]
			} else {
				os = x[o]
			}
		}
		if so == 0 { // reduce the run into one element
			var s T
			switch {
			case kind == kAdd || (kind == kSub && w == 0):
				for _, v := range gg {
					s += v
				}
			case kind == kSub:
				for _, v := range gg {
					s -= v
				}
			case kind == kMul && ov != nil:
				for i, v := range gg {
					s += v * ov[i]
				}
			case kind == kMul:
				for _, v := range gg {
					s += v
				}
				s *= os
			case kind == kDiv && w == 0 && ov != nil:
				for i, v := range gg {
					s += v / ov[i]
				}
			case kind == kDiv && w == 0:
				for _, v := range gg {
					s += v
				}
				s /= os
			default: // d(a/b)/db = −a/b², b is the reduced operand (a scalar here)
				bv := b[off[2]]
				if ov != nil {
					for i, v := range gg {
						s -= v * ov[i]
					}
				} else {
					for _, v := range gg {
						s -= v
					}
					s *= os
				}
				s /= bv * bv
			}
			out[off[1+w]] += s
			return
		}
		oo := out[off[1+w] : off[1+w]+n]
		switch {
		case kind == kAdd || (kind == kSub && w == 0):
			for i, v := range gg {
				oo[i] += v
			}
		case kind == kSub:
			for i, v := range gg {
				oo[i] -= v
			}
		case kind == kMul && ov != nil:
			for i, v := range gg {
				oo[i] += v * ov[i]
			}
		case kind == kMul:
			for i, v := range gg {
				oo[i] += v * os
			}
		case kind == kDiv && w == 0 && ov != nil:
			for i, v := range gg {
				oo[i] += v / ov[i]
			}
		case kind == kDiv && w == 0:
			for i, v := range gg {
				oo[i] += v / os
			}
		default: // w == 1, b is a full-length run
			bb := b[off[2] : off[2]+n]
			if ov != nil {
				for i, v := range gg {
					oo[i] -= v * ov[i] / (bb[i] * bb[i])
				}
			} else {
				for i, v := range gg {
					oo[i] -= v * os / (bb[i] * bb[i])
				}
			}
		}
	})
}

// scalarFwd computes y = x ∘ c (or c ∘ x for the r-kinds).
func scalarFwd[T float](kind int, c T, x, y []T) {
	switch kind {
	case kRSub:
		binSV(kSub, c, x, y)
		return
	case kRDiv:
		binSV(kDiv, c, x, y)
		return
	default:
		if len(x) >= vecMin {
			binVS(kind, x, c, y)
			return
		}
	}
	switch kind {
	case kAdd:
		for i, v := range x {
			y[i] = v + c
		}
	case kSub:
		for i, v := range x {
			y[i] = v - c
		}
	case kMul:
		for i, v := range x {
			y[i] = v * c
		}
	case kDiv:
		for i, v := range x {
			y[i] = v / c
		}
	case kRSub:
		for i, v := range x {
			y[i] = c - v
		}
	case kRDiv:
		for i, v := range x {
			y[i] = c / v
		}
	}
}

// scalarGrad computes dx from g (and x for rdiv).
func scalarGrad[T float](kind int, c T, x, g, dx []T) {
	if gf, ok := any(g).([]float32); ok && useVec && len(g) >= vecMin {
		df := any(dx).([]float32)
		switch kind {
		case kMul, kDiv:
			vBin(kind, 1, gf, nil, float32(c), df)
			return
		case kRSub:
			vBin(kSub, 2, nil, gf, 0, df)
			return
		case kRDiv: // −g·c/x²
			vBinGrad(kDiv, 1, nil, any(x).([]float32), float32(c), gf, df)
			return
		}
	}
	switch kind {
	case kAdd, kSub:
		copy(dx, g)
	case kMul:
		for i, v := range g {
			dx[i] = v * c
		}
	case kDiv:
		for i, v := range g {
			dx[i] = v / c
		}
	case kRSub:
		for i, v := range g {
			dx[i] = -v
		}
	case kRDiv:
		for i, v := range g {
			xi := x[i]
			dx[i] = -v * c / (xi * xi)
		}
	}
}

// Reduction kinds.
const (
	rSum = iota
	rMean
	rMax
)

var reduceNames = []string{"sum", "mean", "max"}

// reduceFwd reduces x into y; the plan's operands are (x, y) with y
// broadcast (stride 0) along the reduced axes. scale multiplies the result
// (1/count for mean).
func reduceFwd[T float](kind int, p *plan, x, y []T, scale T) {
	if ix := p.gathered(); ix != nil {
		ixs, iy := ix[0], ix[1]
		if kind == rMax {
			for i := range y {
				y[i] = T(math.Inf(-1))
			}
			for i, o := range iy {
				y[o] = max(y[o], x[ixs[i]])
			}
			return
		}
		for i, o := range iy {
			y[o] += x[ixs[i]]
		}
		scaleAll(y, scale)
		return
	}
	n := p.dims[len(p.dims)-1]
	sx, sy := p.inner(0), p.inner(1)
	if kind == rMax {
		for i := range y {
			y[i] = T(math.Inf(-1))
		}
		p.rows(func(off []int) {
			xx, yy := x[off[0]:], y[off[1]:]
			for i := 0; i < n; i++ {
				if v := xx[i*sx]; v > yy[i*sy] {
					yy[i*sy] = v
				}
			}
		})
		return
	}
	p.rows(func(off []int) {
		xx, yy := x[off[0]:], y[off[1]:]
		if sy == 0 {
			var s T
			for i := 0; i < n; i++ {
				s += xx[i*sx]
			}
			yy[0] += s
			return
		}
		for i := 0; i < n; i++ {
			yy[i*sy] += xx[i*sx]
		}
	})
	if scale != 1 {
		for i := range y {
			y[i] *= scale
		}
	}
}

// maxGrad routes g to the first maximal element of each reduced group; the
// plan's operands are (x, y) as in reduceFwd, and g has y's layout.
func maxGrad[T float](p *plan, x, y, g, dx []T) {
	n := p.dims[len(p.dims)-1]
	sx, sy := p.inner(0), p.inner(1)
	taken := make([]bool, len(y))
	p.rows(func(off []int) {
		for i := 0; i < n; i++ {
			ix, iy := off[0]+i*sx, off[1]+i*sy
			if !taken[iy] && x[ix] == y[iy] {
				taken[iy] = true
				dx[ix] = g[iy]
			}
		}
	})
}

// elem is any element type a strided copy can move (int tensors hold token
// ids derived from inputs by reshape/transpose/slice/broadcast).
type elem interface{ ~int | ~float32 | ~float64 }

// stridedCopy copies src into dst through the plan (operands dst, src):
// broadcasting, transposition and slicing are all strided copies.
func stridedCopy[T elem](p *plan, src, dst []T) {
	if ix := p.gathered(); ix != nil {
		id, is := ix[0], ix[1]
		for i, o := range id {
			dst[o] = src[is[i]]
		}
		return
	}
	n := p.dims[len(p.dims)-1]
	sd, ss := p.inner(0), p.inner(1)
	p.rows(func(off []int) {
		d, s := dst[off[0]:], src[off[1]:]
		if sd == 1 && ss == 1 {
			copy(d[:n], s[:n])
			return
		}
		for i := 0; i < n; i++ {
			d[i*sd] = s[i*ss]
		}
	})
}

func scaleAll[T float](x []T, c T) {
	if c == 1 {
		return
	}
	for i := range x {
		x[i] *= c
	}
}

// softmaxFwd normalises each contiguous row of length n (rows split over
// the CPUs).
func softmaxFwd[T float](x, y []T, n int, logOut bool) {
	parallelFor(len(x)/n, n*8, func(lo, hi int) {
		if xf, ok := any(x).([]float32); ok && useVec {
			vSoftmaxRows(xf, any(y).([]float32), lo, hi, n, logOut)
			return
		}
		softmaxRows(x[lo*n:hi*n], y[lo*n:hi*n], n, logOut)
	})
}

func softmaxRows[T float](x, y []T, n int, logOut bool) {
	for r := 0; r+n <= len(x); r += n {
		xr, yr := x[r:r+n], y[r:r+n]
		m := maxOf(xr)
		s := expShift(xr, yr, m)
		if logOut {
			ls := T(math.Log(s)) + m
			for i, v := range xr {
				yr[i] = v - ls
			}
			continue
		}
		inv := 1 / s
		for i := range yr {
			yr[i] = T(float64(yr[i]) * inv)
		}
	}
}

// softmaxGrad: dx = y ⊙ (g − ⟨g, y⟩) for softmax, and
// dx = g − exp(y)·Σg for log-softmax (y is the forward output).
func softmaxGrad[T float](y, g, dx []T, n int, logOut bool) {
	for r := 0; r+n <= len(y); r += n {
		yr, gr, dr := y[r:r+n], g[r:r+n], dx[r:r+n]
		var s T
		if logOut {
			for _, v := range gr {
				s += v
			}
			expInto(yr, dr) // dr = exp(y) = softmax
			for i, e := range dr {
				dr[i] = gr[i] - e*s
			}
			continue
		}
		for i, v := range yr {
			s += gr[i] * v
		}
		for i, v := range yr {
			dr[i] = v * (gr[i] - s)
		}
	}
}

// gatherFwd copies table rows: y[i, :] = table[idx[i], :].
func gatherFwd[T float](table []T, idx []int, y []T, c int) error {
	v := len(table) / c
	for i, id := range idx {
		if id < 0 || id >= v {
			return fmt.Errorf("gather: index %d out of range [0, %d)", id, v)
		}
		copy(y[i*c:(i+1)*c], table[id*c:(id+1)*c])
	}
	return nil
}

// gatherGrad scatter-adds g rows into dtable (which is zero on entry).
func gatherGrad[T float](idx []int, g, dtable []T, c int) error {
	v := len(dtable) / c
	for i, id := range idx {
		if id < 0 || id >= v {
			return fmt.Errorf("gather: index %d out of range [0, %d)", id, v)
		}
		d, gg := dtable[id*c:(id+1)*c], g[i*c:(i+1)*c]
		for j, x := range gg {
			d[j] += x
		}
	}
	return nil
}

// pickFwd selects y[i] = x[i, idx[i]] from rows of length v.
func pickFwd[T float](x []T, idx []int, y []T, v int) error {
	for i, id := range idx {
		if id < 0 || id >= v {
			return fmt.Errorf("pick: index %d out of range [0, %d)", id, v)
		}
		y[i] = x[i*v+id]
	}
	return nil
}

// pickGrad scatters g into dx (zero on entry).
func pickGrad[T float](idx []int, g, dx []T, v int) error {
	for i, id := range idx {
		if id < 0 || id >= v {
			return fmt.Errorf("pick: index %d out of range [0, %d)", id, v)
		}
		dx[i*v+id] += g[i]
	}
	return nil
}

// causalMask copies x (T×T blocks) and replaces the strict upper triangle
// with fill (−1e9 forward, 0 for the gradient).
func causalMask[T float](x, y []T, t int, fill T) {
	tt := t * t
	for b := 0; b+tt <= len(x); b += tt {
		for i := 0; i < t; i++ {
			r := b + i*t
			copy(y[r:r+i+1], x[r:r+i+1])
			for j := i + 1; j < t; j++ {
				y[r+j] = fill
			}
		}
	}
}

// rope rotates each row (position = index along the T axis) with the
// precomputed cos/sin tables [T, D/2]; inverse applies the transposed
// rotation (the gradient).
func rope[T float](x, y []T, t, d int, cos, sin []float64, inverse bool) {
	h := d / 2
	for base := 0; base+t*d <= len(x); base += t * d {
		for p := 0; p < t; p++ {
			xr, yr := x[base+p*d:base+(p+1)*d], y[base+p*d:base+(p+1)*d]
			cs, sn := cos[p*h:(p+1)*h], sin[p*h:(p+1)*h]
			for i := 0; i < h; i++ {
				c, s := T(cs[i]), T(sn[i])
				if inverse {
					s = -s
				}
				a, b := xr[i], xr[i+h]
				yr[i] = a*c - b*s
				yr[i+h] = a*s + b*c
			}
		}
	}
}

// Unary op kinds.
const (
	uNeg = iota
	uExp
	uLog
	uSqrt
	uSquare
	uSigmoid
	uTanh
	uRelu
)

var unaryNames = []string{"neg", "exp", "log", "sqrt", "square", "sigmoid", "tanh", "relu"}

// unaryGradUsesY reports whether the backward reads the output (else the input).
var unaryGradUsesY = []bool{false, true, false, true, false, true, true, false}

func unaryFwd[T float](kind int, x, y []T) {
	y = y[:len(x)]
	if xf, ok := any(x).([]float32); ok && (kind == uExp || kind == uTanh || kind == uSigmoid) {
		unaryFwd32(kind, xf, any(y).([]float32))
		return
	}
	if len(x) >= vecMin && (kind == uSquare || kind == uNeg) {
		if kind == uSquare {
			binVV(kMul, x, x, y)
		} else {
			binSV(kSub, 0, x, y)
		}
		return
	}
	switch kind {
	case uNeg:
		for i, v := range x {
			y[i] = -v
		}
	case uExp:
		for i, v := range x {
			y[i] = T(math.Exp(float64(v)))
		}
	case uLog:
		for i, v := range x {
			y[i] = T(math.Log(float64(v)))
		}
	case uSqrt:
		for i, v := range x {
			y[i] = T(math.Sqrt(float64(v)))
		}
	case uSquare:
		for i, v := range x {
			y[i] = v * v
		}
	case uSigmoid:
		for i, v := range x {
			if v >= 0 {
				y[i] = T(1 / (1 + math.Exp(-float64(v))))
			} else {
				e := math.Exp(float64(v))
				y[i] = T(e / (1 + e))
			}
		}
	case uTanh:
		for i, v := range x {
			y[i] = T(math.Tanh(float64(v)))
		}
	case uRelu:
		for i, v := range x {
			y[i] = max(v, 0)
		}
	}
}

// unaryFwd32 computes exp, tanh and sigmoid in float32: with the AVX2
// kernels when available, else with the fast scalar functions of
// fastmath.go.
func unaryFwd32(kind int, x, y []float32) {
	vk, f := vExp, expf32
	switch kind {
	case uTanh:
		vk, f = vTanh, tanhf32
	case uSigmoid:
		vk, f = vSigmoid, sigmoidf32
	}
	if useVec {
		vUnary(vk, x, y)
		return
	}
	for i, v := range x {
		y[i] = f(v)
	}
}

// expInto writes y = exp(x).
func expInto[T float](x, y []T) {
	if xf, ok := any(x).([]float32); ok {
		unaryFwd32(uExp, xf, any(y).([]float32))
		return
	}
	for i, v := range x {
		y[i] = T(math.Exp(float64(v)))
	}
}

// unaryGrad computes dx from g and xy (the input, or the output when
// unaryGradUsesY[kind]).
func unaryGrad[T float](kind int, xy, g, dx []T) {
	g, dx = g[:len(xy)], dx[:len(xy)]
	if xf, ok := any(xy).([]float32); ok && useVec && len(xy) >= vecMin {
		vUnaryGrad(kind, xf, any(g).([]float32), any(dx).([]float32))
		return
	}
	switch kind {
	case uNeg:
		for i, v := range g {
			dx[i] = -v
		}
	case uExp:
		for i, y := range xy {
			dx[i] = g[i] * y
		}
	case uLog:
		for i, x := range xy {
			dx[i] = g[i] / x
		}
	case uSqrt:
		for i, y := range xy {
			dx[i] = g[i] / (2 * y)
		}
	case uSquare:
		for i, x := range xy {
			dx[i] = 2 * x * g[i]
		}
	case uSigmoid:
		for i, y := range xy {
			dx[i] = g[i] * y * (1 - y)
		}
	case uTanh:
		for i, y := range xy {
			dx[i] = g[i] * (1 - y*y)
		}
	case uRelu:
		for i, x := range xy {
			dx[i] = g[i] * T(b2i(x > 0))
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
