package kernels

import (
	"fmt"
	"sync"
)

// Plan describes a strided walk over an index space shared by several
// operands (operand k's element at multi-index i is at Σ_d i_d·st[k][d]).
// Size-1 dimensions are dropped and adjacent dimensions that are contiguous
// for every operand are merged, so the innermost loop is as long as possible.
type Plan struct {
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

// SetGathered switches the gathered walks of small plans on (the default)
// or off (every plan walks rows, as large ones do) and returns the old
// setting; a test hook, so that tests check both paths.
func SetGathered(on bool) (old bool) {
	old = !noGather
	noGather = !on
	return old
}

// gathered returns per-operand element offsets (in walk order) when the
// plan is small with a short innermost dimension, else nil.
func (p *Plan) gathered() [][]int32 {
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

// NewPlan returns the walk over dims in which operand k's element at
// multi-index i is at Σ_d i_d·st[k][d].
func NewPlan(dims []int, st [][]int) *Plan {
	p := &Plan{st: make([][]int, len(st))}
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

// Contiguous returns the row-major strides of shape.
func Contiguous(shape []int) []int {
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

// BcastPlan returns the walk over the full shape of operands whose shapes
// are right-aligned with it and have either the full size or 1 (stride 0)
// in each dimension.
func BcastPlan(full []int, shapes ...[]int) (*Plan, error) {
	r := len(full)
	st := make([][]int, len(shapes))
	for k, s := range shapes {
		if len(s) > r {
			return nil, fmt.Errorf("shape %v has higher rank than %v", s, full)
		}
		ps := padShape(s, r)
		cs := Contiguous(ps)
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
	return NewPlan(full, st), nil
}

// TransposePlan returns the walk that copies a contiguous [in] tensor into
// its transpose (operands: the result, the source), whose axis i is axis
// perm[i] of in, and the transpose's shape.
func TransposePlan(in, perm []int) (*Plan, []int) {
	out := make([]int, len(perm))
	cs := Contiguous(in)
	src := make([]int, len(perm))
	for i, p := range perm {
		out[i] = in[p]
		src[i] = cs[p]
	}
	return NewPlan(out, [][]int{Contiguous(out), src}), out
}

// size returns the number of elements walked.
func (p *Plan) size() int {
	n := 1
	for _, d := range p.dims {
		n *= d
	}
	return n
}

// inner returns the innermost length and operand k's innermost stride.
func (p *Plan) inner(k int) int { return p.st[k][len(p.dims)-1] }

// rows calls fn with the start offsets of every innermost run (length
// p.dims[last], operand k advancing by p.inner(k)).
func (p *Plan) rows(fn func(off []int)) {
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

// Elem is any element type a strided copy can move (int tensors hold token
// ids derived from inputs by reshape/transpose/slice/broadcast).
type Elem interface{ ~int | ~float32 | ~float64 }

// StridedCopy copies src into dst through the plan (operands dst, src):
// broadcasting, transposition and slicing are all strided copies.
func StridedCopy[T Elem](p *Plan, src, dst []T) {
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
