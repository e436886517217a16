package ref

import (
	"fmt"
	"math"
	"slices"

	"github.com/mhcc/mhcc/ir"
)

// CausalMaskValue is what causal_mask writes above the diagonal.
const CausalMaskValue = ir.CausalMaskValue

// strides returns the row-major strides of shape.
func strides(shape []int) []int {
	s := make([]int, len(shape))
	n := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = n
		n *= shape[i]
	}
	return s
}

// alignedStrides returns the strides with which an operand of the given
// shape is read while walking a result of rank r under right-aligned
// broadcasting: padded leading axes and size-1 axes get stride 0.
func alignedStrides(shape []int, r int) []int {
	s := make([]int, r)
	own := strides(shape)
	for i := range shape {
		j := r - len(shape) + i
		if shape[i] != 1 {
			s[j] = own[i]
		}
	}
	return s
}

// walker visits every multi-index of shape in row-major order while
// keeping, for each operand, the flat offset given by its strides. It
// allocates once per op, not per element.
type walker struct {
	shape []int
	idx   []int
	str   [][]int // per operand, one stride per axis of shape
	off   []int   // per operand, the current offset
}

func newWalker(shape []int, operandStrides ...[]int) *walker {
	return &walker{
		shape: shape,
		idx:   make([]int, len(shape)),
		str:   operandStrides,
		off:   make([]int, len(operandStrides)),
	}
}

// next advances to the following multi-index (row-major: last axis fastest).
func (w *walker) next() {
	for d := len(w.shape) - 1; d >= 0; d-- {
		w.idx[d]++
		for k, s := range w.str {
			w.off[k] += s[d]
		}
		if w.idx[d] < w.shape[d] {
			return
		}
		for k, s := range w.str {
			w.off[k] -= s[d] * w.shape[d]
		}
		w.idx[d] = 0
	}
}

// elementwise applies an elementwise op's scalar function from the op
// table: to each element of a unary op's operand, or to each pair of a
// binary op's broadcast operands.
func elementwise(v *ir.Value, args []*Tensor, _ *evalCtx) (*Tensor, error) {
	def, _ := ir.LookupOp(v.Op)
	if len(args) == 1 {
		out := NewTensor(args[0].Shape...)
		for i, a := range args[0].Data {
			out.Data[i] = def.Scalar(a)
		}
		return out, nil
	}
	a, b := args[0], args[1]
	shape, err := broadcastShape(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	out := NewTensor(shape...)
	w := newWalker(shape, alignedStrides(a.Shape, len(shape)), alignedStrides(b.Shape, len(shape)))
	for o := range out.Data {
		out.Data[o] = def.Scalar(a.Data[w.off[0]], b.Data[w.off[1]])
		w.next()
	}
	return out, nil
}

// broadcastShape applies the right-aligned broadcasting rule to concrete
// shapes.
func broadcastShape(a, b []int) ([]int, error) {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := range out {
		da, db := 1, 1
		if j := len(a) - r + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - r + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

func checkAxes(axes []int, rank int) error {
	if len(axes) == 0 {
		return fmt.Errorf("no axes to reduce")
	}
	for i, ax := range axes {
		if ax < 0 || ax >= rank {
			return fmt.Errorf("axis %d out of range for rank %d", ax, rank)
		}
		if i > 0 && axes[i-1] >= ax {
			return fmt.Errorf("axes %v are not strictly ascending", axes)
		}
	}
	return nil
}

// reduce implements sum, mean and max over axes, keeping them as size 1.
func reduce(op string, x *Tensor, axes []int) (*Tensor, error) {
	if err := checkAxes(axes, len(x.Shape)); err != nil {
		return nil, err
	}
	outShape := append([]int(nil), x.Shape...)
	count := 1
	for _, ax := range axes {
		count *= x.Shape[ax]
		outShape[ax] = 1
	}
	out := NewTensor(outShape...)
	if op == ir.OpMax {
		for i := range out.Data {
			out.Data[i] = math.Inf(-1)
		}
	}
	// Walk the input; the output offset ignores the reduced axes
	// (alignedStrides gives size-1 axes stride 0).
	w := newWalker(x.Shape, alignedStrides(outShape, len(outShape)))
	for _, a := range x.Data {
		o := w.off[0]
		if op == ir.OpMax {
			out.Data[o] = math.Max(out.Data[o], a)
		} else {
			out.Data[o] += a
		}
		w.next()
	}
	if op == ir.OpMean {
		for i := range out.Data {
			out.Data[i] /= float64(count)
		}
	}
	return out, nil
}

func reshape(x *Tensor, to []int) (*Tensor, error) {
	for _, d := range to {
		if d < 0 {
			return nil, fmt.Errorf("negative dimension in target shape %v", to)
		}
	}
	if numel(to) != len(x.Data) {
		return nil, fmt.Errorf("cannot reshape %v (%d values) to %v (%d values)", x.Shape, len(x.Data), to, numel(to))
	}
	return &Tensor{Shape: append([]int(nil), to...), Data: append([]float64(nil), x.Data...)}, nil
}

func transpose(x *Tensor, perm []int) (*Tensor, error) {
	if len(perm) != len(x.Shape) {
		return nil, fmt.Errorf("perm %v does not match rank %d", perm, len(x.Shape))
	}
	seen := make([]bool, len(perm))
	shape := make([]int, len(perm))
	in := strides(x.Shape)
	str := make([]int, len(perm)) // input stride of each result axis
	for i, p := range perm {
		if p < 0 || p >= len(perm) || seen[p] {
			return nil, fmt.Errorf("%v is not a permutation", perm)
		}
		seen[p] = true
		shape[i] = x.Shape[p]
		str[i] = in[p]
	}
	out := NewTensor(shape...)
	w := newWalker(shape, str)
	for o := range out.Data {
		out.Data[o] = x.Data[w.off[0]]
		w.next()
	}
	return out, nil
}

func slice(x *Tensor, axis, start, end int) (*Tensor, error) {
	if axis < 0 || axis >= len(x.Shape) {
		return nil, fmt.Errorf("axis %d out of range for shape %v", axis, x.Shape)
	}
	n := x.Shape[axis]
	if start < 0 || end > n || start >= end {
		return nil, fmt.Errorf("[%d, %d) out of range for axis %d of size %d", start, end, axis, n)
	}
	shape := append([]int(nil), x.Shape...)
	shape[axis] = end - start
	out := NewTensor(shape...)
	outer, inner := numel(x.Shape[:axis]), numel(x.Shape[axis+1:])
	k := end - start
	for o := 0; o < outer; o++ {
		src := x.Data[(o*n+start)*inner : (o*n+end)*inner]
		copy(out.Data[o*k*inner:(o+1)*k*inner], src)
	}
	return out, nil
}

func broadcastTo(x *Tensor, to []int) (*Tensor, error) {
	if len(to) != len(x.Shape) {
		return nil, fmt.Errorf("cannot broadcast rank-%d %v to rank-%d %v", len(x.Shape), x.Shape, len(to), to)
	}
	for i := range to {
		if x.Shape[i] != to[i] && x.Shape[i] != 1 {
			return nil, fmt.Errorf("cannot broadcast %v to %v", x.Shape, to)
		}
	}
	out := NewTensor(to...)
	w := newWalker(to, alignedStrides(x.Shape, len(to)))
	for o := range out.Data {
		out.Data[o] = x.Data[w.off[0]]
		w.next()
	}
	return out, nil
}

// matmul computes a [..., M, K] times b, where b is a shared [K, N]
// matrix or a batch [..., K, N] with a's leading dimensions; with transB, b
// holds the transposes ([N, K] or [..., N, K]).
func matmul(a, b *Tensor, transB bool) (*Tensor, error) {
	ra, rb := len(a.Shape), len(b.Shape)
	if ra < 2 || rb < 2 {
		return nil, fmt.Errorf("operands must have rank ≥ 2, got %v and %v", a.Shape, b.Shape)
	}
	M, K := a.Shape[ra-2], a.Shape[ra-1]
	Kb, N := b.Shape[rb-2], b.Shape[rb-1]
	if transB {
		Kb, N = N, Kb
	}
	if K != Kb {
		return nil, fmt.Errorf("inner dimensions differ: %v × %v (trans_b=%v)", a.Shape, b.Shape, transB)
	}
	shared := rb == 2
	if !shared && !slices.Equal(a.Shape[:ra-2], b.Shape[:rb-2]) {
		return nil, fmt.Errorf("batch dimensions differ: %v × %v", a.Shape, b.Shape)
	}
	outShape := append(append([]int(nil), a.Shape[:ra-2]...), M, N)
	out := NewTensor(outShape...)
	batches := numel(a.Shape[:ra-2])
	for p := 0; p < batches; p++ {
		A := a.Data[p*M*K : (p+1)*M*K]
		B := b.Data[:K*N]
		if !shared {
			B = b.Data[p*K*N : (p+1)*K*N]
		}
		C := out.Data[p*M*N : (p+1)*M*N]
		for i := 0; i < M; i++ {
			arow, crow := A[i*K:(i+1)*K], C[i*N:(i+1)*N]
			if transB {
				// C[i,j] = Σ_k A[i,k]·B[j,k]: a dot product of two rows.
				for j := range crow {
					brow := B[j*K : (j+1)*K]
					var s float64
					for k, x := range arow {
						s += x * brow[k]
					}
					crow[j] = s
				}
				continue
			}
			// C[i,j] = Σ_k A[i,k]·B[k,j], accumulated over k in ascending
			// order (the same sum as a dot product) but walking B by rows.
			for k, x := range arow {
				brow := B[k*N : (k+1)*N]
				for j, y := range brow {
					crow[j] += x * y
				}
			}
		}
	}
	return out, nil
}

// softmax normalises over the last axis, subtracting the row maximum
// first so that large inputs cannot overflow. With log set it returns
// log-softmax, x − max − ln Σ exp(x − max).
func softmax(x *Tensor, log bool) (*Tensor, error) {
	if len(x.Shape) == 0 {
		return nil, fmt.Errorf("softmax of a scalar")
	}
	n := x.Shape[len(x.Shape)-1]
	out := NewTensor(x.Shape...)
	if n == 0 {
		return out, nil
	}
	for r := 0; r < len(x.Data)/n; r++ {
		in, o := x.Data[r*n:(r+1)*n], out.Data[r*n:(r+1)*n]
		m := math.Inf(-1)
		for _, v := range in {
			m = math.Max(m, v)
		}
		var sum float64
		for _, v := range in {
			sum += math.Exp(v - m)
		}
		for i, v := range in {
			if log {
				o[i] = v - m - math.Log(sum)
			} else {
				o[i] = math.Exp(v-m) / sum
			}
		}
	}
	return out, nil
}

// index converts a stored index value to an int in [0, n).
func index(x float64, n int) (int, error) {
	i := int(x)
	if float64(i) != x {
		return 0, fmt.Errorf("index %v is not an integer", x)
	}
	if i < 0 || i >= n {
		return 0, fmt.Errorf("index %d out of range [0, %d)", i, n)
	}
	return i, nil
}

// gather looks up rows: table [V, C], indices [...] → [..., C].
func gather(table, idx *Tensor) (*Tensor, error) {
	if len(table.Shape) != 2 {
		return nil, fmt.Errorf("table must have rank 2, got %v", table.Shape)
	}
	V, C := table.Shape[0], table.Shape[1]
	out := NewTensor(append(append([]int(nil), idx.Shape...), C)...)
	for p, x := range idx.Data {
		i, err := index(x, V)
		if err != nil {
			return nil, fmt.Errorf("position %d: %w", p, err)
		}
		copy(out.Data[p*C:(p+1)*C], table.Data[i*C:(i+1)*C])
	}
	return out, nil
}

// pick selects along the last axis: x [..., V], indices [...] → [...].
func pick(x, idx *Tensor) (*Tensor, error) {
	r := len(x.Shape)
	if r != len(idx.Shape)+1 || !slices.Equal(x.Shape[:r-1], idx.Shape) {
		return nil, fmt.Errorf("indices %v do not match values %v", idx.Shape, x.Shape)
	}
	V := x.Shape[r-1]
	out := NewTensor(idx.Shape...)
	for p, v := range idx.Data {
		i, err := index(v, V)
		if err != nil {
			return nil, fmt.Errorf("position %d: %w", p, err)
		}
		out.Data[p] = x.Data[p*V+i]
	}
	return out, nil
}

// causalMask replaces x[..., i, j] for j > i with CausalMaskValue.
func causalMask(x *Tensor) (*Tensor, error) {
	r := len(x.Shape)
	if r < 2 || x.Shape[r-1] != x.Shape[r-2] {
		return nil, fmt.Errorf("want [..., T, T], got %v", x.Shape)
	}
	T := x.Shape[r-1]
	out := x.Clone()
	for p := 0; p < len(x.Data)/max(T*T, 1); p++ {
		m := out.Data[p*T*T : (p+1)*T*T]
		for i := 0; i < T; i++ {
			for j := i + 1; j < T; j++ {
				m[i*T+j] = CausalMaskValue
			}
		}
	}
	return out, nil
}

// rope rotates, for every position t (the second-to-last axis) and every
// i < D/2, the pair (x_i, x_{i+D/2}) by θ = (offset + t)·base^(−2i/D):
// (a, b) → (a cos θ − b sin θ, a sin θ + b cos θ).
func rope(x *Tensor, base float64, offset int) (*Tensor, error) {
	r := len(x.Shape)
	if r < 2 || x.Shape[r-1]%2 != 0 {
		return nil, fmt.Errorf("want [..., T, D] with even D, got %v", x.Shape)
	}
	T, D := x.Shape[r-2], x.Shape[r-1]
	h := D / 2
	freq := make([]float64, h)
	for i := range freq {
		freq[i] = math.Pow(base, -2*float64(i)/float64(D))
	}
	out := NewTensor(x.Shape...)
	rows := 0
	if D > 0 {
		rows = len(x.Data) / D
	}
	for row := 0; row < rows; row++ {
		t := float64(offset + row%T)
		in, o := x.Data[row*D:(row+1)*D], out.Data[row*D:(row+1)*D]
		for i := 0; i < h; i++ {
			sin, cos := math.Sincos(t * freq[i])
			a, b := in[i], in[i+h]
			o[i] = a*cos - b*sin
			o[i+h] = a*sin + b*cos
		}
	}
	return out, nil
}

func init() {
	for _, d := range ir.Ops {
		if d.Scalar != nil {
			impls.Implement(elementwise, d.Name)
		}
	}
	impls.Implement(evalParam, ir.OpParam)
	impls.Implement(evalInput, ir.OpInput)
	impls.Implement(func(v *ir.Value, _ []*Tensor, _ *evalCtx) (*Tensor, error) {
		return &Tensor{Shape: []int{}, Data: []float64{v.Attrs.Float("value")}}, nil
	}, ir.OpConst)
	impls.Implement(func(v *ir.Value, _ []*Tensor, _ *evalCtx) (*Tensor, error) { return permutations(v) }, ir.OpPermutations)
	impls.Implement(func(v *ir.Value, a []*Tensor, _ *evalCtx) (*Tensor, error) {
		return reduce(v.Op, a[0], v.Attrs.Ints("axes"))
	}, ir.OpSum, ir.OpMean, ir.OpMax)
	impls.Implement(func(v *ir.Value, a []*Tensor, _ *evalCtx) (*Tensor, error) {
		return softmax(a[0], v.Op == ir.OpLogSoftmax)
	}, ir.OpSoftmax, ir.OpLogSoftmax)
	impls.Implement(func(v *ir.Value, a []*Tensor, c *evalCtx) (*Tensor, error) {
		to, err := v.Attrs.Shape("shape").Resolve(c.binds)
		if err != nil {
			return nil, fmt.Errorf("shape attribute: %w", err)
		}
		return reshape(a[0], to)
	}, ir.OpReshape)
	impls.Implement(func(v *ir.Value, a []*Tensor, _ *evalCtx) (*Tensor, error) {
		return transpose(a[0], v.Attrs.Ints("perm"))
	}, ir.OpTranspose)
	impls.Implement(func(v *ir.Value, a []*Tensor, _ *evalCtx) (*Tensor, error) {
		return slice(a[0], v.Attrs.Int("axis"), v.Attrs.Int("start"), v.Attrs.Int("end"))
	}, ir.OpSlice)
	impls.Implement(func(v *ir.Value, a []*Tensor, c *evalCtx) (*Tensor, error) {
		to, err := v.Attrs.Shape("shape").Resolve(c.binds)
		if err != nil {
			return nil, fmt.Errorf("shape attribute: %w", err)
		}
		return broadcastTo(a[0], to)
	}, ir.OpBroadcast)
	impls.Implement(func(v *ir.Value, a []*Tensor, _ *evalCtx) (*Tensor, error) {
		return matmul(a[0], a[1], v.Attrs.Bool("trans_b"))
	}, ir.OpMatmul)
	impls.Implement(func(_ *ir.Value, a []*Tensor, _ *evalCtx) (*Tensor, error) { return gather(a[0], a[1]) }, ir.OpGather)
	impls.Implement(func(_ *ir.Value, a []*Tensor, _ *evalCtx) (*Tensor, error) { return pick(a[0], a[1]) }, ir.OpPick)
	impls.Implement(func(_ *ir.Value, a []*Tensor, _ *evalCtx) (*Tensor, error) { return causalMask(a[0]) }, ir.OpCausalMask)
	impls.Implement(func(v *ir.Value, a []*Tensor, _ *evalCtx) (*Tensor, error) {
		return rope(a[0], v.Attrs.Float("base"), 0)
	}, ir.OpRope)
	impls.Implement(func(v *ir.Value, a []*Tensor, _ *evalCtx) (*Tensor, error) {
		return rope(a[0], v.Attrs.Float("base"), int(a[1].Data[0]))
	}, ir.OpRopeAt)
	impls.Implement(func(v *ir.Value, a []*Tensor, _ *evalCtx) (*Tensor, error) {
		return attentionCached(a[0], a[1], a[2], a[3], a[4], int(a[5].Data[0]), v.Attrs.Float("scale"))
	}, ir.OpAttentionCached)
}

// attentionCached is one decoding step of causal attention over a cache
// (ir.OpAttentionCached): query i of the T new positions attends to the
// cached keys 0 … n−1 and the new keys 0 … i.
func attentionCached(q, k, v, kc, vc *Tensor, n int, scale float64) (*Tensor, error) {
	r := len(q.Shape)
	T, d, dv, S := q.Shape[r-2], q.Shape[r-1], v.Shape[r-1], kc.Shape[r-2]
	if n < 0 || n > S {
		return nil, fmt.Errorf("cache length %d out of range [0, %d]", n, S)
	}
	out := NewTensor(v.Shape...)
	scores := make([]float64, n+T)
	for p := 0; p < numel(q.Shape[:r-2]); p++ {
		for i := 0; i < T; i++ {
			qi := q.Data[(p*T+i)*d : (p*T+i+1)*d]
			key := func(j int) []float64 {
				if j < n {
					return kc.Data[(p*S+j)*d : (p*S+j+1)*d]
				}
				return k.Data[(p*T+j-n)*d : (p*T+j-n+1)*d]
			}
			val := func(j int) []float64 {
				if j < n {
					return vc.Data[(p*S+j)*dv : (p*S+j+1)*dv]
				}
				return v.Data[(p*T+j-n)*dv : (p*T+j-n+1)*dv]
			}
			keys := n + i + 1
			mx := math.Inf(-1)
			for j := 0; j < keys; j++ {
				var s float64
				for c, x := range qi {
					s += x * key(j)[c]
				}
				scores[j] = s * scale
				mx = math.Max(mx, scores[j])
			}
			var sum float64
			for j := 0; j < keys; j++ {
				scores[j] = math.Exp(scores[j] - mx)
				sum += scores[j]
			}
			o := out.Data[(p*T+i)*dv : (p*T+i+1)*dv]
			for j := 0; j < keys; j++ {
				w := scores[j] / sum
				for c, x := range val(j) {
					o[c] += w * x
				}
			}
		}
	}
	return out, nil
}

// concat joins tensors along axis (ir.OpConcat).
func concat(ts []*Tensor, axis int) (*Tensor, error) {
	shape := append([]int(nil), ts[0].Shape...)
	if axis < 0 || axis >= len(shape) {
		return nil, fmt.Errorf("axis %d out of range for shape %v", axis, shape)
	}
	shape[axis] = 0
	for _, t := range ts {
		shape[axis] += t.Shape[axis]
	}
	out := NewTensor(shape...)
	outer, inner := numel(shape[:axis]), numel(shape[axis+1:])
	off := 0
	for _, t := range ts {
		w := t.Shape[axis] * inner
		for o := 0; o < outer; o++ {
			copy(out.Data[o*shape[axis]*inner+off:], t.Data[o*w:(o+1)*w])
		}
		off += w
	}
	return out, nil
}

func init() {
	impls.Implement(func(v *ir.Value, a []*Tensor, _ *evalCtx) (*Tensor, error) {
		return concat(a, v.Attrs.Int("axis"))
	}, ir.OpConcat)
}
