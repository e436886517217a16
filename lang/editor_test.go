package lang

import (
	"slices"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/internal/testmodels"
)

// TestBodyPlace checks that every statement with a body has a place for
// its statements, and that the statements StatementsIn lists for it are
// those the checker accepts there (keywordsIn, which its messages use).
func TestBodyPlace(t *testing.T) {
	for _, s := range Schema {
		w := BodyPlace(s.Keyword)
		if s.Body != (w != 0) {
			t.Errorf("`%s`: body %v but place %v", s.Keyword, s.Body, w)
			continue
		}
		if w == 0 {
			continue
		}
		var got []string
		for _, x := range StatementsIn(w) {
			got = append(got, x.Keyword)
		}
		if want := keywordsIn(w); !slices.Equal(got, want) || len(got) == 0 {
			t.Errorf("`%s { ... }` takes %v, the checker says %v", s.Keyword, got, want)
		}
	}
}

// TestTokens checks that Tokens gives the lexer's tokens with their
// kinds and spans, comments left out, and stops quietly on bad input.
func TestTokens(t *testing.T) {
	src := "model m { # c\n  embed dim=4*d init=normal(0.02) x=\"é\"\n}"
	var got []string
	for _, tok := range Tokens("f.mhc", []byte(src)) {
		if src[tok.Pos.Offset:tok.End.Offset] != tok.Text {
			t.Errorf("token %q spans %q", tok.Text, src[tok.Pos.Offset:tok.End.Offset])
		}
		got = append(got, tok.Text)
		if tok.Kind == TokenString && tok.Text != `"é"` || tok.Kind == TokenFloat && tok.Text != "0.02" {
			t.Errorf("token %q has kind %d", tok.Text, tok.Kind)
		}
	}
	want := []string{"model", "m", "{", "\n", "embed", "dim", "=", "4", "*", "d", "init", "=", "normal", "(", "0.02", ")", "x", "=", `"é"`, "\n", "}"}
	if !slices.Equal(got, want) {
		t.Errorf("tokens %q, want %q", got, want)
	}
	if toks := Tokens("f.mhc", []byte("model\x00")); len(toks) != 0 {
		t.Errorf("a NUL byte: tokens %v, want none", toks)
	}
}

// TestKindOf checks the kinds that select attributes: the label, the
// default, and `data` with `file=`.
func TestKindOf(t *testing.T) {
	for _, c := range []struct {
		kw, label string
		attrs     []string
		kind      string
		has, not  string // an attribute AttrsFor(kind) lists, and one it does not
	}{
		{"residual", "", nil, kindHyper, "streams", ""},
		{"residual", "plain", nil, ResidualPlain, "", "streams"},
		{"data", "", []string{"file"}, DataFile, "format", "task"},
		{"data", "", nil, DataSynthetic, "task", "format"},
		{"attention", "mla", nil, AttentionMLA, "kv_rank", "kv_heads"},
		{"mlp", "", nil, "", "hidden", ""},
	} {
		s := Lookup(c.kw)
		kind := s.KindOf(c.label, c.attrs)
		if kind != c.kind {
			t.Errorf("%s %s %v: kind %q, want %q", c.kw, c.label, c.attrs, kind, c.kind)
		}
		var names []string
		for _, a := range s.AttrsFor(kind) {
			names = append(names, a.Name)
		}
		if c.has != "" && !slices.Contains(names, c.has) || c.not != "" && slices.Contains(names, c.not) {
			t.Errorf("%s kind %q: attributes %v, want %s and not %s", c.kw, kind, names, c.has, c.not)
		}
	}
}

// TestLets checks that Lets gives every `let`'s value where the checker
// computed it, also when the rest of the file has errors.
func TestLets(t *testing.T) {
	src := "let w = 4\nmodel m {\n  let d = 2*w\n  vocab 16; context 4; embed dim=d\n  block a { let h = d+1; mlp hidden=h }\n  nonsense 1\n}\n"
	f, diags := Parse("f.mhc", []byte(src))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if p, diags := Check(f); p != nil || !diags.HasErrors() {
		t.Fatalf("the file should have an error: %v", diags)
	}
	var got []string
	for _, l := range Lets(f) {
		got = append(got, l.Name+"="+l.Value+"@"+l.Pos.String())
	}
	// w = 4; d = 2*4 = 8; h = 8+1 = 9
	want := []string{"w=4@f.mhc:1:5", "d=8@f.mhc:3:7", "h=9@f.mhc:5:17"}
	if !slices.Equal(got, want) {
		t.Errorf("lets %v, want %v", got, want)
	}
}

// TestExplainUnder checks that the lines under a path are exactly
// Explain's lines of that path, in Explain's order and alignment.
func TestExplainUnder(t *testing.T) {
	p, diags := Load("tiny.mhc", []byte(testmodels.Tiny("residual streams=4")))
	if p == nil {
		t.Fatal(diags)
	}
	all := strings.SplitAfter(p.Explain(), "\n")
	for _, prefix := range []string{"model.residual", "train.optimizer", "model.blocks.1.mlp.mlp"} {
		var want []string
		for _, line := range all {
			if strings.HasPrefix(line, prefix+" ") || strings.HasPrefix(line, prefix+".") {
				want = append(want, line)
			}
		}
		if got := p.ExplainUnder(prefix); got != strings.Join(want, "") || len(want) < 2 {
			t.Errorf("ExplainUnder(%q):\n%s\nwant:\n%s", prefix, got, strings.Join(want, ""))
		}
	}
	if got := p.ExplainUnder("model.nothing"); got != "" {
		t.Errorf("ExplainUnder of no setting: %q", got)
	}
}
