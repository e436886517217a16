// Package torch is mhcc's PyTorch backend: it emits, from the optimised
// IR, Python that computes the module with PyTorch — the op library
// (py/ops.py: one function per op of the op table, the fused ops as plain
// PyTorch or torch.autograd.Function), the parameter and checkpoint code
// (py/api.py) and one nn.Module class per module (Class: one line per IR
// value) — and writes the training package of `mhcc FILE --emit torch -o
// DIR` (package.go: model.py, train.py, README.md).
//
// The backend registers as torch/float32 and torch/float64. Its Run sends
// the emitted class to one persistent Python worker (worker.go), so the
// conformance test holds exactly the code of a model.py against the op
// table. PyTorch is outside Go: Available says whether it can be imported
// here, and the tests skip the backend when it cannot (unless
// MHCC_REQUIRE_TORCH=1).
package torch

import (
	_ "embed"
	"os"

	"github.com/mhcc/mhcc/backend"
	"github.com/mhcc/mhcc/ir"
)

// OpsLibrary is the op library: one Python function per op.
//
//go:embed py/ops.py
var OpsLibrary string

// APILibrary is the parameter and checkpoint code every model.py holds.
//
//go:embed py/api.py
var APILibrary string

//go:embed py/worker.py
var workerPy string

// Backend is the PyTorch backend in float32 or float64.
type Backend struct{ F64 bool }

// Name is torch/float32 or torch/float64.
func (b Backend) Name() string {
	if b.F64 {
		return "torch/float64"
	}
	return "torch/float32"
}

// Support reports whether the backend emits op, from its table.
func (Backend) Support(op string) (bool, string) { return impls.Support(op) }

// Float64 reports whether the backend computes in float64.
func (b Backend) Float64() bool { return b.F64 }

// Gradients is true: PyTorch's autograd (and the hand-written backward of
// the autograd.Functions) differentiates every op that is not forward-only.
func (Backend) Gradients() bool { return true }

// Run evaluates m in the Python worker with the emitted code.
func (b Backend) Run(m *ir.Module, feed backend.Feed, grad bool) (*backend.Result, error) {
	return run(m, feed, grad, b.F64)
}

// Available starts the worker if needed and reports whether PyTorch can
// be imported (nil) or why not and what to install.
func (Backend) Available() error {
	_, err := sharedWorker()
	return err
}

// Required reports whether MHCC_REQUIRE_TORCH=1 demands PyTorch.
func (Backend) Required() bool { return os.Getenv(RequireEnv) == "1" }

// Python returns the interpreter that imports PyTorch (the worker's), or
// why there is none.
func Python() (string, error) {
	w, err := sharedWorker()
	if err != nil {
		return "", err
	}
	return w.python, nil
}

// Version describes the worker's PyTorch and Python ("" when there is none).
func Version() string {
	if w, err := sharedWorker(); err == nil {
		return w.version
	}
	return ""
}

func init() {
	backend.Register(Backend{})
	backend.Register(Backend{F64: true})
}
