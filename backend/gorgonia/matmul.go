package gorgonia

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
	"github.com/mhcc/mhcc/ir"
)

func init() {
	// matmul.concat keeps its weights packed [K, ΣN]; its backward packs
	// them again and the weights' gradient, in scratch
	keeps(func(in [][]int, out []int, _ ir.Attrs, _ bool) (float64, float64) {
		return float64(lastDim(in[0])) * float64(lastDim(out)), 0
	}, ir.OpMatmulConcat)
	scratches(func(in [][]int, out []int, _ ir.Attrs) float64 {
		return 2 * float64(lastDim(in[0])) * float64(lastDim(out))
	}, ir.OpMatmulConcat)
	// a shared weight: every row in one product at a time; a batch: one
	// product per element, side by side
	packs(func(in [][]int, out []int, attrs ir.Attrs, grad bool) (float64, float64) {
		x, w := in[0], in[1]
		K, N := lastDim(x), lastDim(out)
		if len(w) == 2 {
			return mmPacked(prod(x)/K, K, N, attrs.Bool("trans_b"), grad), 0
		}
		return 0, mmPacked(x[len(x)-2], K, N, attrs.Bool("trans_b"), grad)
	}, ir.OpMatmul)
	// matmul.concat packs its weights itself; the backward of a slice of
	// its result runs a matmul's products on the slice's columns (ΣN at
	// most)
	packs(func(in [][]int, out []int, _ ir.Attrs, grad bool) (float64, float64) {
		K := lastDim(in[0])
		return mmPacked(prod(in[0])/K, K, lastDim(out), false, grad), 0
	}, ir.OpMatmulConcat)
	impls.Implement(func(b *builder, v *ir.Value, args []*entry, e *entry) error {
		return b.lowerMatmul(args[0], args[1], v.Attrs.Bool("trans_b"), e)
	}, ir.OpMatmul)
	impls.Implement(fused(func(b *builder, _ *ir.Value, nodes []*G.Node, shapes [][]int, e *entry) error {
		k := lastDim(shapes[0])
		var ns []int
		for _, ws := range shapes[1:] {
			if len(ws) != 2 || ws[0] != k {
				return fmt.Errorf("matmul.concat: weight %v does not match x %v", ws, shapes[0])
			}
			ns = append(ns, ws[1])
		}
		var err error
		e.node, err = b.matmulConcat(nodes, shapes[0], ns)
		return err
	}), ir.OpMatmulConcat)
}

// Matrix products (ir/ops_matmul.go): matmul with a shared or batched
// weight, the fused matmul.concat, and the slices of a matmul.concat result
// that take exactly one member's columns.

// lowerMatmul lowers x·w (shared or batched weight).
func (b *builder) lowerMatmul(xe, we *entry, transB bool, e *entry) error {
	x, err := b.node(xe)
	if err != nil {
		return err
	}
	w, err := b.node(we)
	if err != nil {
		return err
	}
	xs, ws := xe.shape, we.shape
	if len(xs) < 2 || len(ws) < 2 || (len(ws) != 2 && (len(ws) != len(xs) || !slices.Equal(xs[:len(xs)-2], ws[:len(ws)-2]))) {
		return fmt.Errorf("matmul: bad operand shapes %v and %v", xs, ws)
	}
	k := ws[len(ws)-2]
	if transB {
		k = ws[len(ws)-1]
	}
	if k != xs[len(xs)-1] {
		return fmt.Errorf("matmul: inner dimensions of %v and %v differ (trans_b=%v)", xs, ws, transB)
	}
	e.node, err = b.matmul(x, w, xs, ws, transB)
	return err
}

// mmPacked is the largest packed op(B) of the products of x [M, K] times
// w [K, N] (kernels.MatMulFwd, …GradX, …GradW): w, wᵀ, and the rows'
// gradient or x (inner dimension M).
func mmPacked(M, K, N int, transB, grad bool) float64 {
	p := packed(M, N, K)
	if !grad {
		return p
	}
	dw := packed(K, N, M)
	if transB {
		dw = packed(N, K, M)
	}
	return max(p, packed(M, K, N), dw)
}

type mmK struct{ p kernels.MatMul }

func (k mmK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.MatMulFwd(k.p, x[0], x[1], y)
	return nil
}
func (k mmK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.MatMulFwd(k.p, x[0], x[1], y)
	return nil
}

type mmGradXK mmK

func (k mmGradXK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.MatMulGradX(k.p, x[0], x[1], y)
	return nil
}
func (k mmGradXK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.MatMulGradX(k.p, x[0], x[1], y)
	return nil
}

type mmGradWK mmK

func (k mmGradWK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.MatMulGradW(k.p, x[0], x[1], y)
	return nil
}
func (k mmGradWK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.MatMulGradW(k.p, x[0], x[1], y)
	return nil
}

// matmul is x [..., M, K] times a shared w [K, N] ([N, K] with transB) or a
// batch w [..., K, N] ([..., N, K]), computed with BLAS GEMMs on the flat
// data (no reshapes needed).
func (b *builder) matmul(x, w *G.Node, xs, ws []int, transB bool) (*G.Node, error) {
	r := len(xs)
	p := kernels.MatMul{M: xs[r-2], K: xs[r-1], N: ws[len(ws)-1], TransB: transB}
	if transB {
		p.N = ws[len(ws)-2]
	}
	if len(ws) == 2 {
		p.M = prod(xs[:r-1]) // all rows at once
	} else {
		p.Batch = prod(xs[:r-2])
	}
	out := append(append([]int(nil), xs[:r-1]...), p.N)
	name := fmt.Sprintf("matmul%v%v(%v)", xs, ws, transB)
	grad := func(o *op, in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		res := make(G.Nodes, 2)
		var err error
		if o.wrt[0] {
			if res[0], err = b.gradOp(name+"_gradx", in[0].Shape(), mmGradXK{p}, in[1], g); err != nil {
				return nil, err
			}
		}
		if o.wrt[1] {
			if res[1], err = b.gradOp(name+"_gradw", in[1].Shape(), mmGradWK{p}, in[0], g); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	return b.custom(name, out, mmK{p}, grad, x, w)
}

type mmcK struct {
	k  int
	ns []int         // widths of the weights
	st *kernels.Side // slot 0: packed weights [K, ΣN]
}

func (k mmcK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.MatmulConcatFwd(x[0], x[1:], y, k.k, k.ns, k.st)
	return nil
}
func (k mmcK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.MatmulConcatFwd(x[0], x[1:], y, k.k, k.ns, k.st)
	return nil
}

type mmcGradK struct {
	mmcK
	g *grads
}

func (k mmcGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	nw := len(k.ns)
	dst := make([][]float32, nw+1)
	for i := range dst {
		dst[i] = gradDst(k.g, y, i)
	}
	kernels.MatmulConcatBwd(x[0], x[1:1+nw], x[1+nw], dst, k.k, k.ns, k.st)
	return nil
}
func (k mmcGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	nw := len(k.ns)
	dst := make([][]float64, nw+1)
	for i := range dst {
		dst[i] = gradDst(k.g, y, i)
	}
	kernels.MatmulConcatBwd(x[0], x[1:1+nw], x[1+nw], dst, k.k, k.ns, k.st)
	return nil
}

// matmulConcat: children x, w₁, w₂, ...
func (b *builder) matmulConcat(c []*G.Node, xs []int, ns []int) (*G.Node, error) {
	total := 0
	for _, n := range ns {
		total += n
	}
	out := append(append([]int(nil), xs[:len(xs)-1]...), total)
	name := fmt.Sprintf("matmul.concat%v%v", xs, ns)
	k := mmcK{k: xs[len(xs)-1], ns: ns, st: &kernels.Side{}}
	grad := func(o *op, in G.Nodes, _, gy *G.Node) (G.Nodes, error) {
		gk := mmcK{k: k.k, ns: ns, st: b.scratch} // packs the weights again: scratch
		children := append(append(G.Nodes(nil), in...), gy)
		return b.multiGrad(name+"_grad", o, in, func(g *grads) kernel { return mmcGradK{gk, g} }, children...)
	}
	return b.custom(name, out, k, grad, c...)
}

// mmcSlice lowers the slice of a matmul.concat result that is exactly one
// member's columns (what fuse-qkv creates: q, k and v of x·[wq|wk|wv]). The
// slice copies its columns out of the packed product like any slice, but
// its backward goes straight to x and to the member's weight — the two
// GEMMs of a plain matmul's backward on the member's own columns — instead
// of to the packed result: G.Grad then never builds the zero-padded
// [N, ΣN] gradient of every slice and the stock Adds that sum them (which
// cost more than the fused forward GEMM saves). The packed result is an
// input the slice does not differentiate through, so with no other
// consumer the matmul.concat's own backward is never built. It returns
// (nil, nil) when v is not such a slice.
func (b *builder) mmcSlice(v *ir.Value, in []int, axis, start, end int) (*G.Node, error) {
	src := v.Args[0]
	if src.Op != ir.OpMatmulConcat || axis != len(in)-1 || len(src.Args) < 2 {
		return nil, nil
	}
	member := -1
	off := 0
	for i, wv := range src.Args[1:] {
		we := b.vals[wv]
		if we == nil || len(we.shape) != 2 {
			return nil, nil
		}
		if off == start && off+we.shape[1] == end {
			member = i
		}
		off += we.shape[1]
	}
	if member < 0 || off != in[axis] || !b.memberSlicesOnly(src) {
		return nil, nil
	}
	fe, xe, we := b.vals[src], b.vals[src.Args[0]], b.vals[src.Args[1+member]]
	if fe == nil || fe.node == nil || xe == nil || we == nil {
		return nil, nil
	}
	x, err := b.node(xe)
	if err != nil {
		return nil, err
	}
	w, err := b.node(we)
	if err != nil {
		return nil, err
	}
	out := append([]int(nil), in...)
	out[axis] = end - start
	cs := kernels.Contiguous(in)
	pl := kernels.NewPlan(out, [][]int{kernels.Contiguous(out), cs})
	k := xe.shape[len(xe.shape)-1]
	p := kernels.MatMul{M: prod(in[:len(in)-1]), K: k, N: end - start}
	name := fmt.Sprintf("matmul.concat.slice%v[%d:%d]", in, start, end)
	grad := func(o *op, nodes G.Nodes, _, g *G.Node) (G.Nodes, error) {
		res := make(G.Nodes, 3)
		var err error
		if o.wrt[1] {
			if res[1], err = b.gradOp(name+"_gradx", nodes[1].Shape(), mmGradXK{p}, nodes[2], g); err != nil {
				return nil, err
			}
		}
		if o.wrt[2] {
			if res[2], err = b.gradOp(name+"_gradw", nodes[2].Shape(), mmGradWK{p}, nodes[1], g); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	children := []*G.Node{fe.node, x, w}
	wrt := []bool{false, b.dep[x], b.dep[w]}
	n, err := apply(newOp(name, b.dt, children, gshape(out), copyK{p: pl, scale: 1, srcOff: start * cs[axis]}, grad, wrt), children...)
	if err != nil {
		return nil, err
	}
	if wrt[1] || wrt[2] {
		b.dep[n] = true
	}
	return n, nil
}

// memberSlicesOnly reports whether every live user of the matmul.concat
// value mc is a slice of exactly one member's columns, and every member has
// such a slice: only then does every weight (and x) get its gradient
// through the slices, so that the packed result needs none.
func (b *builder) memberSlicesOnly(mc *ir.Value) bool {
	if ok, done := b.mmcOK[mc]; done {
		return ok
	}
	if b.mmcOK == nil {
		b.mmcOK = map[*ir.Value]bool{}
	}
	var bounds []int // member i is [bounds[i], bounds[i+1])
	off := 0
	for _, w := range mc.Args[1:] {
		s, err := w.Type.Shape.Resolve(b.opts.Binds)
		if err != nil || len(s) != 2 {
			b.mmcOK[mc] = false
			return false
		}
		bounds = append(bounds, off)
		off += s[1]
	}
	bounds = append(bounds, off)
	covered := make([]bool, len(mc.Args)-1)
	ok := true
	for _, u := range b.mod.Values {
		if !b.live[u] || !slices.Contains(u.Args, mc) {
			continue
		}
		member := -1
		if u.Op == ir.OpSlice && u.Attrs.Int("axis") == mc.Type.Shape.Rank()-1 {
			for i := range covered {
				if u.Attrs.Int("start") == bounds[i] && u.Attrs.Int("end") == bounds[i+1] {
					member = i
				}
			}
		}
		if member < 0 {
			ok = false
			break
		}
		covered[member] = true
	}
	for _, c := range covered {
		ok = ok && c
	}
	b.mmcOK[mc] = ok
	return ok
}
