package lang_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/internal/golden"
	"github.com/mhcc/mhcc/lang"
)

// irPos matches the source position at the end of every IR line, which is
// the one thing formatting may change.
var irPos = regexp.MustCompile(`(?m) @\d+:\d+$`)

// TestFormatKeepsIR checks that formatting never changes the compiled
// program: for every example and every golden input that compiles, the IR
// of fmt(x) equals the IR of x, apart from source positions. Examples are
// formatted already, so for them the IR is identical to the byte.
func TestFormatKeepsIR(t *testing.T) {
	inputs := map[string][]byte{}
	examples, _ := filepath.Glob("../examples/*.mhc")
	sub, _ := filepath.Glob("../examples/*/*.mhc")
	examples = append(examples, sub...)
	for _, f := range examples {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs[f] = src
	}
	for _, dir := range []string{"check", "parse", "fmt", "explain"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.txtar"))
		for _, f := range files {
			a, err := golden.Read(f)
			if err != nil {
				t.Fatal(err)
			}
			if src, ok := a.Input("in.mhc"); ok {
				inputs[f] = src
			}
		}
	}
	compiled := 0
	for name, src := range inputs {
		before, err := compiler.CompileSource("in.mhc", src)
		if err != nil || before.Module == nil {
			continue
		}
		out, diags := lang.FormatSource("in.mhc", src)
		if diags.HasErrors() {
			t.Errorf("%s compiles but does not format: %s", name, diags)
			continue
		}
		after, err := compiler.CompileSource("in.mhc", out)
		if err != nil || after.Module == nil {
			t.Errorf("%s: the formatted file does not compile: %v %s", name, err, after.Diags)
			continue
		}
		a, b := before.Module.String(), after.Module.String()
		if bytes.Equal(src, out) && a != b {
			t.Errorf("%s: same text, different IR", name)
		}
		if irPos.ReplaceAllString(a, "") != irPos.ReplaceAllString(b, "") {
			t.Errorf("%s: formatting changed the IR", name)
		}
		compiled++
	}
	t.Logf("%d of %d inputs compile; formatting kept the IR of each", compiled, len(inputs))
	if compiled < 10 {
		t.Errorf("only %d inputs compiled; the test is not testing much", compiled)
	}
}
