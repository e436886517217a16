package ref

import (
	"fmt"

	"github.com/mhcc/mhcc/backend"
	"github.com/mhcc/mhcc/ir"
)

// Backend is the reference interpreter as a backend.Runner: float64,
// forward only.
type Backend struct{}

// Name returns "ref".
func (Backend) Name() string { return "ref" }

// Support reports whether the interpreter implements op.
func (Backend) Support(op string) (bool, string) { return impls.Support(op) }

// Float64 is true: every value is a float64.
func (Backend) Float64() bool { return true }

// Gradients is false: the interpreter computes forward values only
// (gradients are checked against its finite differences).
func (Backend) Gradients() bool { return false }

// Run evaluates every f32 output of m. It does not compute gradients.
func (Backend) Run(m *ir.Module, feed backend.Feed, grad bool) (*backend.Result, error) {
	if grad {
		return nil, fmt.Errorf("ref: the reference interpreter computes no gradients")
	}
	params := map[string][]float64{}
	for k, v := range feed.Params {
		params[k] = v
	}
	for k, v := range feed.Floats {
		params[k] = v // evalInput reads f32 inputs from params
	}
	out, err := Eval(m, feed.Binds, params, feed.Ints)
	if err != nil {
		return nil, err
	}
	res := &backend.Result{Outputs: map[string][]float64{}}
	for _, o := range m.Outputs {
		if o.Value.Type.DType == ir.F32 {
			res.Outputs[o.Name] = out[o.Name].Data
		}
	}
	return res, nil
}

func init() { backend.Register(Backend{}) }
