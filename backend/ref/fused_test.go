package ref

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mhcc/mhcc/ir"
)

// Every fused op equals the primitive computation ir/ops.go defines it as,
// on random, non-symmetric inputs and for n ∈ {1, 2, 4} streams.

// fusedCase builds both forms of one op in a module and compares them.
type fusedCase struct {
	t   *testing.T
	c   *tb
	rng *rand.Rand
}

func newFusedCase(t *testing.T, seed uint64) *fusedCase {
	c := newTB(t, "B")
	c.binds["B"] = 3
	return &fusedCase{t: t, c: c, rng: rand.New(rand.NewPCG(seed, 11))}
}

// in declares a random f32 input with a leading symbolic B.
func (f *fusedCase) in(name string, scale float64, dims ...int) *ir.Value {
	shape := append(ir.Shape{ir.S("B")}, ir.Dims(dims...)...)
	n := 3
	for _, d := range dims {
		n *= d
	}
	d := make([]float64, n)
	for i := range d {
		d[i] = scale * f.rng.NormFloat64()
	}
	f.c.params[name] = d
	return f.c.b.Input(name, ir.Type{DType: ir.F32, Shape: shape})
}

// param declares a random constant-shape parameter.
func (f *fusedCase) param(name string, scale, offset float64, dims ...int) *ir.Value {
	n := 1
	for _, d := range dims {
		n *= d
	}
	d := make([]float64, n)
	for i := range d {
		d[i] = offset + scale*f.rng.NormFloat64()
	}
	return f.c.p(name, dims, d...)
}

// compare evaluates fused and primitive and checks they agree to 1e-12.
func (f *fusedCase) compare(what string, fused, prim *ir.Value) {
	f.t.Helper()
	if err := f.c.b.Err(); err != nil {
		f.t.Fatalf("%s: building: %v", what, err)
	}
	f.c.b.Output("fused", fused)
	f.c.b.Output("prim", prim)
	out, err := Eval(f.c.b.M, f.c.binds, f.c.params, f.c.inputs)
	if err != nil {
		f.t.Fatalf("%s: %v", what, err)
	}
	a, b := out["fused"], out["prim"]
	if !equalInts(a.Shape, b.Shape) {
		f.t.Fatalf("%s: shapes %v and %v", what, a.Shape, b.Shape)
	}
	for i := range a.Data {
		if d := math.Abs(a.Data[i] - b.Data[i]); d > 1e-12*math.Max(1, math.Abs(b.Data[i])) || math.IsNaN(a.Data[i]) {
			f.t.Fatalf("%s: [%d] fused %.17g, primitive %.17g", what, i, a.Data[i], b.Data[i])
		}
	}
}

func TestFusedRMSNorm(t *testing.T) {
	f := newFusedCase(t, 1)
	b := f.c.b
	x := f.in("x", 2, 5, 7)
	g := f.param("g", 0.5, 1, 7)
	fused := b.Apply(ir.OpRMSNorm, ir.Attrs{{Key: "eps", Val: 1e-5}}, x, g)
	prim := b.Mul(b.Div(x, b.Sqrt(b.Add(b.Mean(b.Square(x), -1), b.Const(1e-5)))), g)
	f.compare("rmsnorm", fused, prim)
}

func sinkhornPrim(b *ir.Builder, L *ir.Value, iters int) *ir.Value {
	r := L.Type.Shape.Rank()
	M := b.Exp(b.Sub(L, b.Max(L, r-2, r-1)))
	for range iters {
		M = b.Div(M, b.Sum(M, r-2))
		M = b.Div(M, b.Sum(M, r-1))
	}
	return M
}

func TestFusedSinkhorn(t *testing.T) {
	for _, n := range []int{1, 2, 4} {
		for _, iters := range []int{1, 3, 20} {
			f := newFusedCase(t, uint64(10*n+iters))
			b := f.c.b
			L := f.in("L", 3, 2, n, n) // large logits: far from doubly stochastic
			fused := b.Apply(ir.OpSinkhorn, ir.Attrs{{Key: "iters", Val: iters}}, L)
			f.compare("sinkhorn", fused, sinkhornPrim(b, L, iters))
		}
	}
}

func TestFusedSinkhornRowsExact(t *testing.T) {
	// 2 matrices of 3×3 by hand-checkable properties: rows sum to 1.
	f := newFusedCase(t, 5)
	b := f.c.b
	L := f.in("L", 2, 3, 3)
	c := f.c
	c.b.Output("out", b.Apply(ir.OpSinkhorn, ir.Attrs{{Key: "iters", Val: 5}}, L))
	out, err := Eval(c.b.M, c.binds, c.params, c.inputs)
	if err != nil {
		t.Fatal(err)
	}
	P := out["out"].Data
	for m := 0; m < 3; m++ {
		for i := 0; i < 3; i++ {
			s := 0.0
			for j := 0; j < 3; j++ {
				s += P[m*9+i*3+j]
			}
			if math.Abs(s-1) > 1e-15 {
				t.Errorf("matrix %d row %d sums to %.17g", m, i, s)
			}
		}
	}
}

func TestFusedHCCoeffs(t *testing.T) {
	for _, n := range []int{1, 2, 4} {
		const C = 3
		f := newFusedCase(t, uint64(n))
		b := f.c.b
		K, w := n*C, n*n+2*n
		x := f.in("x", 1.5, 2, K)
		phi := f.param("phi", 0.7, 0, K, w)
		alpha := f.param("alpha", 0.3, 1, 3)
		bias := f.param("bias", 1, 0, w)
		fused := b.Apply(ir.OpHCCoeffs, ir.Attrs{{Key: "n", Val: n}, {Key: "eps", Val: 1e-6}}, x, phi, alpha, bias)
		// mhcSublayer's primitive form (compiler/hyper.go).
		r := b.Sqrt(b.Add(b.Mean(b.Square(x), -1), b.Const(1e-6)))
		m := b.Div(b.Matmul(x, phi, false), r)
		group := func(i, start, end int) *ir.Value {
			return b.Add(b.Mul(b.Slice(m, -1, start, end), b.Slice(alpha, 0, i, i+1)), b.Slice(bias, 0, start, end))
		}
		pre := b.Sigmoid(group(0, 0, n))
		post := b.Scale(b.Sigmoid(group(1, n, 2*n)), 2)
		res := group(2, 2*n, w)
		// Concatenate the three groups by a matmul with one-hot placement
		// matrices, which is exact (products by 0 and 1).
		place := func(v *ir.Value, start, width int) *ir.Value {
			name := "place" + string(rune('a'+start))
			d := make([]float64, width*w)
			for i := 0; i < width; i++ {
				d[i*w+start+i] = 1
			}
			return b.Matmul(v, f.c.p(name, []int{width, w}, d...), false)
		}
		prim := b.Add(b.Add(place(pre, 0, n), place(post, n, n)), place(res, 2*n, n*n))
		f.compare("hc.coeffs", fused, prim)
	}
}

func TestFusedHCReadWrite(t *testing.T) {
	for _, n := range []int{1, 2, 4} {
		const C = 5
		f := newFusedCase(t, uint64(100+n))
		b := f.c.b
		X := f.in("X", 1, 2, n, C)
		hPre := f.in("hPre", 1, 2, n)
		hRes := f.in("hRes", 1, 2, n, n) // non-symmetric
		hPost := f.in("hPost", 1, 2, n)
		y := f.in("y", 1, 2, C)
		lead := ir.Shape{ir.S("B"), ir.D(2)}
		withDims := func(d ...int) ir.Shape { return append(lead.Clone(), ir.Dims(d...)...) }
		read := b.Apply(ir.OpHCRead, nil, hPre, X)
		readPrim := b.Reshape(b.Sum(b.Mul(X, b.Reshape(hPre, withDims(n, 1))), 2), withDims(C))
		write := b.Apply(ir.OpHCWrite, nil, hRes, X, hPost, y)
		writePrim := b.Add(b.Matmul(hRes, X, false), b.Mul(b.Reshape(hPost, withDims(n, 1)), b.Reshape(y, withDims(1, C))))
		// Compare both at once: read is [B,2,C], write [B,2,n,C].
		fused := b.Add(write, b.Reshape(read, withDims(1, C)))
		prim := b.Add(writePrim, b.Reshape(readPrim, withDims(1, C)))
		f.compare("hc.read+hc.write", fused, prim)
	}
}

func TestFusedHCWriteOrientation(t *testing.T) {
	// X' = H_res·X: row i of H_res produces stream i. With H_res = [[0, 1],
	// [0, 0]], stream 0 becomes stream 1 and stream 1 becomes 0.
	c := newTB(t)
	hRes := c.p("hRes", sh(2, 2), 0, 1, 0, 0)
	X := c.p("X", sh(2, 3), 1, 2, 3, 4, 5, 6)
	hPost := c.p("hPost", sh(2), 0, 0)
	y := c.p("y", sh(3), 9, 9, 9)
	out := c.eval(c.b.Apply(ir.OpHCWrite, nil, hRes, X, hPost, y))
	check(t, "hc.write", out, sh(2, 3), 4, 5, 6, 0, 0, 0)
}

func TestFusedAttention(t *testing.T) {
	for _, causal := range []bool{true, false} {
		f := newFusedCase(t, 7)
		b := f.c.b
		q := f.in("q", 1, 2, 6, 4)
		k := f.in("k", 1, 2, 6, 4)
		v := f.in("v", 1, 2, 6, 3)
		fused := b.Apply(ir.OpAttention, ir.Attrs{{Key: "scale", Val: 0.5}, {Key: "causal", Val: causal}}, q, k, v)
		s := b.Scale(b.Matmul(q, k, true), 0.5)
		if causal {
			s = b.CausalMask(s)
		}
		f.compare("attention", fused, b.Matmul(b.Softmax(s), v, false))
	}
}

func TestFusedCrossEntropy(t *testing.T) {
	f := newFusedCase(t, 8)
	b := f.c.b
	logits := f.in("logits", 3, 4, 9)
	tg := make([]int, 3*4)
	for i := range tg {
		tg[i] = f.rng.IntN(9)
	}
	f.c.inputs["t"] = tg
	targets := b.Input("t", ir.Type{DType: ir.I32, Shape: ir.Shape{ir.S("B"), ir.D(4)}})
	fused := b.Apply(ir.OpCrossEntropy, nil, logits, targets)
	prim := b.Neg(b.Reshape(b.Mean(b.Pick(b.LogSoftmax(logits), targets), 0, 1), ir.Shape{}))
	f.compare("cross_entropy", fused, prim)
}

func TestFusedCrossEntropyByHand(t *testing.T) {
	// Uniform logits over 4 classes: the loss is ln 4 whatever the targets.
	c := newTB(t)
	logits := c.p("logits", sh(2, 4), 0, 0, 0, 0, 3, 3, 3, 3)
	tg := c.idx("t", sh(2), 1, 3)
	check(t, "cross_entropy", c.eval(c.b.Apply(ir.OpCrossEntropy, nil, logits, tg)), sh(), math.Log(4))
}

func TestFusedMatmulConcat(t *testing.T) {
	bounds := [][2]int{{0, 3}, {3, 5}, {5, 9}}
	for i, bd := range bounds {
		f := newFusedCase(t, 9) // the same inputs each time
		b := f.c.b
		x := f.in("x", 1, 4, 5)
		ws := []*ir.Value{f.param("w1", 1, 0, 5, 3), f.param("w2", 1, 0, 5, 2), f.param("w3", 1, 0, 5, 4)}
		fused := b.Apply(ir.OpMatmulConcat, nil, x, ws[0], ws[1], ws[2])
		f.compare("matmul.concat", b.Slice(fused, -1, bd[0], bd[1]), b.Matmul(x, ws[i], false))
	}
}

func TestFusedGELU(t *testing.T) {
	f := newFusedCase(t, 12)
	b := f.c.b
	x := f.in("x", 2, 4, 7)
	x3 := b.Mul(b.Square(x), x)
	inner := b.Scale(b.Add(x, b.Scale(x3, 0.044715)), math.Sqrt(2/math.Pi))
	prim := b.Mul(b.Scale(x, 0.5), b.Add(b.Tanh(inner), b.Const(1)))
	f.compare("gelu", b.Apply(ir.OpGELU, nil, x), prim)
}

func TestFusedErrorsNotPanics(t *testing.T) {
	c := newTB(t)
	x := c.p("x", sh(2, 3), 1, 2, 3, 4, 5, 6)
	g := c.p("g", sh(3), 1, 1, 1)
	v := c.b.Apply(ir.OpRMSNorm, ir.Attrs{{Key: "eps", Val: 1.0}}, x, g)
	v.Attrs = ir.Attrs{{Key: "eps", Val: "big"}}
	c.evalErr(v, "rmsnorm needs a float64 attribute eps")
}
