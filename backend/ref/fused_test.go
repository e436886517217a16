package ref

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mhcc/mhcc/ir"
)

// The interpreter evaluates a fused op by its decomposition from the op
// table (fused.go), so comparing the two here could not fail; the
// conformance test (backend/conformance) compares every backend's fused
// kernels with it. These tests check what the decompositions mean against
// values computed by hand.

// fusedCase builds a module with random inputs.
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

func TestFusedCrossEntropyByHand(t *testing.T) {
	// Uniform logits over 4 classes: the loss is ln 4 whatever the targets.
	c := newTB(t)
	logits := c.p("logits", sh(2, 4), 0, 0, 0, 0, 3, 3, 3, 3)
	tg := c.idx("t", sh(2), 1, 3)
	check(t, "cross_entropy", c.eval(c.b.Apply(ir.OpCrossEntropy, nil, logits, tg)), sh(), math.Log(4))
}

func TestFusedErrorsNotPanics(t *testing.T) {
	c := newTB(t)
	x := c.p("x", sh(2, 3), 1, 2, 3, 4, 5, 6)
	g := c.p("g", sh(3), 1, 1, 1)
	v := c.b.Apply(ir.OpRMSNorm, ir.Attrs{{Key: "eps", Val: 1.0}}, x, g)
	v.Attrs = ir.Attrs{{Key: "eps", Val: "big"}}
	c.evalErr(v, "rmsnorm: attribute eps must be a float, got a string")
}
