package gorgonia

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
	"github.com/mhcc/mhcc/ir"
)

func init() {
	// sinkhorn's vector kernel works on eight matrices at a time in
	// scratch of its own, per chunk: the matrices, and for the backward
	// every iterate and the reciprocal sums of every half-step
	keeps(func(in [][]int, _ []int, attrs ir.Attrs, grad bool) (float64, float64) {
		n := float64(lastDim(in[0]))
		it := float64(attrs.Int("iters"))
		f := 8 * n * n
		if grad {
			f += 8 * ((2*it+1)*n*n + 2*it*n + n*n)
		}
		return workers() * f, 0
	}, ir.OpSinkhorn)
	// hc.coeffs keeps m = x·phi/r [N, w] and 1/r [N]; its backward needs
	// dz [N, w], [N] and per-chunk partials of dalpha, dbias and dphi
	keeps(func(in [][]int, out []int, _ ir.Attrs, _ bool) (float64, float64) {
		N := elems(in[0]) / float64(lastDim(in[0]))
		return N*float64(lastDim(out)) + N, 0
	}, ir.OpHCCoeffs)
	scratches(func(in [][]int, out []int, _ ir.Attrs) float64 {
		k, w := float64(lastDim(in[0])), float64(lastDim(out))
		N := elems(in[0]) / k
		return N*w + N + workers()*(w+3+k*w)
	}, ir.OpHCCoeffs)
	// hc.coeffs multiplies chunks of rows of x [N, k] by phi [k, w] side
	// by side, and its backward dz by phiᵀ
	packs(func(in [][]int, out []int, _ ir.Attrs, grad bool) (float64, float64) {
		k, w := lastDim(in[0]), lastDim(out)
		N := prod(in[0]) / k
		if grad {
			return 0, max(packed(N, w, k), packed(N, k, w))
		}
		return 0, packed(N, w, k)
	}, ir.OpHCCoeffs)
	impls.Implement(fused(func(b *builder, v *ir.Value, nodes []*G.Node, shapes [][]int, e *entry) error {
		s := shapes[0]
		iters := v.Attrs.Int("iters")
		if r := len(s); r < 2 || s[r-1] != s[r-2] || iters < 1 {
			return fmt.Errorf("sinkhorn: want [..., n, n] and iters ≥ 1, got %v iters=%d", s, iters)
		}
		var err error
		e.node, err = b.sinkhorn(nodes[0], s, iters)
		return err
	}), ir.OpSinkhorn)
	impls.Implement(fused(func(b *builder, v *ir.Value, nodes []*G.Node, shapes [][]int, e *entry) error {
		n := v.Attrs.Int("n")
		w := ir.HCCoeffsWidth(n, v.Attrs)
		k := lastDim(shapes[0])
		if n < 1 || len(shapes[0]) == 0 || !slices.Equal(shapes[1], []int{k, w}) || prod(shapes[2]) != 3 || prod(shapes[3]) != w {
			return fmt.Errorf("hc.coeffs n=%d: bad operand shapes %v %v %v %v", n, shapes[0], shapes[1], shapes[2], shapes[3])
		}
		var err error
		e.node, err = b.hcCoeffs(nodes, shapes[0], n, w, v.Attrs.Float("eps"), b.streams.role(v))
		return err
	}), ir.OpHCCoeffs)
	impls.Implement(fused(func(b *builder, v *ir.Value, nodes []*G.Node, shapes [][]int, e *entry) error {
		X := shapes[1]
		if len(X) < 2 || prod(shapes[0]) != prod(X[:len(X)-1]) {
			return fmt.Errorf("hc.read: want hPre [..., n] and X [..., n, C], got %v and %v", shapes[0], X)
		}
		var err error
		e.node, err = b.hcRead(nodes[0], nodes[1], X, b.streams.role(v))
		return err
	}), ir.OpHCRead)
	impls.Implement(fused(func(b *builder, v *ir.Value, nodes []*G.Node, shapes [][]int, e *entry) error {
		X := shapes[1]
		r := len(X)
		if r < 2 {
			return fmt.Errorf("hc.write: X must be [..., n, C], got %v", X)
		}
		n, c := X[r-2], X[r-1]
		tok := prod(X[:r-2])
		if prod(shapes[0]) != tok*n*n || prod(shapes[2]) != tok*n || prod(shapes[3]) != tok*c {
			return fmt.Errorf("hc.write: bad operand shapes %v %v %v %v", shapes[0], X, shapes[2], shapes[3])
		}
		var err error
		e.node, err = b.hcWrite(nodes, X, b.streams.role(v))
		return err
	}), ir.OpHCWrite)
}

// The hyper-connection ops (ir/ops_hc.go), all fused: sinkhorn, hc.coeffs,
// hc.read and hc.write. The stream plan (streams.go) gives the last three
// their roles: shared gradient buffers and recomputed stream tensors.

type sinkK struct{ n, iters int }

func (k sinkK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.SinkhornFwd(x[0], y, k.n, k.iters)
	return nil
}
func (k sinkK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.SinkhornFwd(x[0], y, k.n, k.iters)
	return nil
}

type sinkGradK sinkK

func (k sinkGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.SinkhornBwd(x[0], x[1], y, k.n, k.iters)
	return nil
}
func (k sinkGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.SinkhornBwd(x[0], x[1], y, k.n, k.iters)
	return nil
}

func (b *builder) sinkhorn(x *G.Node, shape []int, iters int) (*G.Node, error) {
	n := shape[len(shape)-1]
	name := fmt.Sprintf("sinkhorn(%d)%v", iters, shape)
	grad := func(o *op, in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		r, err := b.gradOp(name+"_grad", in[0].Shape(), sinkGradK{n, iters}, in[0], g)
		return G.Nodes{r}, err
	}
	return b.custom(name, shape, sinkK{n, iters}, grad, x)
}

type hcCoeffsK struct {
	n, k int
	eps  float64
	st   *kernels.Side // slot 0: m = x·phi/r [N, w]; slot 1: 1/r [N]
}

func (k hcCoeffsK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.HCCoeffsFwd(x[0], x[1], x[2], x[3], y, k.st, k.n, k.k, k.eps)
	return nil
}
func (k hcCoeffsK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.HCCoeffsFwd(x[0], x[1], x[2], x[3], y, k.st, k.n, k.k, k.eps)
	return nil
}

type hcCoeffsGradK struct {
	hcCoeffsK
	g    *grads
	tmp  *kernels.Side
	role *hcRole // nil, or the stream plan's (streams.go)
}

func hcCoeffsGrad[T float](k hcCoeffsGradK, x [][]T, y []T) {
	X := streamX(k.role.inputOf(), x[0])
	if k.role != nil && k.role.parts != nil {
		// all of dX here, from the parts hc.write and hc.read left
		kernels.HCCoeffsBwdX(X, x[1], x[2], x[3], x[4], k.st, k.tmp, k.n, k.k, kernelParts[T](k.role.parts),
			gradDst(k.g, y, 0), gradDst(k.g, y, 1), gradDst(k.g, y, 2), gradDst(k.g, y, 3))
		return
	}
	// with a stream plan, dx adds to what hc.write and hc.read put there
	accX := k.role != nil && k.role.xGrad != nil
	kernels.HCCoeffsBwd(X, x[1], x[2], x[3], x[4], k.st, k.tmp, k.n, k.k, accX,
		gradDst(k.g, y, 0), gradDst(k.g, y, 1), gradDst(k.g, y, 2), gradDst(k.g, y, 3))
}

func (k hcCoeffsGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	hcCoeffsGrad(k, x, y)
	return nil
}
func (k hcCoeffsGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	hcCoeffsGrad(k, x, y)
	return nil
}

// hcCoeffs: children x, phi, alpha, bias; role from the stream plan.
func (b *builder) hcCoeffs(c []*G.Node, xs []int, n, w int, eps float64, role *hcRole) (*G.Node, error) {
	out := append(append([]int(nil), xs[:len(xs)-1]...), w)
	name := b.fusedName(fmt.Sprintf("hc.coeffs(%d,%d,%v)", n, w, eps), xs)
	k := hcCoeffsK{n: n, k: xs[len(xs)-1], eps: eps, st: &kernels.Side{}}
	grad := func(o *op, in G.Nodes, y, gy *G.Node) (G.Nodes, error) {
		tmp := b.scratch
		return b.multiGrad(name+"_grad", o, in, func(g *grads) kernel { return hcCoeffsGradK{k, g, tmp, role} },
			in[0], in[1], in[2], y, gy)
	}
	node, err := b.custom(name, out, k, grad, c...)
	if err == nil && role != nil && role.xGrad != nil {
		o := node.Op().(*op)
		o.acc, o.accIdx = role.xGrad, 0 // always final (the plan's hcRole.final)
	}
	return node, err
}

type hcReadK struct{ n, c int }

func (k hcReadK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.HCReadFwd(x[0], x[1], y, k.n, k.c)
	return nil
}
func (k hcReadK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.HCReadFwd(x[0], x[1], y, k.n, k.c)
	return nil
}

type hcReadGradK struct {
	hcReadK
	g    *grads
	role *hcRole
}

func hcReadGrad[T float](k hcReadGradK, x [][]T, y []T) {
	X := streamX(k.role.inputOf(), x[1])
	dX, add := gradDst(k.g, y, 1), false
	if k.role != nil && k.role.parts != nil {
		// dX is hc.coeffs's to compute (streams.go)
		k.role.parts.H, k.role.parts.GU = x[0], x[2]
		kernels.HCReadBwd(x[0], X, x[2], gradDst(k.g, y, 0), nil, false, k.n, k.c)
		return
	}
	if k.role != nil && k.role.xGrad != nil {
		// hc.write's backward wrote its part of dX first
		add = true
		if dX == nil { // not final: X's gradient node is another op's
			dX = refBuf[T](k.role.xGrad, len(X))
		}
	}
	kernels.HCReadBwd(x[0], X, x[2], gradDst(k.g, y, 0), dX, add, k.n, k.c)
}

func (k hcReadGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	hcReadGrad(k, x, y)
	return nil
}
func (k hcReadGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	hcReadGrad(k, x, y)
	return nil
}

func (b *builder) hcRead(h, X *G.Node, xs []int, role *hcRole) (*G.Node, error) {
	r := len(xs)
	k := hcReadK{n: xs[r-2], c: xs[r-1]}
	out := append(append([]int(nil), xs[:r-2]...), k.c)
	name := fmt.Sprintf("hc.read%v", xs)
	grad := func(o *op, in G.Nodes, _, gy *G.Node) (G.Nodes, error) {
		return b.multiGrad(name+"_grad", o, in, func(g *grads) kernel { return hcReadGradK{k, g, role} }, in[0], in[1], gy)
	}
	node, err := b.custom(name, out, k, grad, h, X)
	if err == nil && role != nil && role.xGrad != nil {
		o := node.Op().(*op)
		if role.final {
			o.acc, o.accIdx = role.xGrad, 1
		} else {
			o.wrt[1] = false
		}
	}
	return node, err
}

type hcWriteK struct {
	n, c int
	out  *member // set: the output is recomputed (streams.go)
}

func (k hcWriteK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.HCWriteFwd(x[0], x[1], x[2], x[3], y, k.n, k.c)
	if k.out != nil {
		k.out.record(x[0], x[1], x[2], x[3])
	}
	return nil
}
func (k hcWriteK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.HCWriteFwd(x[0], x[1], x[2], x[3], y, k.n, k.c)
	if k.out != nil {
		k.out.record(x[0], x[1], x[2], x[3])
	}
	return nil
}

type hcWriteGradK struct {
	hcWriteK
	g    *grads
	role *hcRole
}

func hcWriteGrad[T float](k hcWriteGradK, x [][]T, y []T) {
	X := streamX(k.role.inputOf(), x[1])
	dX := gradDst(k.g, y, 1)
	if k.role != nil && k.role.parts != nil {
		// dX is hc.coeffs's to compute (streams.go)
		k.role.parts.R, k.role.parts.G = x[0], x[4]
		dX = nil
	} else if k.role != nil && k.role.xGrad != nil {
		// the first part of X's accumulated gradient (streams.go)
		dX = refBuf[T](k.role.xGrad, len(X))
	}
	kernels.HCWriteBwd(x[0], X, x[2], x[3], x[4], gradDst(k.g, y, 0), dX, gradDst(k.g, y, 2), gradDst(k.g, y, 3), k.n, k.c)
}

func (k hcWriteGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	hcWriteGrad(k, x, y)
	return nil
}
func (k hcWriteGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	hcWriteGrad(k, x, y)
	return nil
}

// hcWrite: children hRes, X, hPost, y; role from the stream plan.
func (b *builder) hcWrite(c []*G.Node, xs []int, role *hcRole) (*G.Node, error) {
	r := len(xs)
	k := hcWriteK{n: xs[r-2], c: xs[r-1]}
	if role != nil && role.out != nil {
		k.out = role.out
		k.out.n, k.out.c = k.n, k.c
	}
	name := fmt.Sprintf("hc.write%v", xs)
	grad := func(o *op, in G.Nodes, _, gy *G.Node) (G.Nodes, error) {
		return b.multiGrad(name+"_grad", o, in, func(g *grads) kernel { return hcWriteGradK{k, g, role} },
			in[0], in[1], in[2], in[3], gy)
	}
	node, err := b.custom(name, xs, k, grad, c...)
	if err == nil && role != nil {
		o := node.Op().(*op)
		if role.xGrad != nil {
			o.wrt[1] = false
		}
		if k.out != nil {
			o.dst = &bufRef{&k.out.seg.ch.store, k.out.i}
		}
	}
	return node, err
}
