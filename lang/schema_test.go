package lang

import (
	"testing"

	"github.com/mhcc/mhcc/internal/testmodels"
)

// TestSchemaDefaults checks that every default in the table parses and is
// itself valid, and that every entry is documented.
func TestSchemaDefaults(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Schema {
		if seen[s.Keyword] {
			t.Errorf("%s: listed twice", s.Keyword)
		}
		seen[s.Keyword] = true
		if s.Doc == "" || s.Example == "" || s.In == 0 {
			t.Errorf("%s: missing doc, example or place", s.Keyword)
		}
		for _, l := range s.Labels {
			if l.Doc == "" {
				t.Errorf("%s label %s: no doc", s.Keyword, l.Name)
			}
			if l.Default == "" {
				continue
			}
			switch l.Type {
			case TypeEnum:
				if !contains(l.Values, l.Default) {
					t.Errorf("%s: default %q not among %v", s.Keyword, l.Default, l.Values)
				}
			case TypeInt:
				if v := parseDefault(TypeInt, l.Default); !l.Range.Contains(float64(v.i)) {
					t.Errorf("%s: default %s out of range %s", s.Keyword, l.Default, l.Range)
				}
			}
		}
		for _, a := range s.Attrs {
			if a.Doc == "" {
				t.Errorf("%s.%s: no doc", s.Keyword, a.Name)
			}
			if a.Required != (a.Default == "" && a.DefaultDoc == "") && a.Type != TypeString {
				t.Errorf("%s.%s: want either Required or a Default", s.Keyword, a.Name)
			}
			if a.Default == "" {
				continue
			}
			// Check the default through the real parser and checker.
			src := testmodels.Minimal()
			stmt := s.Keyword + " "
			if k := a.Kinds; len(k) > 0 && k[0] != DataFile {
				stmt += k[0] + " "
			}
			if s.Keyword == "data" && len(a.Kinds) > 0 && a.Kinds[0] == DataFile {
				stmt += `file="x" `
			}
			if s.Keyword == "attention" || s.Keyword == "mlp" || s.Keyword == "embed" {
				continue // covered by the golden tests; need required attributes
			}
			stmt += a.Name + "=" + a.Default
			switch {
			case s.In&InTrain != 0:
				src += "train {\n " + stmt + "\n}\n"
			case s.In&InModel != 0 && s.Keyword != "norm":
				src = testmodels.Replace(src, " block a", " "+stmt+"\n block a")
			case s.Keyword == "norm":
				src = testmodels.Replace(src, "mlp hidden=8", "norm "+stmt[len("norm "):]+"; mlp hidden=8")
			}
			if _, diags := Load("d.mhc", []byte(src)); diags.HasErrors() {
				t.Errorf("%s.%s: default %q does not check:\n%s\n%s", s.Keyword, a.Name, a.Default, src, diags)
			}
		}
	}
}

func TestUsage(t *testing.T) {
	for kw, want := range map[string]string{
		"norm":     "norm [rms|layer] [eps=F]",
		"block":    "block NAME { ... }",
		"vocab":    "vocab N",
		"residual": "residual [plain|hyper] [streams=N] [constraint=birkhoff|stochastic|permutations|none|identity] [dynamic=true|false] [sinkhorn=N] [init=residual|uniform] [alpha=F] [phi_std=F] [collapse=sum|mean|learned] [recompute=true|false]",
		"let":      "let NAME = VALUE",
	} {
		if got := Lookup(kw).Usage(); got != want {
			t.Errorf("Usage(%s) = %q, want %q", kw, got, want)
		}
	}
}

func TestSuggest(t *testing.T) {
	for _, c := range []struct{ word, want string }{
		{"stream", "streams"}, {"blok", "block"}, {"tide", "tied"}, {"n", ""}, {"Streams", "streams"}, {"xyzzy", ""},
	} {
		if got := suggest(c.word, []string{"streams", "block", "tied", "d"}); got != c.want {
			t.Errorf("suggest(%q) = %q, want %q", c.word, got, c.want)
		}
	}
}
