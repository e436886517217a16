package gorgonia

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
	"github.com/mhcc/mhcc/backend/ref"
	"github.com/mhcc/mhcc/ir"
)

// gcase is one gradient-check case: a tiny module whose loss is
// sum(y ⊙ R) (R a param too), checked against the reference interpreter
// backend/ref (forward) and float64 central differences on fresh
// forward-only graphs (every param's gradient).
type gcase struct {
	name   string
	syms   []string
	binds  map[string]int
	inputs map[string][]int
	build  func(b *ir.Builder) // must produce the "loss" output (use sumLoss)
}

var normal1 = ir.Init{Kind: "normal", Args: []float64{1}}

// param declares a test param; names starting with "pos" get values in
// [0.5, 1.5] (for log, sqrt and divisors), others N(0, 1).
func param(b *ir.Builder, name string, dims ...ir.Dim) *ir.Value {
	return b.Param(name, ir.Shape(dims), normal1, true)
}

func d(ns ...int) []ir.Dim { return ir.Dims(ns...) }

// sumLoss outputs loss = sum(y ⊙ R) with a random param R of y's shape.
func sumLoss(b *ir.Builder, y *ir.Value) {
	r := b.Param("R", y.Type.Shape, normal1, false)
	s := b.Mul(y, r)
	if n := s.Type.Shape.Rank(); n > 0 {
		axes := make([]int, n)
		for i := range axes {
			axes[i] = i
		}
		s = b.Reshape(b.Sum(s, axes...), ir.Shape{})
	}
	b.Output("loss", s)
}

func (c gcase) module(t testing.TB) *ir.Module {
	b := ir.NewBuilder(c.name+".mhc", c.syms...)
	c.build(b)
	if err := b.Err(); err != nil {
		t.Fatalf("%s: building the module: %v", c.name, err)
	}
	return b.M
}

// testValues draws deterministic param values.
func testValues(m *ir.Module, binds map[string]int, seed uint64) map[string][]float64 {
	vals := map[string][]float64{}
	for _, p := range m.Params() {
		s, _ := p.Type.Shape.Resolve(binds)
		h := uint64(0)
		for _, c := range p.Param() {
			h = h*131 + uint64(c)
		}
		rng := rand.New(rand.NewPCG(seed, h))
		v := make([]float64, prod(s))
		for i := range v {
			if strings.HasPrefix(p.Param(), "pos") {
				v[i] = 0.5 + rng.Float64()
			} else {
				v[i] = rng.NormFloat64()
			}
		}
		vals[p.Param()] = v
	}
	return vals
}

func setValues(t testing.TB, g *Graph, vals map[string][]float64) {
	for _, p := range g.Params() {
		v, ok := vals[p.Name]
		if !ok {
			t.Fatalf("no values for %s", p.Name)
		}
		if g.DType() == Float64 {
			copy(p.F64(), v)
		} else {
			for i, x := range v {
				p.F32()[i] = float32(x)
			}
		}
	}
}

func setInputs(t testing.TB, g *Graph, inputs map[string][]int) {
	for name, data := range inputs {
		if err := g.SetInput(name, data); err != nil {
			t.Fatal(err)
		}
	}
}

// freshLoss builds a new forward-only float64 graph and evaluates it.
func freshLoss(t testing.TB, m *ir.Module, c gcase, vals map[string][]float64) float64 {
	g, err := Build(m, Options{Binds: c.binds, DType: Float64})
	if err != nil {
		t.Fatalf("%s: forward build: %v", c.name, err)
	}
	defer g.Close()
	setValues(t, g, vals)
	setInputs(t, g, c.inputs)
	l, err := g.Run()
	if err != nil {
		t.Fatalf("%s: forward run: %v", c.name, err)
	}
	return l
}

func relErr(a, b float64) float64 {
	return math.Abs(a-b) / math.Max(math.Max(math.Abs(a), math.Abs(b)), 1e-12)
}

// check runs every check of the harness on c.
func (c gcase) check(t *testing.T) {
	t.Helper()
	m := c.module(t)
	vals := testValues(m, c.binds, 7)

	g, err := Build(m, Options{Binds: c.binds, DType: Float64, Grad: true})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	defer g.Close()
	setValues(t, g, vals)
	setInputs(t, g, c.inputs)
	loss, err := g.Run()
	if err != nil {
		t.Fatalf("run: %v", err)
	}

	// (a) forward vs the reference interpreter
	out, err := ref.Eval(m, c.binds, vals, c.inputs)
	if err != nil {
		t.Fatal(err)
	}
	ref := out["loss"].Data[0]
	if e := relErr(loss, ref); e > 1e-9 {
		t.Errorf("forward: loss %.15g, reference %.15g (rel %.2g)", loss, ref, e)
	}

	// Run twice: identical loss and identical (not accumulated) gradients;
	// params untouched.
	grads := map[string][]float64{}
	for _, p := range g.Params() {
		grads[p.Name] = slices.Clone(p.GradF64())
	}
	loss2, err := g.Run()
	if err != nil {
		t.Fatal(err)
	}
	if loss2 != loss {
		t.Errorf("second run: loss %v, first %v", loss2, loss)
	}
	for _, p := range g.Params() {
		if !slices.Equal(p.GradF64(), grads[p.Name]) {
			t.Errorf("second run: gradient of %s changed: %v vs %v", p.Name, p.GradF64(), grads[p.Name])
		}
		if !slices.Equal(p.F64(), vals[p.Name]) {
			t.Errorf("param %s was modified by Run", p.Name)
		}
	}

	// (b) every gradient vs float64 central differences on fresh graphs
	const eps = 1e-6
	for _, p := range g.Params() {
		num := make([]float64, len(vals[p.Name]))
		for i := range num {
			pert := map[string][]float64{}
			for k, v := range vals {
				pert[k] = v
			}
			v := slices.Clone(vals[p.Name])
			pert[p.Name] = v
			x := v[i]
			v[i] = x + eps
			lp := freshLoss(t, m, c, pert)
			v[i] = x - eps
			lm := freshLoss(t, m, c, pert)
			num[i] = (lp - lm) / (2 * eps)
		}
		var maxD, maxN float64
		for i, n := range num {
			maxD = math.Max(maxD, math.Abs(n-grads[p.Name][i]))
			maxN = math.Max(maxN, math.Abs(n))
		}
		if maxD > 1e-6*math.Max(maxN, 1e-3) {
			t.Errorf("gradient of %s: max|Δ| %.3g, max|num| %.3g\nanalytic %v\nnumeric  %v", p.Name, maxD, maxN, grads[p.Name], num)
		}
	}

	// Float32 build: same loss within 1e-4 relative, gradients close.
	g32, err := Build(m, Options{Binds: c.binds, DType: Float32, Grad: true})
	if err != nil {
		t.Fatalf("float32 build: %v", err)
	}
	defer g32.Close()
	setValues(t, g32, vals)
	setInputs(t, g32, c.inputs)
	l32, err := g32.Run()
	if err != nil {
		t.Fatalf("float32 run: %v", err)
	}
	if e := relErr(l32, loss); e > 1e-4 {
		t.Errorf("float32 loss %v vs float64 %v (rel %.2g)", l32, loss, e)
	}
	for _, p := range g32.Params() {
		var maxD, maxG float64
		for i, x := range p.GradF32() {
			maxD = math.Max(maxD, math.Abs(float64(x)-grads[p.Name][i]))
			maxG = math.Max(maxG, math.Abs(grads[p.Name][i]))
		}
		if maxD > 1e-3*math.Max(maxG, 1e-3) {
			t.Errorf("float32 gradient of %s differs: max|Δ| %.3g, max|g| %.3g", p.Name, maxD, maxG)
		}
	}
}

// runCases checks every case twice: with the gathered walks that small
// plans use, and with the row walks that large tensors use.
func runCases(t *testing.T, cases []gcase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.check(t) })
	}
	old := kernels.SetGathered(false)
	defer kernels.SetGathered(old)
	for _, c := range cases {
		t.Run(c.name+"/rows", func(t *testing.T) { c.check(t) })
	}
}

func (c gcase) String() string { return fmt.Sprintf("case %s", c.name) }
