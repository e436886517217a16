package gorgonia

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
	"github.com/mhcc/mhcc/ir"
)

// Elementwise ops (ir/ops_elementwise.go): the unary ops, the binary ops
// with broadcasting, and binary ops with a constant operand, which becomes
// part of the op (a scalar op).

var unaryKinds = map[string]int{
	ir.OpNeg: kernels.UnaryNeg, ir.OpExp: kernels.UnaryExp, ir.OpLog: kernels.UnaryLog, ir.OpSqrt: kernels.UnarySqrt,
	ir.OpSquare: kernels.UnarySquare, ir.OpSigmoid: kernels.UnarySigmoid, ir.OpTanh: kernels.UnaryTanh, ir.OpRelu: kernels.UnaryRelu,
}

func init() {
	impls.Implement(func(b *builder, v *ir.Value, a []*entry, e *entry) error { return b.unary(v.Op, a[0], e) },
		ir.OpNeg, ir.OpExp, ir.OpLog, ir.OpSqrt, ir.OpSquare, ir.OpSigmoid, ir.OpTanh, ir.OpRelu)
	impls.Implement(func(b *builder, v *ir.Value, a []*entry, e *entry) error { return b.binary(v.Op, a[0], a[1], e) },
		ir.OpAdd, ir.OpSub, ir.OpMul, ir.OpDiv)
}

// fold evaluates an elementwise op on constants with the op table's
// scalar function.
func fold(op string, x ...float64) float64 {
	def, _ := ir.LookupOp(op)
	return def.Scalar(x...)
}

func (b *builder) unary(opName string, a, e *entry) error {
	if a.isConst {
		e.isConst, e.c = true, fold(opName, a.c)
		return nil
	}
	var err error
	e.node, err = b.unaryOp(unaryKinds[opName], a.node, e.shape)
	return err
}

type unaryK struct{ kind int }

func (k unaryK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.UnaryFwd(k.kind, x[0], y)
	return nil
}
func (k unaryK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.UnaryFwd(k.kind, x[0], y)
	return nil
}

type unaryGradK unaryK

func (k unaryGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.UnaryGrad(k.kind, x[0], x[1], y)
	return nil
}
func (k unaryGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.UnaryGrad(k.kind, x[0], x[1], y)
	return nil
}

func (b *builder) unaryOp(kind int, x *G.Node, shape []int) (*G.Node, error) {
	name := fmt.Sprintf("%s%v", kernels.UnaryNames[kind], shape)
	grad := func(o *op, in G.Nodes, output, g *G.Node) (G.Nodes, error) {
		xy := in[0]
		if kernels.UnaryGradUsesY[kind] {
			xy = output
		}
		r, err := b.gradOp(name+"_grad", in[0].Shape(), unaryGradK{kind}, xy, g)
		return G.Nodes{r}, err
	}
	return b.custom(name, shape, unaryK{kind}, grad, x)
}

var binKinds = map[string]int{ir.OpAdd: kernels.BinAdd, ir.OpSub: kernels.BinSub, ir.OpMul: kernels.BinMul, ir.OpDiv: kernels.BinDiv}

func (b *builder) binary(opName string, x, y, e *entry) error {
	kind := binKinds[opName]
	out := e.shape
	switch {
	case x.isConst && y.isConst:
		e.isConst, e.c = true, fold(opName, x.c, y.c)
		return nil
	case y.isConst && slices.Equal(x.shape, out):
		n, err := b.scalarOp(kind, y.c, x.node, out)
		e.node = n
		return err
	case x.isConst && slices.Equal(y.shape, out):
		rk := map[int]int{kernels.BinAdd: kernels.BinAdd, kernels.BinMul: kernels.BinMul, kernels.BinSub: kernels.BinRSub, kernels.BinDiv: kernels.BinRDiv}[kind]
		n, err := b.scalarOp(rk, x.c, y.node, out)
		e.node = n
		return err
	}
	xn, err := b.node(x)
	if err != nil {
		return err
	}
	yn, err := b.node(y)
	if err != nil {
		return err
	}
	e.node, err = b.broadcastBinary(kind, xn, yn, x.shape, y.shape, out)
	return err
}

type binK struct {
	kind int
	p    *kernels.Plan
}

func (k binK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.BinFwd(k.kind, k.p, x[0], x[1], y)
	return nil
}
func (k binK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.BinFwd(k.kind, k.p, x[0], x[1], y)
	return nil
}

type binGradK struct {
	kind, w int
	p       *kernels.Plan
	ab      bool // inputs are (a, b, g) rather than (g)
	direct  bool // a, b and y have one shape: binGradDirect, no accumulation
}

// needsZero: the broadcast gradient accumulates into its output (op.Do
// clears a reused buffer first); the direct one writes every element.
func (k binGradK) needsZero() bool { return !k.direct }

func (k binGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	if k.direct {
		if k.ab {
			kernels.BinGradDirect(k.kind, k.w, x[0], x[1], x[2], y)
		} else {
			kernels.BinGradDirect(k.kind, k.w, nil, nil, x[0], y)
		}
		return nil
	}
	if k.ab {
		kernels.BinGrad(k.kind, k.w, k.p, x[0], x[1], x[2], y)
	} else {
		kernels.BinGrad(k.kind, k.w, k.p, nil, nil, x[0], y)
	}
	return nil
}
func (k binGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	if k.direct {
		if k.ab {
			kernels.BinGradDirect(k.kind, k.w, x[0], x[1], x[2], y)
		} else {
			kernels.BinGradDirect(k.kind, k.w, nil, nil, x[0], y)
		}
		return nil
	}
	if k.ab {
		kernels.BinGrad(k.kind, k.w, k.p, x[0], x[1], x[2], y)
	} else {
		kernels.BinGrad(k.kind, k.w, k.p, nil, nil, x[0], y)
	}
	return nil
}

// broadcastBinary is a ∘ b for any broadcast-compatible shapes and ranks.
func (b *builder) broadcastBinary(kind int, x, y *G.Node, xs, ys, out []int) (*G.Node, error) {
	p, err := kernels.BcastPlan(out, out, xs, ys)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("bcast_%s%v%v->%v", kernels.BinNames[kind], xs, ys, out)
	grad := func(o *op, in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		res := make(G.Nodes, 2)
		shapes := [2][]int{xs, ys}
		for w := 0; w < 2; w++ {
			if !o.wrt[w] {
				continue
			}
			if (kind == kernels.BinAdd || (kind == kernels.BinSub && w == 0)) && slices.Equal(shapes[w], out) {
				n, err := b.passGrad(g, in[w])
				if err != nil {
					return nil, err
				}
				res[w] = n
				continue
			}
			ab := kind == kernels.BinMul || kind == kernels.BinDiv
			children := G.Nodes{g}
			if ab {
				children = G.Nodes{in[0], in[1], g}
			}
			direct := slices.Equal(xs, out) && slices.Equal(ys, out)
			n, err := b.gradOp(fmt.Sprintf("%s_grad%d", name, w), in[w].Shape(), binGradK{kind, w, p, ab, direct}, children...)
			if err != nil {
				return nil, err
			}
			res[w] = n
		}
		return res, nil
	}
	return b.custom(name, out, binK{kind, p}, grad, x, y)
}

type scalarK struct {
	kind int
	c    float64
}

func (k scalarK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.ScalarFwd(k.kind, float32(k.c), x[0], y)
	return nil
}
func (k scalarK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.ScalarFwd(k.kind, k.c, x[0], y)
	return nil
}

type scalarGradK scalarK

func (k scalarGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	if k.kind == kernels.BinRDiv {
		kernels.ScalarGrad(k.kind, float32(k.c), x[0], x[1], y)
	} else {
		kernels.ScalarGrad(k.kind, float32(k.c), nil, x[0], y)
	}
	return nil
}
func (k scalarGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	if k.kind == kernels.BinRDiv {
		kernels.ScalarGrad(k.kind, k.c, x[0], x[1], y)
	} else {
		kernels.ScalarGrad(k.kind, k.c, nil, x[0], y)
	}
	return nil
}

// scalarOp is x ∘ c (or c ∘ x for kRSub/kRDiv) with c baked into the op.
func (b *builder) scalarOp(kind int, c float64, x *G.Node, shape []int) (*G.Node, error) {
	name := fmt.Sprintf("scalar_%s(%v)%v", kernels.BinNames[kind], c, shape)
	grad := func(o *op, in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		if kind == kernels.BinAdd || kind == kernels.BinSub {
			n, err := b.passGrad(g, in[0])
			return G.Nodes{n}, err
		}
		children := G.Nodes{g}
		if kind == kernels.BinRDiv {
			children = G.Nodes{in[0], g}
		}
		n, err := b.gradOp(name+"_grad", in[0].Shape(), scalarGradK{kind, c}, children...)
		return G.Nodes{n}, err
	}
	return b.custom(name, shape, scalarK{kind, c}, grad, x)
}
