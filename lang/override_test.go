package lang

import (
	"strings"
	"testing"
)

// TestOverrideNames: an override named by the flag that made it (a
// command-line flag such as `--steps 0`) is checked like `--set` and its
// diagnostics name that flag; a name not starting with "--" keeps the
// default "--set PATH=VALUE".
func TestOverrideNames(t *testing.T) {
	src := []byte("model m {\n  vocab 8\n  context 4\n  embed dim=4\n  block b { mlp hidden=4 }\n}\ntrain {\n  schedule cosine warmup=10\n}\n")
	_, diags := LoadWith("m.mhc", src, Options{Set: []string{"train.steps=0", "train.seed=-1"}, Names: []string{"--steps 0", "bogus"}})
	var got []string
	for _, d := range diags {
		got = append(got, d.Pos.File+": "+d.Message)
	}
	want := []string{
		"--set train.seed=-1: `seed` must be at least 0, found -1",
		"--steps 0: `steps` must be between 1 and 1099511627776, found 0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A warning caused by a named override: the run is shorter than the
	// file's warmup, whichever flag set the steps.
	p, diags := LoadWith("m.mhc", src, Options{Set: []string{"train.steps=5"}, Names: []string{"--steps 5"}})
	if p == nil || len(diags) != 1 || !strings.Contains(diags[0].Message, "`warmup=10` is longer than the run (`steps 5`)") {
		t.Errorf("want the warmup warning, got %v", diags)
	}
}
