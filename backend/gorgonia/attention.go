package gorgonia

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
	"github.com/mhcc/mhcc/ir"
)

func init() {
	// attention keeps P [..., T, T] for its backward, which needs a T×T
	// scratch per chunk; rope's cos and sin tables (T × D/2 float64s each)
	// are built with the graph, rope.at's at every run
	keeps(func(in [][]int, _ []int, _ ir.Attrs, _ bool) (float64, float64) {
		q := in[0]
		t, d := float64(q[len(q)-2]), float64(q[len(q)-1])
		return elems(q) / (t * d) * t * t, 0
	}, ir.OpAttention)
	scratches(func(in [][]int, _ []int, _ ir.Attrs) float64 {
		q := in[0]
		t, d := float64(q[len(q)-2]), float64(q[len(q)-1])
		return min(workers(), elems(q)/(t*d)) * t * t
	}, ir.OpAttention)
	keeps(func(in [][]int, _ []int, _ ir.Attrs, _ bool) (float64, float64) {
		x := in[0]
		return 0, float64(x[len(x)-2]) * float64(x[len(x)-1])
	}, ir.OpRope, ir.OpRopeAt)
	// attention's products run per (batch, head), side by side: at most T
	// rows, with kᵀ, v, the output's gradient, vᵀ, k and q as op(B)
	packs(func(in [][]int, _ []int, _ ir.Attrs, grad bool) (float64, float64) {
		q, v := in[0], in[2]
		T, D, DV := q[len(q)-2], lastDim(q), lastDim(v)
		p := max(packed(T, T, D), packed(T, DV, T))
		if grad {
			p = max(p, packed(T, T, DV), packed(T, D, T))
		}
		return 0, p
	}, ir.OpAttention)
	impls.Implement(func(b *builder, _ *ir.Value, args []*entry, e *entry) error {
		if r := len(e.shape); r < 2 || e.shape[r-1] != e.shape[r-2] {
			return fmt.Errorf("causal_mask: want [..., T, T], got %v", e.shape)
		}
		return b.withNode(args[0], e, func(x *G.Node) (*G.Node, error) { return b.causalMask(x, e.shape) })
	}, ir.OpCausalMask)
	impls.Implement(func(b *builder, v *ir.Value, args []*entry, e *entry) error {
		if r := len(e.shape); r < 2 || e.shape[r-1]%2 != 0 {
			return fmt.Errorf("rope: want [..., T, D] with even D, got %v", e.shape)
		}
		return b.withNode(args[0], e, func(x *G.Node) (*G.Node, error) { return b.rope(x, e.shape, v.Attrs.Float("base")) })
	}, ir.OpRope)
	impls.Implement(fused(func(b *builder, v *ir.Value, nodes []*G.Node, shapes [][]int, e *entry) error {
		q, k, vv := shapes[0], shapes[1], shapes[2]
		r := len(q)
		if r < 2 || !slices.Equal(q, k) || len(vv) != r || !slices.Equal(q[:r-1], vv[:r-1]) {
			return fmt.Errorf("attention: want q, k [..., T, d] and v [..., T, dv], got %v %v %v", q, k, vv)
		}
		var err error
		e.node, err = b.attention(nodes, q, vv[r-1], v.Attrs.Float("scale"), v.Attrs.Bool("causal"))
		return err
	}), ir.OpAttention)
}

// Sequence ops (ir/ops_attention.go): causal_mask, rope and the fused
// attention.

type maskK struct {
	t    int
	fill float64
}

func (k maskK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.CausalMask(x[0], y, k.t, float32(k.fill))
	return nil
}
func (k maskK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.CausalMask(x[0], y, k.t, k.fill)
	return nil
}

// MaskValue is what causal_mask writes above the diagonal.
const MaskValue = -1e9

func (b *builder) causalMask(x *G.Node, shape []int) (*G.Node, error) {
	t := shape[len(shape)-1]
	name := fmt.Sprintf("causal_mask%v", shape)
	grad := func(o *op, in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		r, err := b.gradOp(name+"_grad", in[0].Shape(), maskK{t, 0}, g)
		return G.Nodes{r}, err
	}
	return b.custom(name, shape, maskK{t, MaskValue}, grad, x)
}

type ropeK struct {
	t, d     int
	cos, sin []float64
	inverse  bool
}

func (k ropeK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.Rope(x[0], y, k.t, k.d, k.cos, k.sin, k.inverse)
	return nil
}
func (k ropeK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.Rope(x[0], y, k.t, k.d, k.cos, k.sin, k.inverse)
	return nil
}

func (b *builder) rope(x *G.Node, shape []int, base float64) (*G.Node, error) {
	t, d := shape[len(shape)-2], shape[len(shape)-1]
	var cos, sin []float64
	if !b.dry { // a dry build allocates nothing (EstimateMemory)
		cos, sin = kernels.RopeTables(t, d, base)
	}
	name := fmt.Sprintf("rope(%v)%v", base, shape)
	grad := func(o *op, in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		r, err := b.gradOp(name+"_grad", in[0].Shape(), ropeK{t, d, cos, sin, true}, g)
		return G.Nodes{r}, err
	}
	return b.custom(name, shape, ropeK{t, d, cos, sin, false}, grad, x)
}

type attnK struct {
	kernels.Attention
	st *kernels.Side // slot 0: the probabilities P [..., T, T]
}

func (k attnK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.AttentionFwd(x[0], x[1], x[2], y, k.Attention, k.st)
	return nil
}
func (k attnK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.AttentionFwd(x[0], x[1], x[2], y, k.Attention, k.st)
	return nil
}

type attnGradK struct {
	attnK
	g   *grads
	tmp *kernels.Side
}

func (k attnGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.AttentionBwd(x[0], x[1], x[2], x[4], gradDst(k.g, y, 0), gradDst(k.g, y, 1), gradDst(k.g, y, 2), k.Attention, k.st, k.tmp)
	return nil
}
func (k attnGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.AttentionBwd(x[0], x[1], x[2], x[4], gradDst(k.g, y, 0), gradDst(k.g, y, 1), gradDst(k.g, y, 2), k.Attention, k.st, k.tmp)
	return nil
}

// attention: children q, k, v.
func (b *builder) attention(c []*G.Node, qs []int, dv int, scale float64, causal bool) (*G.Node, error) {
	r := len(qs)
	k := attnK{kernels.Attention{T: qs[r-2], D: qs[r-1], DV: dv, Scale: scale, Causal: causal}, &kernels.Side{}}
	out := append(append([]int(nil), qs[:r-1]...), dv)
	name := b.fusedName(fmt.Sprintf("attention(%v,%v)", scale, causal), out)
	grad := func(o *op, in G.Nodes, y, gy *G.Node) (G.Nodes, error) {
		tmp := b.scratch
		// y orders the backward after the forward that filled P
		return b.multiGrad(name+"_grad", o, in, func(g *grads) kernel { return attnGradK{k, g, tmp} },
			in[0], in[1], in[2], y, gy)
	}
	return b.custom(name, out, k, grad, c...)
}

// ---------------------------------------------------------------- decoding

// ropeAtK is rope at the positions pos + t, pos read from its i32 input.
type ropeAtK struct {
	t, d    int
	base    float64
	inverse bool
}

func (k ropeAtK) f32(x [][]float32, idx [][]int, y []float32) error {
	cos, sin := kernels.RopeTablesFrom(idx[0][0], k.t, k.d, k.base)
	kernels.Rope(x[0], y, k.t, k.d, cos, sin, k.inverse)
	return nil
}
func (k ropeAtK) f64(x [][]float64, idx [][]int, y []float64) error {
	cos, sin := kernels.RopeTablesFrom(idx[0][0], k.t, k.d, k.base)
	kernels.Rope(x[0], y, k.t, k.d, cos, sin, k.inverse)
	return nil
}

// ropeAt: the backward is the inverse rotation at the same positions.
func (b *builder) ropeAt(x, pos *G.Node, shape []int, base float64) (*G.Node, error) {
	k := ropeAtK{t: shape[len(shape)-2], d: shape[len(shape)-1], base: base}
	name := fmt.Sprintf("rope.at(%v)%v", base, shape)
	grad := func(o *op, in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		inv := k
		inv.inverse = true
		r, err := b.gradOp(name+"_grad", in[0].Shape(), inv, g, in[1])
		return G.Nodes{r, nil}, err
	}
	return b.custom(name, shape, k, grad, x, pos)
}

type attnCachedK struct{ kernels.AttentionCached }

func (k attnCachedK) f32(x [][]float32, idx [][]int, y []float32) error {
	return attnCached(k, x, idx, y)
}
func (k attnCachedK) f64(x [][]float64, idx [][]int, y []float64) error {
	return attnCached(k, x, idx, y)
}

func attnCached[T kernels.Float](k attnCachedK, x [][]T, idx [][]int, y []T) error {
	n := idx[0][0]
	if n < 0 || n > k.S {
		return fmt.Errorf("cache length %d out of range [0, %d]", n, k.S)
	}
	kernels.AttentionCachedFwd(x[0], x[1], x[2], x[3], x[4], n, k.AttentionCached, y)
	return nil
}

func init() {
	impls.Implement(func(b *builder, v *ir.Value, args []*entry, e *entry) error {
		if r := len(e.shape); r < 2 || e.shape[r-1]%2 != 0 {
			return fmt.Errorf("rope.at: want [..., T, D] with even D, got %v", e.shape)
		}
		return b.withNode(args[0], e, func(x *G.Node) (*G.Node, error) {
			return b.ropeAt(x, args[1].node, e.shape, v.Attrs.Float("base"))
		})
	}, ir.OpRopeAt)
	impls.Implement(func(b *builder, v *ir.Value, args []*entry, e *entry) error {
		nodes := make([]*G.Node, 5)
		for i := range nodes {
			n, err := b.node(args[i])
			if err != nil {
				return fmt.Errorf("argument %d: %w", i, err)
			}
			nodes[i] = n
		}
		q, kc, vv := args[0].shape, args[3].shape, args[2].shape
		r := len(q)
		a := kernels.AttentionCached{T: q[r-2], S: kc[r-2], D: q[r-1], DV: vv[r-1], Scale: v.Attrs.Float("scale")}
		var err error
		e.node, err = b.custom(fmt.Sprintf("attention.cached(%v)%v", a.Scale, e.shape), e.shape, attnCachedK{a}, nil,
			append(nodes, args[5].node)...)
		return err
	}, ir.OpAttentionCached)
}
