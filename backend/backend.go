// Package backend says what a backend of mhcc's IR is and keeps the list
// of backends.
//
// A backend implements the ops of the op table (ir.Ops): each backend
// package registers one implementation per op, or declares an op
// unsupported with a reason, and registers itself here. The backends sit
// side by side below this folder (gorgonia, ref, …); the training runtime
// that drives them is backend/runtime. backend/conformance holds every
// registered backend against the table: every op implemented or declared
// unsupported, forward against the reference interpreter, backward
// against float64 finite differences, every fused op against its
// decomposition.
package backend

import (
	"fmt"
	"sort"
	"sync"

	"github.com/mhcc/mhcc/ir"
)

// Backend is one implementation of the IR ops.
type Backend interface {
	// Name identifies the backend, e.g. "gorgonia/float32".
	Name() string
	// Support reports whether the backend implements op. When it does
	// not, reason is the backend's declared explanation (the compiler
	// reports it at the source line of the statement that needs the op),
	// or "" for an op the backend simply lacks: a gap the conformance test
	// reports.
	Support(op string) (ok bool, reason string)
}

// Runner is a backend that evaluates modules in this process: what the
// conformance test and tools drive.
type Runner interface {
	Backend
	// Float64 reports whether the runner computes in float64 (else
	// float32): it sets the tolerances the conformance test expects.
	Float64() bool
	// Gradients reports whether Run can compute parameter gradients.
	Gradients() bool
	// Run evaluates m. Without grad it returns every f32 output of m;
	// with grad it returns the output "loss" (a scalar) and the gradient
	// of the loss with respect to every parameter.
	Run(m *ir.Module, feed Feed, grad bool) (*Result, error)
}

// Feed holds what a module needs to run: the sizes of its symbolic
// dimensions and the values of its parameters and inputs (row-major).
type Feed struct {
	Binds  map[string]int
	Params map[string][]float64
	// Ints holds the i32 inputs (token ids), Floats the f32 inputs.
	Ints   map[string][]int
	Floats map[string][]float64
}

// Result is what Run computed, row-major.
type Result struct {
	Outputs map[string][]float64
	Grads   map[string][]float64
}

var (
	mu       sync.Mutex
	backends = map[string]Backend{}
)

// Register adds a backend; its package calls it from init. It panics on a
// duplicate name.
func Register(b Backend) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := backends[b.Name()]; dup {
		panic(fmt.Sprintf("backend: %s registered twice", b.Name()))
	}
	backends[b.Name()] = b
}

// Registered returns the registered backends ordered by name.
func Registered() []Backend {
	mu.Lock()
	defer mu.Unlock()
	names := make([]string, 0, len(backends))
	for n := range backends {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Backend, len(names))
	for i, n := range names {
		out[i] = backends[n]
	}
	return out
}

// Lookup returns the registered backend of that name.
func Lookup(name string) (Backend, bool) {
	mu.Lock()
	defer mu.Unlock()
	b, ok := backends[name]
	return b, ok
}

// Table is an op → implementation table a backend fills from the init
// functions of its op-family files and answers Support from.
type Table[Impl any] struct {
	impls       map[string]Impl
	unsupported map[string]string
}

// Implement registers impl for each op; it panics for an op that is not
// in the op table or is registered twice.
func (t *Table[Impl]) Implement(impl Impl, ops ...string) {
	if t.impls == nil {
		t.impls = map[string]Impl{}
	}
	for _, op := range ops {
		if _, ok := ir.LookupOp(op); !ok {
			panic(fmt.Sprintf("backend: implementation of %q, which is not in the op table", op))
		}
		if _, dup := t.impls[op]; dup {
			panic(fmt.Sprintf("backend: op %s implemented twice", op))
		}
		t.impls[op] = impl
	}
}

// Unsupported declares that the backend does not implement op, and why.
func (t *Table[Impl]) Unsupported(op, reason string) {
	if t.unsupported == nil {
		t.unsupported = map[string]string{}
	}
	if reason == "" {
		panic("backend: an unsupported op needs a reason")
	}
	t.unsupported[op] = reason
}

// Lookup returns the implementation of op.
func (t *Table[Impl]) Lookup(op string) (Impl, bool) {
	impl, ok := t.impls[op]
	return impl, ok
}

// Support answers Backend.Support from the table.
func (t *Table[Impl]) Support(op string) (bool, string) {
	if _, ok := t.impls[op]; ok {
		return true, ""
	}
	return false, t.unsupported[op]
}

// Optional is a backend that needs software outside Go (PyTorch), which a
// machine may lack. Tests skip an unavailable one, or fail when the
// environment requires it.
type Optional interface {
	// Available returns nil when the backend can run here, else why not
	// and what to install.
	Available() error
	// Required reports whether this environment demands the backend, so
	// that its absence fails the tests instead of skipping them.
	Required() bool
}

// Availability is the tests' policy for a backend: err is nil when b can
// run (or is not Optional); else a test skips with err, or fails when
// required.
func Availability(b Backend) (required bool, err error) {
	o, ok := b.(Optional)
	if !ok {
		return false, nil
	}
	if err := o.Available(); err != nil {
		return o.Required(), fmt.Errorf("%s: %w", b.Name(), err)
	}
	return false, nil
}
