package gorgonia

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
	"github.com/mhcc/mhcc/ir"
)

// The mixture-of-experts ops (ir/ops_moe.go): moe.topk (an index result,
// no gradient), moe.load (from indices only, no gradient) and the fused
// moe.experts, whose kernels group the tokens of each expert into one
// block and run one product per expert and weight
// (kernels/moe.go).

func init() {
	// moe.experts keeps x·W1ᵀ and x·W3ᵀ of every routed row (N·K of them:
	// idx is [..., K]) for its backward; forward and backward work in the
	// shared scratch (kernels.MoEExpertsScratch), which also holds the two
	// in a graph without backward
	keeps(func(in [][]int, _ []int, attrs ir.Attrs, grad bool) (float64, float64) {
		if !grad {
			return 0, 0
		}
		return float64(kernels.MoEExpertsKept(moeShape(in, attrs))), 0
	}, ir.OpMoEExperts)
	scratchesInForward(func(in [][]int, _ []int, attrs ir.Attrs) float64 {
		return float64(kernels.MoEExpertsScratch(moeShape(in, attrs)))
	}, ir.OpMoEExperts)
	// an expert with m rows: m·H·C against W1ᵀ, W3ᵀ, W2 and their
	// transposes, and the weights' gradients (inner dimension m) against
	// its tokens and gate·dy; the big experts one at a time, the small
	// ones side by side (kernels.MoEExpertsScratch)
	packs(func(in [][]int, _ []int, attrs ir.Attrs, grad bool) (float64, float64) {
		p := moeShape(in, attrs)
		ex := func(m int) float64 {
			f := max(packed(m, p.H, p.C), packed(m, p.C, p.H))
			if grad {
				f = max(f, packed(p.H, p.C, m))
			}
			return f
		}
		return ex(p.N), ex(kernels.MoESmallRows(p))
	}, ir.OpMoEExperts)
	impls.Implement(func(b *builder, v *ir.Value, args []*entry, e *entry) error {
		x, err := b.node(args[0])
		if err != nil {
			return err
		}
		E := lastDim(args[0].shape)
		k := topkK{e: E, k: v.Attrs.Int("k")}
		if k.k < 1 || k.k > E {
			return fmt.Errorf("moe.topk: k=%d out of range [1, %d]", k.k, E)
		}
		e.node, err = b.indexOp(fmt.Sprintf("moe.topk(%d)%v", k.k, args[0].shape), e.shape, k, x)
		return err
	}, ir.OpMoETopK)
	impls.Implement(func(b *builder, v *ir.Value, args []*entry, e *entry) error {
		var err error
		e.node, err = b.custom(fmt.Sprintf("moe.load%v->%v", args[0].shape, e.shape), e.shape, loadK{}, nil, args[0].node)
		return err
	}, ir.OpMoELoad)
	impls.Implement(fused(func(b *builder, v *ir.Value, nodes []*G.Node, shapes [][]int, e *entry) error {
		x, w := shapes[0], shapes[3]
		if len(w) != 3 || len(x) == 0 || w[2] != lastDim(x) {
			return fmt.Errorf("moe.experts: want x [..., C] and weights [E, H, C], got %v and %v", x, w)
		}
		p := moeShape(shapes, v.Attrs)
		var err error
		e.node, err = b.moeExperts(nodes, p, e.shape)
		return err
	}), ir.OpMoEExperts)
}

// moeShape is the kernels' description of a moe.experts with operand
// shapes in (x, idx, gates, w1, w3, w2).
func moeShape(in [][]int, attrs ir.Attrs) kernels.MoEExperts {
	x, w := in[0], in[3]
	return kernels.MoEExperts{N: prod(x) / w[2], K: lastDim(in[1]), C: w[2], H: w[1], E: w[0], GELU: attrs.String("act") == ir.OpGELU}
}

type topkK struct{ e, k int }

func (k topkK) index32(x [][]float32, _ [][]int, y []int) error {
	kernels.TopK(x[0], y, k.e, k.k)
	return nil
}
func (k topkK) index64(x [][]float64, _ [][]int, y []int) error {
	kernels.TopK(x[0], y, k.e, k.k)
	return nil
}

type loadK struct{}

func (loadK) f32(_ [][]float32, idx [][]int, y []float32) error {
	return kernels.ExpertLoad(idx[0], y)
}
func (loadK) f64(_ [][]float64, idx [][]int, y []float64) error {
	return kernels.ExpertLoad(idx[0], y)
}

// moeK is the forward of moe.experts; plan and st (the kernels' side
// slots) carry the routing and x·W1ᵀ, x·W3ᵀ to the backward (st is nil
// in a graph without backward: nothing is kept); tmp is the graph's
// shared scratch.
type moeK struct {
	p       kernels.MoEExperts
	plan    *kernels.MoEPlan
	st, tmp *kernels.Side
}

func (k moeK) f32(x [][]float32, idx [][]int, y []float32) error {
	return kernels.MoEExpertsFwd(k.p, x[0], idx[0], x[1], x[2], x[3], x[4], y, k.plan, k.st, k.tmp)
}
func (k moeK) f64(x [][]float64, idx [][]int, y []float64) error {
	return kernels.MoEExpertsFwd(k.p, x[0], idx[0], x[1], x[2], x[3], x[4], y, k.plan, k.st, k.tmp)
}

// moeGradK is the backward: its float inputs are the forward's gates,
// w1, w3, w2, its output (which orders it after the forward), the
// output's gradient and x (whose tokens it gathers again); the gradients
// are those of the forward's operands (x, idx, gates, w1, w3, w2; idx has
// none).
type moeGradK struct {
	moeK
	g *grads
}

func (k moeGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	moeBwd(k, x, y)
	return nil
}
func (k moeGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	moeBwd(k, x, y)
	return nil
}

func moeBwd[T float](k moeGradK, x [][]T, y []T) {
	d := func(i int) []T { return gradDst(k.g, y, i) }
	kernels.MoEExpertsBwd(k.p, x[6], x[0], x[1], x[2], x[3], x[5], d(0), d(2), d(3), d(4), d(5), k.plan, k.st, k.tmp)
}

// moeExperts: children x, idx, gates, w1, w3, w2.
func (b *builder) moeExperts(c []*G.Node, p kernels.MoEExperts, out []int) (*G.Node, error) {
	k := moeK{p: p, plan: &kernels.MoEPlan{}, tmp: b.scratch}
	if b.opts.Grad {
		k.st = &kernels.Side{}
	}
	name := b.fusedName(fmt.Sprintf("moe.experts(%d,%d,%d,%v)", p.E, p.K, p.H, p.GELU), out)
	grad := func(o *op, in G.Nodes, y, gy *G.Node) (G.Nodes, error) {
		return b.multiGrad(name+"_grad", o, in, func(g *grads) kernel { return moeGradK{k, g} },
			in[2], in[3], in[4], in[5], y, gy, in[0])
	}
	return b.custom(name, out, k, grad, c...)
}
