package lang

import (
	"slices"
	"strings"
	"testing"
)

func checked(t *testing.T, src string) *Program {
	t.Helper()
	f, diags := Parse("m.mhc", []byte(src))
	if diags.HasErrors() {
		t.Fatalf("parse: %v", diags)
	}
	p, diags := Check(f)
	if diags.HasErrors() {
		t.Fatalf("check: %v", diags)
	}
	return p
}

// TestModelFunction: the settings that fix the function of a trained
// model tell programs apart exactly when a checkpoint of one does not
// serve the other — rope on or off differs; the name, a let's name,
// initialisation, recompute and the training context do not.
func TestModelFunction(t *testing.T) {
	base := `model m {
  vocab 64
  context 8
  embed dim=16
  residual streams=4 constraint=birkhoff sinkhorn=5
  repeat 4 {
    block attn { norm rms; attention heads=2 }
  }
}
`
	fn := checked(t, base).ModelFunction()
	for _, line := range []string{"model.vocab = 64", "model.embed.dim = 16", "model.residual.streams = 4",
		"model.blocks.3.attn.attention.rope = true"} {
		if !slices.Contains(fn, line) {
			t.Errorf("ModelFunction lacks %q: %q", line, fn)
		}
	}
	same := map[string]string{
		"the name":       strings.Replace(base, "model m", "model other", 1),
		"the context":    strings.Replace(base, "context 8", "context 32", 1),
		"the embed init": strings.Replace(base, "embed dim=16", "embed dim=16 init=normal(0.5)", 1),
		"the hc init":    strings.Replace(base, "sinkhorn=5", "sinkhorn=5 init=uniform alpha=0.5 phi_std=0.1", 1),
		"recompute":      strings.Replace(base, "sinkhorn=5", "sinkhorn=5 recompute=true", 1),
		"a let":          strings.Replace(strings.Replace(base, "vocab 64", "let d = 16\n  vocab 64", 1), "dim=16", "dim=d", 1),
	}
	for what, src := range same {
		if got := checked(t, src).ModelFunction(); !slices.Equal(got, fn) {
			t.Errorf("%s changes ModelFunction:\n%q\n%q", what, got, fn)
		}
	}
	untied := strings.TrimSuffix(base, "}\n") + "  head untied\n}\n"
	if a, b := checked(t, untied).ModelFunction(), checked(t, strings.Replace(untied, "head untied", "head untied init=normal(0.1)", 1)).ModelFunction(); !slices.Equal(a, b) {
		t.Errorf("the head init changes ModelFunction:\n%q\n%q", a, b)
	}
	if slices.Equal(checked(t, untied).ModelFunction(), fn) {
		t.Errorf("untying the head does not change ModelFunction")
	}
	differ := map[string]string{
		"rope":     strings.Replace(base, "heads=2", "heads=2 rope=false", 1),
		"sinkhorn": strings.Replace(base, "sinkhorn=5", "sinkhorn=6", 1),
		"norm eps": strings.Replace(base, "norm rms;", "norm rms eps=1e-5;", 1),
		"collapse": strings.Replace(base, "sinkhorn=5", "sinkhorn=5 collapse=mean", 1),
	}
	for what, src := range differ {
		if got := checked(t, src).ModelFunction(); slices.Equal(got, fn) {
			t.Errorf("%s does not change ModelFunction", what)
		}
	}
}
