package ablate

import (
	"strings"
	"testing"

	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/internal/golden"
)

// compileModel compiles src as file name.
func compileModel(t *testing.T, name string, src []byte) Model {
	t.Helper()
	res, err := compiler.CompileSource(name, src)
	if err != nil || res.Module == nil {
		t.Fatalf("%s: %v\n%s", name, err, res.Diags)
	}
	return Model{File: name, Program: res.Program, Module: res.Module, Source: src}
}

// TestDiffGolden compares `mhcc diff` of the `a.mhc` and `b.mhc` sections
// of each testdata/diff/*.txtar with its out/diff section.
func TestDiffGolden(t *testing.T) {
	golden.Run(t, "testdata/diff", func(t *testing.T, a *golden.Archive) {
		ma := compileModel(t, "a.mhc", a.MustInput(t, "a.mhc"))
		mb := compileModel(t, "b.mhc", a.MustInput(t, "b.mhc"))
		d, err := Compare(ma, mb)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := d.Write(&b); err != nil {
			t.Fatal(err)
		}
		a.Out("diff", b.String())
	})
}
