package torch_test

import (
	"testing"

	"github.com/mhcc/mhcc/backend"
	"github.com/mhcc/mhcc/backend/torch"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// compileSource loads and compiles the program text src (named file) at
// the default level; it returns the text too, for emitting.
func compileSource(t *testing.T, file, src string) (*lang.Program, *ir.Module, []byte) {
	t.Helper()
	prog, diags := lang.Load(file, []byte(src))
	if prog == nil {
		t.Fatal(diags)
	}
	m, _, err := compiler.Compile(prog, compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return prog, m, []byte(src)
}

// requireTorch returns the Python interpreter with PyTorch, or skips the
// test (fails it under MHCC_REQUIRE_TORCH=1) saying what to install.
func requireTorch(t *testing.T) string {
	t.Helper()
	if required, err := backend.Availability(torch.Backend{}); err != nil {
		if required {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	py, err := torch.Python()
	if err != nil {
		t.Fatal(err)
	}
	return py
}
