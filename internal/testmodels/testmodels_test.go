package testmodels_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/internal/testmodels"
	"github.com/mhcc/mhcc/lang"

	// Defines -update, which `go test ./... -update` hands to every test binary.
	_ "github.com/mhcc/mhcc/internal/golden"
)

// TestModelsClean: every shared model, and every variation the helpers
// make, compiles without a diagnostic; the files are formatted.
func TestModelsClean(t *testing.T) {
	srcs := map[string]string{
		"Tiny(mHC)":        testmodels.Tiny("residual streams=4 constraint=birkhoff sinkhorn=20"),
		"Small(two lines)": testmodels.Small("eval every=2 batches=1", "optimizer sgd lr=0.05\n  checkpoint every=2"),
		"Minimal":          testmodels.Minimal(),
		"Deep(mHC)":        testmodels.Deep("residual streams=4 recompute=true"),
	}
	names := testmodels.Names()
	if len(names) < 3 {
		t.Fatalf("embedded models: %v", names)
	}
	for _, name := range names {
		src := testmodels.Source(name)
		srcs[name] = src
		out, diags := lang.FormatSource(name, []byte(src))
		if diags.HasErrors() || !bytes.Equal(out, []byte(src)) {
			t.Errorf("%s is not formatted; `mhcc fmt` gives\n%s%s", name, out, diags)
		}
	}
	for name, src := range srcs {
		res, err := compiler.CompileSource(name, []byte(src))
		if err != nil || res.Module == nil || len(res.Diags) > 0 {
			t.Errorf("%s: %v %v\n%s", name, err, res.Diags, src)
		}
	}
}

// TestHelpers: the helpers change what they say and nothing else.
func TestHelpers(t *testing.T) {
	tiny := testmodels.Tiny("residual streams=3 constraint=none")
	if want := strings.Replace(testmodels.Source("tiny.mhc"), "residual plain", "residual streams=3 constraint=none", 1); tiny != want {
		t.Errorf("Tiny:\n%s", tiny)
	}
	if !strings.HasPrefix(strings.Split(tiny, "\n")[4], "  residual streams=3") {
		t.Errorf("the residual statement is not on line 5, column 3:\n%s", tiny)
	}
	if got, want := testmodels.Small("eval every=0", "seed 3"), strings.TrimSuffix(testmodels.Small(), "}\n")+"  eval every=0\n  seed 3\n}\n"; got != want {
		t.Errorf("Small:\n%s", got)
	}
	if got := testmodels.Replace("a b c", "b", "x"); got != "a x c" {
		t.Errorf("Replace: %q", got)
	}
	for _, old := range []string{"z", "a"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Replace(%q) did not panic", old)
				}
			}()
			testmodels.Replace("a a", old, "x")
		}()
	}
}
