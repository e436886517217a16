package compiler

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/ir"
)

// fakeTarget implements every op but the ones it lists, with their
// reasons ("" for an op it simply lacks).
type fakeTarget map[string]string

func (fakeTarget) Name() string { return "fake" }
func (f fakeTarget) Support(op string) (bool, string) {
	reason, missing := f[op]
	return !missing, reason
}

func TestTargetReportsUnsupportedOpsAtTheStatement(t *testing.T) {
	src, err := os.ReadFile("../examples/tiny.mhc")
	if err != nil {
		t.Fatal(err)
	}
	target := fakeTarget{ir.OpAttention: "fake has no attention kernel", ir.OpGELU: ""}
	res, err := CompileSource("tiny.mhc", src, Options{Level: O2, Target: target})
	if err != nil {
		t.Fatal(err)
	}
	if res.Module != nil || !res.Diags.HasErrors() {
		t.Fatalf("compiled for a target without attention: %v", res.Diags)
	}
	var out bytes.Buffer
	if err := res.Diags.Render(&out, src, false, 10); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	// The attention statement is on line 11, the MLP's on line 15 (a
	// `repeat` body: reported once).
	for _, want := range []string{
		"tiny.mhc:11:7: error: the fake backend cannot run `attention`, which this statement needs",
		"= help: fake has no attention kernel",
		"tiny.mhc:15:7: error: the fake backend cannot run `gelu`, which this statement needs",
		"= help: this is a gap in the backend",
		"= help: compiling at -O0",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "error:"); n != 2 {
		t.Errorf("%d errors, want one per op and statement:\n%s", n, got)
	}
	// At -O0 there is no fused op to refuse; the full target accepts all.
	for _, o := range []Options{{Level: O0, Target: target}, {Level: O2, Target: fakeTarget{}}} {
		res, err := CompileSource("tiny.mhc", src, o)
		if err != nil || res.Module == nil || res.Diags.HasErrors() {
			t.Errorf("%v: %v %v", o.Level, err, res.Diags)
		}
	}
}
