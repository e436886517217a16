// Package conformance holds every backend against the op table.
//
// For every op of ir.Ops there are cases (cases.go): the op applied to
// operands of given shapes and kinds, with attributes. For a backend and
// a case, Check asserts that
//
//   - the backend implements the op, or declares it unsupported with a
//     reason (an op it simply lacks is an error);
//   - its forward value agrees with the reference interpreter
//     (backend/ref, float64), elementwise;
//   - two runs give the same numbers;
//   - if it computes gradients, the gradient of loss = Σ y ⊙ R (R a fixed
//     random tensor) with respect to every parameter operand agrees with
//     float64 central differences of the reference;
//   - for a fused op, its value and gradients agree, in the same backend,
//     with those of the op's decomposition from the op table.
//
// Tolerances depend on the backend's precision (Tolerances).
package conformance

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/mhcc/mhcc/backend"
	"github.com/mhcc/mhcc/backend/ref"
	"github.com/mhcc/mhcc/ir"
)

// ArgKind says what an operand of a case is.
type ArgKind int

// The operand kinds.
const (
	// Param is a trainable f32 tensor with N(0, Scale²) values (Scale 1
	// when 0): it gets a gradient.
	Param ArgKind = iota
	// Positive is a Param with values in [0.5, 1.5] (for log, sqrt and
	// divisors).
	Positive
	// Fixed is an f32 input with N(0, Scale²) values: no gradient.
	Fixed
	// Index is an i32 input with values in [0, Below).
	Index
	// Scalar is the scalar const Value.
	Scalar
	// Same is the operand number Of again.
	Same
)

// Arg is one operand of a case.
type Arg struct {
	Kind  ArgKind
	Shape []int
	Scale float64
	Below int
	// Ints, when set, are the values of an Index operand.
	Ints  []int
	Value float64
	Of    int
}

// Case is one application of an op.
type Case struct {
	Name  string
	Op    string
	Args  []Arg
	Attrs ir.Attrs
	// Large cases are big enough for a backend's blocked, vectorised or
	// parallel paths and too big for finite differences: their backward
	// is held against the decomposition's only (fused ops), whose own
	// backward the small cases check against finite differences.
	Large bool
	// IndexRange bounds the values of an i32 result computed from f32
	// operands (moe.topk: the expert count); the result is observed
	// through a gather from a table of that many rows.
	IndexRange int
}

// Tolerances are what a backend of one precision must meet.
type Tolerances struct {
	// Forward bounds |y − y_ref| by Forward·max(|y_ref|, 1) per element.
	Forward float64
	// Grad bounds max|g − g_num| by Grad·max(max|g_num|, 1e-3) per
	// parameter, g_num the central differences of the reference.
	Grad float64
	// Fused bounds the same two comparisons between a fused op and its
	// decomposition run by the same backend.
	Fused float64
}

// For returns the tolerances of a float64 or a float32 backend.
func For(float64Backend bool) Tolerances {
	if float64Backend {
		return Tolerances{Forward: 1e-10, Grad: 1e-6, Fused: 1e-9}
	}
	return Tolerances{Forward: 2e-5, Grad: 1e-3, Fused: 1e-4}
}

// fdStep is the step of the central differences.
const fdStep = 1e-6

// Built is a case as a module: y is the op's value, "loss" = Σ y ⊙ R.
type Built struct {
	Module *ir.Module
	Y      *ir.Value
	Feed   backend.Feed
	// Params lists the parameter operands (those checked by gradient).
	Params []string
}

// Build builds the module of case c, with the op replaced by its
// decomposition when decompose is set (fused ops only), and the operand
// values drawn from seed.
func (c Case) Build(decompose bool, seed uint64) (*Built, error) {
	b := ir.NewBuilder(c.Name + ".mhc")
	feed := backend.Feed{Params: map[string][]float64{}, Ints: map[string][]int{}, Floats: map[string][]float64{}}
	out := &Built{Feed: feed}
	args := make([]*ir.Value, len(c.Args))
	below := 0
	for i, a := range c.Args {
		name := fmt.Sprintf("a%d", i)
		rng := rand.New(rand.NewPCG(seed, uint64(i)+1))
		switch a.Kind {
		case Param, Positive, Fixed:
			vals := make([]float64, numel(a.Shape))
			scale := a.Scale
			if scale == 0 {
				scale = 1
			}
			for j := range vals {
				if a.Kind == Positive {
					vals[j] = 0.5 + rng.Float64()
				} else {
					vals[j] = scale * rng.NormFloat64()
				}
			}
			if a.Kind == Fixed {
				args[i] = b.Input(name, ir.Type{DType: ir.F32, Shape: ir.Dims(a.Shape...)})
				feed.Floats[name] = vals
			} else {
				args[i] = b.Param(name, ir.Dims(a.Shape...), ir.Init{Kind: "zeros"}, true)
				feed.Params[name] = vals
				out.Params = append(out.Params, name)
			}
		case Index:
			vals := slices.Clone(a.Ints)
			if vals == nil {
				vals = make([]int, numel(a.Shape))
				for j := range vals {
					vals[j] = rng.IntN(a.Below)
				}
			}
			args[i] = b.Input(name, ir.Type{DType: ir.I32, Shape: ir.Dims(a.Shape...)})
			feed.Ints[name] = vals
			below = a.Below
		case Scalar:
			args[i] = b.Const(a.Value)
		case Same:
			args[i] = args[a.Of]
		}
	}
	var parts []*ir.Value
	if decompose {
		var err error
		if parts, err = ir.Decompose(b, c.Op, c.Attrs, args...); err != nil {
			return nil, fmt.Errorf("%s: decomposition: %w", c.Name, err)
		}
	} else {
		parts = []*ir.Value{b.Apply(c.Op, c.Attrs, args...)}
	}
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name, err)
	}
	// An i32 result (a layout op on token ids, a selection) is observed
	// through a gather from a parameter table.
	if c.IndexRange > 0 {
		below = c.IndexRange
	}
	if parts[0].Type.DType == ir.I32 {
		tab := b.Param("table", ir.Dims(below, 3), ir.Init{Kind: "zeros"}, true)
		feed.Params["table"] = randoms(seed, 99, below*3)
		out.Params = append(out.Params, "table")
		parts = []*ir.Value{b.Gather(tab, parts[0])}
	}
	// R has the type of the whole result; each part meets its slice.
	full := parts[0].Type.Shape.Clone()
	if len(parts) > 1 {
		w := 0
		for _, p := range parts {
			w += p.Type.Shape[p.Type.Shape.Rank()-1].N
		}
		full[len(full)-1] = ir.D(w)
	}
	R := b.Input("R", ir.Type{DType: ir.F32, Shape: full})
	rs, _ := full.Size()
	feed.Floats["R"] = randoms(seed, 77, rs)
	var loss *ir.Value
	off := 0
	for _, p := range parts {
		r := R
		if len(parts) > 1 {
			w := p.Type.Shape[p.Type.Shape.Rank()-1].N
			r = b.Slice(R, -1, off, off+w)
			off += w
		}
		s := b.Mul(p, r)
		if n := s.Type.Shape.Rank(); n > 0 {
			s = b.Reshape(b.Sum(s, allAxes(n)...), ir.Shape{})
		}
		if loss == nil {
			loss = s
		} else {
			loss = b.Add(loss, s)
		}
	}
	b.Output("loss", loss)
	for k, p := range parts {
		b.Output(fmt.Sprintf("y%d", k), p)
	}
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name, err)
	}
	if err := ir.Verify(b.M); err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name, err)
	}
	out.Module, out.Y = b.M, parts[0]
	return out, nil
}

func randoms(seed, stream uint64, n int) []float64 {
	rng := rand.New(rand.NewPCG(seed, stream))
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

func numel(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

func allAxes(r int) []int {
	a := make([]int, r)
	for i := range a {
		a[i] = i
	}
	return a
}

// outputs concatenates the module's outputs y0, y1, … along the last
// axis, row by row.
func outputs(m *ir.Module, res *backend.Result) []float64 {
	var parts [][]float64
	var widths []int
	for k := 0; ; k++ {
		o := m.Output(fmt.Sprintf("y%d", k))
		if o == nil {
			break
		}
		parts = append(parts, res.Outputs[fmt.Sprintf("y%d", k)])
		w := 1
		if s := o.Type.Shape; s.Rank() > 0 {
			w = s[s.Rank()-1].N
		}
		widths = append(widths, w)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	total := 0
	for _, w := range widths {
		total += w
	}
	rows := len(parts[0]) / widths[0]
	out := make([]float64, 0, rows*total)
	for r := 0; r < rows; r++ {
		for k, p := range parts {
			out = append(out, p[r*widths[k]:(r+1)*widths[k]]...)
		}
	}
	return out
}

// Coverage returns one message per op of the table that b neither
// implements nor declares unsupported (nil when b covers the table).
func Coverage(b backend.Backend) []string {
	var gaps []string
	for _, d := range ir.Ops {
		if ok, reason := b.Support(d.Name); !ok && reason == "" {
			gaps = append(gaps, fmt.Sprintf("%s lacks op %s: implement it or declare it unsupported with a reason", b.Name(), d.Name))
		}
	}
	return gaps
}

// Problems runs case c on runner r and returns what disagrees (nil when
// everything conforms, or when r declares the op unsupported).
func Problems(r backend.Runner, c Case) []string {
	var probs []string
	fail := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	if ok, _ := r.Support(c.Op); !ok {
		return nil // Coverage reports what is missing
	}
	tol := For(r.Float64())
	built, err := c.Build(false, 1)
	if err != nil {
		return []string{err.Error()}
	}
	want, err := ref.Backend{}.Run(built.Module, built.Feed, false)
	if err != nil {
		return []string{"reference: " + err.Error()}
	}
	got, err := r.Run(built.Module, built.Feed, false)
	if err != nil {
		return []string{"forward: " + err.Error()}
	}
	yRef, y := outputs(built.Module, want), outputs(built.Module, got)
	if i := firstOff(y, yRef, tol.Forward); i >= 0 {
		fail("forward: %d values, reference %d; y[%d] = %.17g, reference %.17g", len(y), len(yRef), i, at(y, i), at(yRef, i))
	}
	again, err := r.Run(built.Module, built.Feed, false)
	if err != nil || !slices.Equal(outputs(built.Module, again), y) {
		fail("a second forward run gave other numbers (%v)", err)
	}
	var grads *backend.Result
	def, _ := ir.LookupOp(c.Op)
	if r.Gradients() && !def.ForwardOnly {
		grads, err = r.Run(built.Module, built.Feed, true)
		if err != nil {
			return append(probs, "backward: "+err.Error())
		}
		g2, err := r.Run(built.Module, built.Feed, true)
		if err != nil || !sameGrads(grads, g2) {
			fail("a second backward run gave other gradients (%v)", err)
		}
		for _, p := range built.Params {
			if c.Large {
				break
			}
			num, err := numericGrad(built, p)
			if err != nil {
				return append(probs, err.Error())
			}
			g := grads.Grads[p]
			if len(g) != len(num) {
				fail("gradient of %s: %d values, want %d", p, len(g), len(num))
				continue
			}
			if d, m := maxDiff(g, num), maxAbs(num); d > tol.Grad*math.Max(m, 1e-3) {
				fail("gradient of %s: max|Δ| %.3g against central differences (max|g| %.3g)\n  got  %v\n  want %v", p, d, m, g, num)
			}
		}
	}
	if def.Fused {
		probs = append(probs, fusedProblems(r, c, built, y, grads, tol)...)
	}
	return probs
}

// fusedProblems compares a fused op with its decomposition in r.
func fusedProblems(r backend.Runner, c Case, built *Built, y []float64, grads *backend.Result, tol Tolerances) []string {
	var probs []string
	dec, err := c.Build(true, 1)
	if err != nil {
		return []string{err.Error()}
	}
	got, err := r.Run(dec.Module, dec.Feed, false)
	if err != nil {
		return []string{"decomposition, forward: " + err.Error()}
	}
	yd := outputs(dec.Module, got)
	if i := firstOff(y, yd, tol.Fused); i >= 0 {
		probs = append(probs, fmt.Sprintf("fused y[%d] = %.17g, decomposition %.17g", i, at(y, i), at(yd, i)))
	}
	if grads == nil {
		return probs
	}
	gd, err := r.Run(dec.Module, dec.Feed, true)
	if err != nil {
		return append(probs, "decomposition, backward: "+err.Error())
	}
	for _, p := range built.Params {
		if d, m := maxDiff(grads.Grads[p], gd.Grads[p]), maxAbs(gd.Grads[p]); d > tol.Fused*math.Max(m, 1e-3) {
			probs = append(probs, fmt.Sprintf("gradient of %s: fused and decomposition differ by %.3g (max|g| %.3g)", p, d, m))
		}
	}
	return probs
}

// numericGrad is the central-difference gradient of the reference loss
// Σ y ⊙ R with respect to parameter p, differenced per element of y
// (Σ_j R_j·(y_j(p+h) − y_j(p−h))/2h): entries of y that do not depend on
// p, such as causal_mask's −1e9, then cancel exactly instead of drowning
// the difference in rounding.
func numericGrad(b *Built, p string) ([]float64, error) {
	base := b.Feed.Params[p]
	num := make([]float64, len(base))
	params := map[string][]float64{}
	for k, v := range b.Feed.Params {
		params[k] = v
	}
	feed := b.Feed
	feed.Params = params
	vals := slices.Clone(base)
	params[p] = vals
	R := b.Feed.Floats["R"]
	y := func() ([]float64, error) {
		res, err := ref.Backend{}.Run(b.Module, feed, false)
		if err != nil {
			return nil, fmt.Errorf("reference: %w", err)
		}
		return outputs(b.Module, res), nil
	}
	for i, x := range base {
		vals[i] = x + fdStep
		yp, err := y()
		if err != nil {
			return nil, err
		}
		vals[i] = x - fdStep
		ym, err := y()
		if err != nil {
			return nil, err
		}
		vals[i] = x
		var g float64
		for j := range yp {
			if d := yp[j] - ym[j]; d != 0 {
				g += R[j] * d
			}
		}
		num[i] = g / (2 * fdStep)
	}
	return num, nil
}

// firstOff returns the first index where |a − b| > tol·max(|b|, 1), or
// where one is NaN and the other not; 0 when the lengths differ; −1 when
// they agree.
func firstOff(a, b []float64, tol float64) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if math.IsNaN(a[i]) != math.IsNaN(b[i]) || math.Abs(a[i]-b[i]) > tol*math.Max(math.Abs(b[i]), 1) {
			return i
		}
	}
	return -1
}

// at is x[i], or NaN past the end.
func at(x []float64, i int) float64 {
	if i < len(x) {
		return x[i]
	}
	return math.NaN()
}

func maxDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
		if math.IsNaN(a[i]) || math.IsNaN(b[i]) {
			return math.Inf(1)
		}
	}
	return d
}

func maxAbs(a []float64) float64 {
	m := 0.0
	for _, x := range a {
		m = math.Max(m, math.Abs(x))
	}
	return m
}

func sameGrads(a, b *backend.Result) bool {
	if len(a.Grads) != len(b.Grads) {
		return false
	}
	for k, v := range a.Grads {
		if !slices.Equal(v, b.Grads[k]) {
			return false
		}
	}
	return true
}

// CasesFor returns the cases of one op.
func CasesFor(op string) []Case {
	var cs []Case
	for _, c := range Cases() {
		if c.Op == op {
			cs = append(cs, c)
		}
	}
	return cs
}

// Report formats problems for a test failure.
func Report(backendName string, c Case, probs []string) string {
	return fmt.Sprintf("%s, case %s:\n  %s", backendName, c.Name, strings.Join(probs, "\n  "))
}
