package golden_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mhcc/mhcc/internal/golden"
)

// TestRun runs a folder of two archives whose outputs match: inputs by
// name, the comment's values, outputs through Out and Writer.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "b.txtar"), "passes: fold, dce\nlevel: 2\n-- in.mhc --\nmodel b {}\n-- set --\nx=1\n-- out/echo --\nmodel b {}\n-- out/empty --\n")
	write(t, filepath.Join(dir, "a.txtar"), "-- in.mhc --\nmodel a {}\n-- out/echo --\nmodel a {}\n-- out/empty --\n")
	var names []string
	golden.Run(t, dir, func(t *testing.T, a *golden.Archive) {
		names = append(names, a.Name)
		src := a.MustInput(t, "in.mhc")
		if _, ok := a.Input("out/echo"); ok {
			t.Error("Input returned an output section")
		}
		if a.Name == "b" {
			if got := a.Inputs(); !slices.Equal(got, []string{"in.mhc", "set"}) {
				t.Errorf("Inputs() = %v", got)
			}
			if v, ok := a.Value("passes"); v != "fold, dce" || !ok {
				t.Errorf("Value(passes) = %q, %v", v, ok)
			}
			if v, ok := a.Value("seed"); v != "" || ok {
				t.Errorf("Value(seed) = %q, %v", v, ok)
			}
		}
		a.Out("echo", string(src[:len(src)/2]))
		a.Writer("echo").Write(src[len(src)/2:])
		a.Writer("empty")
	})
	if !slices.Equal(names, []string{"a", "b"}) {
		t.Errorf("cases ran in the order %v", names)
	}
}

func write(t *testing.T, file, content string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRead: an archive read outside Run gives its inputs.
func TestRead(t *testing.T) {
	file := filepath.Join(t.TempDir(), "seed.txtar")
	write(t, file, "comment\n-- set --\nx=1\n-- in.mhc --\nmodel m {}\n-- out/errors --\ne\n")
	a, err := golden.Read(file)
	if err != nil {
		t.Fatal(err)
	}
	if src, ok := a.Input("in.mhc"); !ok || string(src) != "model m {}\n" || a.Name != "seed" || a.Comment != "comment\n" {
		t.Errorf("in.mhc %q, %v; name %q, comment %q", src, ok, a.Name, a.Comment)
	}
	if _, err := golden.Read(filepath.Join(t.TempDir(), "none.txtar")); err == nil {
		t.Error("reading a missing archive did not fail")
	}
}
