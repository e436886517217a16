package conformance_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/backend"
	"github.com/mhcc/mhcc/backend/conformance"
	_ "github.com/mhcc/mhcc/backend/gorgonia" // registers gorgonia/float32 and gorgonia/float64
	"github.com/mhcc/mhcc/backend/ref"
	_ "github.com/mhcc/mhcc/backend/torch" // registers torch/float32 and torch/float64
	"github.com/mhcc/mhcc/ir"
)

// TestConformance holds every registered backend against the op table.
func TestConformance(t *testing.T) {
	bs := backend.Registered()
	if len(bs) < 5 {
		t.Fatalf("only %d backends registered", len(bs))
	}
	for _, b := range bs {
		t.Run(b.Name(), func(t *testing.T) {
			for _, gap := range conformance.Coverage(b) {
				t.Error(gap)
			}
			for _, d := range ir.Ops {
				if ok, reason := b.Support(d.Name); !ok && reason != "" {
					t.Logf("%s declares %s unsupported: %s", b.Name(), d.Name, reason)
				}
			}
			if required, err := backend.Availability(b); err != nil {
				if required {
					t.Fatal(err)
				}
				t.Skip(err)
			}
			r, ok := b.(backend.Runner)
			if !ok {
				t.Fatalf("%s cannot run modules in this process; the conformance test needs a Runner", b.Name())
			}
			for _, c := range conformance.Cases() {
				t.Run(c.Name, func(t *testing.T) {
					t.Parallel()
					if probs := conformance.Problems(r, c); len(probs) > 0 {
						t.Error(conformance.Report(b.Name(), c, probs))
					}
				})
			}
		})
	}
}

// TestEveryOpHasACase: a new op needs cases before it can be conformant.
func TestEveryOpHasACase(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range conformance.Cases() {
		covered[c.Op] = true
		for _, a := range c.Args {
			switch a.Kind {
			case conformance.Param, conformance.Positive:
				covered[ir.OpParam] = true
			case conformance.Fixed, conformance.Index:
				covered[ir.OpInput] = true
			case conformance.Scalar:
				covered[ir.OpConst] = true
			}
		}
	}
	for _, d := range ir.Ops {
		if !covered[d.Name] {
			t.Errorf("op %s has no conformance case: add one to backend/conformance/cases.go", d.Name)
		}
	}
}

// TestFusedFLOPsEqualDecomposition: a fused op's FLOPs rule counts exactly
// what its decomposition counts.
func TestFusedFLOPsEqualDecomposition(t *testing.T) {
	for _, c := range conformance.Cases() {
		def, _ := ir.LookupOp(c.Op)
		if !def.Fused {
			continue
		}
		b := ir.NewBuilder("flops.mhc")
		var args []*ir.Value
		for i, a := range c.Args {
			switch a.Kind {
			case conformance.Same:
				args = append(args, args[a.Of])
			case conformance.Scalar:
				args = append(args, b.Const(a.Value))
			case conformance.Index:
				args = append(args, b.Input(fmt.Sprint(i), ir.Type{DType: ir.I32, Shape: ir.Dims(a.Shape...)}))
			default:
				args = append(args, b.Input(fmt.Sprint(i), ir.Type{DType: ir.F32, Shape: ir.Dims(a.Shape...)}))
			}
		}
		first := len(b.M.Values)
		y := b.Apply(c.Op, c.Attrs, args...)
		want, err := ir.ValueFLOPs(y, nil)
		if err != nil {
			t.Fatal(err)
		}
		from := len(b.M.Values)
		if _, err := ir.Decompose(b, c.Op, c.Attrs, args...); err != nil {
			t.Fatal(err)
		}
		var got int64
		for _, v := range b.M.Values[from:] {
			f, err := ir.ValueFLOPs(v, nil)
			if err != nil {
				t.Fatal(err)
			}
			got += f
		}
		if first+1 != from || got != want {
			t.Errorf("%s: FLOPs rule gives %d, the decomposition counts %d", c.Name, want, got)
		}
	}
}

// gappy is ref with one op missing; lying is ref with a wrong value.
type gappy struct{ ref.Backend }

func (gappy) Name() string { return "gappy" }
func (g gappy) Support(op string) (bool, string) {
	if op == ir.OpTanh {
		return false, ""
	}
	return g.Backend.Support(op)
}

type lying struct{ ref.Backend }

func (lying) Name() string { return "lying" }
func (l lying) Run(m *ir.Module, feed backend.Feed, grad bool) (*backend.Result, error) {
	res, err := l.Backend.Run(m, feed, grad)
	if err == nil {
		for _, v := range res.Outputs {
			v[0] += 1e-6
		}
	}
	return res, err
}

// TestConformanceCanFail shows the test catching a backend that lacks an
// op and one whose value is off by 1e-6.
func TestConformanceCanFail(t *testing.T) {
	gaps := conformance.Coverage(gappy{})
	if len(gaps) != 1 || !strings.Contains(gaps[0], "gappy lacks op tanh") {
		t.Errorf("Coverage of a backend without tanh: %q", gaps)
	}
	c := conformance.CasesFor(ir.OpTanh)[0]
	probs := conformance.Problems(lying{}, c)
	if len(probs) == 0 || !strings.Contains(fmt.Sprint(probs), "forward") {
		t.Errorf("a value off by 1e-6 passed: %q", probs)
	}
}
