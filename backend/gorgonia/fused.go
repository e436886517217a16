package gorgonia

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
	"github.com/mhcc/mhcc/ir"
)

// The fused ops of ir/ops.go (created by the -O2 fusion passes). Each is
// one custom op whose forward kernel does the whole computation and whose
// backward is one hand-written kernel computing the gradients of all its
// inputs at once (the kernels package, one file per op):
//
//	rmsnorm        x [..., C], g [C]; backward recomputes 1/r per row
//	sinkhorn       L [..., n, n]; backward recomputes the 2t+1 iterates per
//	               matrix (the paper's approach) and backpropagates through
//	               every half-step
//	hc.coeffs      one product x·phi, RMS divide, α, bias, σ / 2σ epilogue;
//	               keeps m = x·phi/r and 1/r ([N, n²+2n] + [N]) for the
//	               backward (two products: dphi = xᵀ·dz, dx = dz·phiᵀ + RMS
//	               term). The products are thin (n²+2n = 24 columns at n=4):
//	               x·phi and dz·phiᵀ run the packed GEMM (2–3× faster there
//	               than the register-blocked thin kernel), dphi vHCDphi
//	hc.read        one pass over the streams, forward and backward
//	hc.write       one pass over the streams: reads X and y once per token
//	attention      per (batch, head): S = q·kᵀ (GEMM), masked softmax, P·v
//	               (GEMM). The forward keeps P ([..., T, T] floats, which the
//	               unfused graph keeps too) and nothing else; the backward
//	               reads P instead of recomputing it: dv = Pᵀ·G, dP = G·vᵀ,
//	               dS = P⊙(dP − rowsum(P⊙dP))·scale, dq = dS·k, dk = dSᵀ·q.
//	               Causal with T ≥ 64: every GEMM skips the masked blocks
//	               (row blocks of 32; ~60% of the work at T = 128)
//	cross_entropy  log-softmax + pick + mean; keeps the probabilities
//	matmul.concat  x·[w₁|w₂|…] as one GEMM against the packed weights;
//	               backward: one GEMM for dx, one for d[w₁|w₂|…], split
//	gelu           one elementwise pass (float32: AVX2 blocks, else the
//	               fast tanh of kernels/fastmath.go); keeps tanh u for the backward
//
// float32 kernels run AVX2/FMA code (kernels/vec_cgo.go) when cgo on amd64
// and the CPU allow, else the generic Go code, which float64 graphs
// (gradient checks) always use; kernels.TestVectorKernels compares the two.
//
// State that a backward needs from its forward (m, P, probabilities) lives
// in a side buffer (kernels.Side) shared by the two kernels: the backward op takes the
// forward's output node as an input, so it always runs after the forward of
// the same Run. Gradients beyond the first come out of the backward kernel
// through side buffers exposed by "part" nodes (see grads).

// grads describes the outputs of a backward kernel that computes the
// gradients of several inputs at once: gradient i goes to the kernel's own
// output if i == first, to side slot i (exposed by a part node) otherwise,
// and nowhere if !need[i].
type grads struct {
	need  []bool
	first int
	sizes []int
	kernels.Side
	// acc, when set, replaces the buffer of gradient accIdx (streams.go).
	acc    *bufRef
	accIdx int
}

// dst returns where gradient i goes (nil when it is not needed).
func gradDst[T float](g *grads, y []T, i int) []T {
	if !g.need[i] {
		return nil
	}
	if i == g.first {
		return y
	}
	if g.acc != nil && i == g.accIdx {
		return refBuf[T](g.acc, g.sizes[i])
	}
	return kernels.SideBuf[T](&g.Side, i, g.sizes[i])
}

// partK is the kernel of a part node: run (op.go) returns the side buffer
// the backward filled; the kernel itself does nothing.
type partK struct {
	g *grads
	i int
}

func (partK) f32([][]float32, [][]int, []float32) error { return nil }
func (partK) f64([][]float64, [][]int, []float64) error { return nil }

// multiGrad applies a backward kernel built by mk (given the output
// description) to children and returns one gradient node per input, nil
// where o.wrt is false.
func (b *builder) multiGrad(name string, o *op, inputs G.Nodes, mk func(*grads) kernel, children ...*G.Node) (G.Nodes, error) {
	res := make(G.Nodes, len(inputs))
	g := &grads{need: make([]bool, len(inputs)), first: -1, sizes: make([]int, len(inputs))}
	for i, in := range inputs {
		g.need[i] = o.wrt[i]
		g.sizes[i] = in.Shape().TotalSize()
		if g.need[i] && g.first < 0 {
			g.first = i
		}
	}
	if g.first < 0 {
		return res, nil
	}
	if o.acc != nil && g.need[o.accIdx] {
		g.acc, g.accIdx = o.acc, o.accIdx
	}
	main, err := b.gradOp(name, inputs[g.first].Shape(), mk(g), children...)
	if err != nil {
		return nil, err
	}
	if g.acc != nil && g.accIdx == g.first {
		main.Op().(*op).dst = g.acc
	}
	res[g.first] = main
	for i := g.first + 1; i < len(inputs); i++ {
		if !g.need[i] {
			continue
		}
		if res[i], err = b.gradOp(fmt.Sprintf("%s_part%d", name, i), inputs[i].Shape(), partK{g, i}, main); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// fusedName names a stateful fused op uniquely (Gorgonia merges nodes whose
// op hashes and children are equal; ops with side buffers must never be
// merged with another op's).
func (b *builder) fusedName(op string, shape []int) string {
	b.nfused++
	return fmt.Sprintf("%s%v#%d", op, shape, b.nfused)
}

// attrFloat reads a float attribute, accepting an integer value too.
func attrFloat(v *ir.Value, key string) float64 {
	switch x := v.Attrs.Get(key).(type) {
	case float64:
		return x
	case int:
		return float64(x)
	}
	return 0
}

// lowerFused lowers one fused op.
func (b *builder) lowerFused(v *ir.Value, args []*entry, e *entry) error {
	nodes := make([]*G.Node, len(args))
	shapes := make([][]int, len(args))
	for i, a := range args {
		n, err := b.node(a)
		if err != nil {
			return fmt.Errorf("argument %d: %w", i, err)
		}
		nodes[i], shapes[i] = n, a.shape
	}
	last := func(s []int) int {
		if len(s) == 0 {
			return 1
		}
		return s[len(s)-1]
	}
	var err error
	switch v.Op {
	case ir.OpRMSNorm:
		c := last(shapes[0])
		if len(shapes[0]) == 0 || prod(shapes[1]) != c {
			return fmt.Errorf("rmsnorm: want x [..., C] and g [C], got %v and %v", shapes[0], shapes[1])
		}
		e.node, err = b.rmsnorm(nodes[0], nodes[1], shapes[0], attrFloat(v, "eps"), b.streams.role(v))
	case ir.OpSinkhorn:
		s := shapes[0]
		iters := v.Attrs.Int("iters")
		if r := len(s); r < 2 || s[r-1] != s[r-2] || iters < 1 {
			return fmt.Errorf("sinkhorn: want [..., n, n] and iters ≥ 1, got %v iters=%d", s, iters)
		}
		e.node, err = b.sinkhorn(nodes[0], s, iters)
	case ir.OpHCCoeffs:
		n := v.Attrs.Int("n")
		w := ir.HCCoeffsWidth(n, v.Attrs)
		k := last(shapes[0])
		if n < 1 || len(shapes[0]) == 0 || !sameShape(shapes[1], []int{k, w}) || prod(shapes[2]) != 3 || prod(shapes[3]) != w {
			return fmt.Errorf("hc.coeffs n=%d: bad operand shapes %v %v %v %v", n, shapes[0], shapes[1], shapes[2], shapes[3])
		}
		e.node, err = b.hcCoeffs(nodes, shapes[0], n, w, attrFloat(v, "eps"), b.streams.role(v))
	case ir.OpHCRead:
		X := shapes[1]
		if len(X) < 2 || prod(shapes[0]) != prod(X[:len(X)-1]) {
			return fmt.Errorf("hc.read: want hPre [..., n] and X [..., n, C], got %v and %v", shapes[0], X)
		}
		e.node, err = b.hcRead(nodes[0], nodes[1], X, b.streams.role(v))
	case ir.OpHCWrite:
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
		e.node, err = b.hcWrite(nodes, X, b.streams.role(v))
	case ir.OpAttention:
		q, k, vv := shapes[0], shapes[1], shapes[2]
		r := len(q)
		if r < 2 || !sameShape(q, k) || len(vv) != r || !sameShape(q[:r-1], vv[:r-1]) {
			return fmt.Errorf("attention: want q, k [..., T, d] and v [..., T, dv], got %v %v %v", q, k, vv)
		}
		e.node, err = b.attention(nodes, q, vv[r-1], attrFloat(v, "scale"), v.Attrs.Bool("causal"))
	case ir.OpCrossEntropy:
		x := shapes[0]
		if len(x) == 0 || args[1].ints == nil || prod(shapes[1]) != prod(x[:len(x)-1]) {
			return fmt.Errorf("cross_entropy: want logits [..., V] and i32 targets [...], got %v and %v", x, shapes[1])
		}
		e.node, err = b.crossEntropy(nodes[0], nodes[1], x)
	case ir.OpMatmulConcat:
		if len(args) < 2 {
			return fmt.Errorf("matmul.concat needs x and at least one weight")
		}
		k := last(shapes[0])
		var ns []int
		for _, ws := range shapes[1:] {
			if len(ws) != 2 || ws[0] != k {
				return fmt.Errorf("matmul.concat: weight %v does not match x %v", ws, shapes[0])
			}
			ns = append(ns, ws[1])
		}
		e.node, err = b.matmulConcat(nodes, shapes[0], ns)
	case ir.OpGELU:
		e.node, err = b.gelu(nodes[0], shapes[0])
	default:
		return fmt.Errorf("unsupported fused op %q", v.Op)
	}
	return err
}

// ---------------------------------------------------------------- rmsnorm

type rmsK struct {
	c   int
	eps float64
}

func (k rmsK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.RMSNormFwd(x[0], x[1], y, k.c, k.eps)
	return nil
}
func (k rmsK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.RMSNormFwd(x[0], x[1], y, k.c, k.eps)
	return nil
}

type rmsGradK struct {
	rmsK
	g  *grads
	s  *kernels.Side
	in *member // set: x is a recomputed stream tensor (streams.go)
}

func rmsGrad[T float](k rmsGradK, x [][]T, y []T) {
	kernels.RMSNormBwd(streamX(k.in, x[0]), x[1], x[2], gradDst(k.g, y, 0), gradDst(k.g, y, 1), k.s, k.c, k.eps)
}

func (k rmsGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	rmsGrad(k, x, y)
	return nil
}
func (k rmsGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	rmsGrad(k, x, y)
	return nil
}

// rmsnorm: role from the stream plan (set when x is a stream tensor).
func (b *builder) rmsnorm(x, g *G.Node, shape []int, eps float64, role *hcRole) (*G.Node, error) {
	c := shape[len(shape)-1]
	name := fmt.Sprintf("rmsnorm(%v)%v", eps, shape)
	k := rmsK{c, eps}
	in := role.inputOf()
	grad := func(o *op, inputs G.Nodes, _, gy *G.Node) (G.Nodes, error) {
		s := &kernels.Side{}
		return b.multiGrad(name+"_grad", o, inputs, func(g *grads) kernel { return rmsGradK{k, g, s, in} }, inputs[0], inputs[1], gy)
	}
	return b.custom(name, shape, k, grad, x, g)
}

// ---------------------------------------------------------------- gelu

type geluK struct {
	st *kernels.Side // slot 0: t = tanh(√(2/π)·(x + 0.044715·x³)), for the backward
}

func (k geluK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.GELUFwd(x[0], y, kernels.SideBuf[float32](k.st, 0, len(y)))
	return nil
}
func (k geluK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.GELUFwd(x[0], y, kernels.SideBuf[float64](k.st, 0, len(y)))
	return nil
}

// geluGradK's inputs are x, the forward's output (only so that it runs
// after the forward that filled st) and the output gradient.
type geluGradK geluK

func (k geluGradK) f32(x [][]float32, _ [][]int, y []float32) error {
	kernels.GELUBwd(x[0], kernels.SideBuf[float32](k.st, 0, len(y)), x[2], y)
	return nil
}
func (k geluGradK) f64(x [][]float64, _ [][]int, y []float64) error {
	kernels.GELUBwd(x[0], kernels.SideBuf[float64](k.st, 0, len(y)), x[2], y)
	return nil
}

// gelu applies the fused GELU. The forward keeps tanh u (one float per
// element, as the unfused graph keeps its tanh output) and the backward
// reads it instead of recomputing it.
func (b *builder) gelu(x *G.Node, shape []int) (*G.Node, error) {
	k := geluK{st: &kernels.Side{}}
	name := b.fusedName("gelu", shape)
	grad := func(o *op, in G.Nodes, y, gy *G.Node) (G.Nodes, error) {
		r, err := b.gradOp(name+"_grad", in[0].Shape(), geluGradK(k), in[0], y, gy)
		return G.Nodes{r}, err
	}
	return b.custom(name, shape, k, grad, x)
}

// ---------------------------------------------------------------- sinkhorn

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

// ---------------------------------------------------------------- hc.coeffs

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
		tmp := &kernels.Side{}
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

// ---------------------------------------------------------------- hc.read

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

// ---------------------------------------------------------------- hc.write

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
	if k.role != nil && k.role.xGrad != nil {
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

// ---------------------------------------------------------------- attention

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
		tmp := &kernels.Side{}
		// y orders the backward after the forward that filled P
		return b.multiGrad(name+"_grad", o, in, func(g *grads) kernel { return attnGradK{k, g, tmp} },
			in[0], in[1], in[2], y, gy)
	}
	return b.custom(name, out, k, grad, c...)
}

// ---------------------------------------------------------------- cross_entropy

type ceK struct {
	v  int
	st *kernels.Side // slot 0: the probabilities [N, V]; slot 1: per-chunk losses
}

func (k ceK) f32(x [][]float32, idx [][]int, y []float32) error {
	return kernels.CrossEntropyFwd(x[0], idx[0], y, k.v, k.st)
}
func (k ceK) f64(x [][]float64, idx [][]int, y []float64) error {
	return kernels.CrossEntropyFwd(x[0], idx[0], y, k.v, k.st)
}

type ceGradK ceK

// inputs: targets (int), the loss (orders the backward after the forward),
// the incoming gradient
func (k ceGradK) f32(x [][]float32, idx [][]int, y []float32) error {
	kernels.CrossEntropyBwd(idx[0], x[1][0], y, k.v, k.st)
	return nil
}
func (k ceGradK) f64(x [][]float64, idx [][]int, y []float64) error {
	kernels.CrossEntropyBwd(idx[0], x[1][0], y, k.v, k.st)
	return nil
}

func (b *builder) crossEntropy(x, tgt *G.Node, xs []int) (*G.Node, error) {
	k := ceK{v: xs[len(xs)-1], st: &kernels.Side{}}
	name := b.fusedName("cross_entropy", xs)
	grad := func(o *op, in G.Nodes, y, gy *G.Node) (G.Nodes, error) {
		r, err := b.gradOp(name+"_grad", in[0].Shape(), ceGradK(k), in[1], y, gy)
		return G.Nodes{r, nil}, err
	}
	return b.custom(name, nil, k, grad, x, tgt)
}

// ---------------------------------------------------------------- matmul.concat

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
		gk := mmcK{k: k.k, ns: ns, st: &kernels.Side{}} // its own packing buffer
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
