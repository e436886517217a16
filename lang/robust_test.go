package lang

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/internal/golden"
)

// hostileInputs are inputs a careless or malicious user could feed the
// front end: garbage, pathological nesting, huge files and token floods.
func hostileInputs() map[string][]byte {
	rng := rand.New(rand.NewSource(1))
	garbage := make([]byte, 4096)
	rng.Read(garbage)
	big := bytes.Repeat([]byte("let a = 4 * 5\n"), 10<<20/14)
	var bigValid bytes.Buffer // just under the size limit
	bigValid.WriteString("model m {\n  vocab 256; context 64; embed dim=64\n  block a { mlp hidden=4 }\n")
	for i := 0; bigValid.Len() < maxFileSize-100 && i < (maxTokens-100)/12; i++ { // 12 tokens a line
		fmt.Fprintf(&bigValid, "  let a%d = 4 * (5 + %d) # comment\n", i, i)
	}
	bigValid.WriteString("}\n")
	longLine := "model m " + strings.Repeat("x ", maxFileSize/2-10) + "{}"
	cases := map[string][]byte{
		"empty":              {},
		"only comments":      []byte("# one\n   # two\n#three"),
		"only newlines":      []byte("\n\n;;\n"),
		"binary garbage":     garbage,
		"NUL byte":           []byte("model m {\x00}"),
		"invalid UTF-8":      []byte("model m {\n  vocab 256 \xff\xfe\n}\n"),
		"invalid UTF-8 text": []byte("# caf\xe9\nmodel m {}\n"),
		"BOM":                []byte("\xEF\xBB\xBFmodel m {}\n"),
		"unbalanced open":    []byte("model m {\n  block a {\n"),
		"unbalanced close":   []byte("}}}}"),
		"10 MB":              big,
		"big valid":          bigValid.Bytes(),
		"deep braces":        []byte(strings.Repeat("a {", 100000)),
		"deep parens":        []byte("x a=" + strings.Repeat("(", 100000)),
		"deep lists":         []byte("x a=" + strings.Repeat("[", 100000)),
		"long minus chain":   []byte("x a=" + strings.Repeat("-", 100000) + "1"),
		"long line":          []byte(longLine),
		"too many tokens":    []byte(strings.Repeat("x ", maxTokens+1)),
		"huge repeat":        []byte("model m { vocab 1; context 1; embed dim=2; repeat 4096 { repeat 4096 { repeat 4096 { block a { mlp hidden=1 } } } } }"),
		"overflow":           []byte("model m { let a = 9223372036854775807 + 1; let b = -9223372036854775807 - 2; let c = 1e308 * 1e308; let e = 1/0; vocab a }"),
	}
	return cases
}

// TestRobust feeds hostile inputs to Load: each must return positioned
// errors (or, for an empty model, the "no model" error) and never panic.
// How fast they are refused is measured by BenchmarkLoadHostile, not here.
func TestRobust(t *testing.T) {
	for name, src := range hostileInputs() {
		t.Run(name, func(t *testing.T) {
			p, diags := Load("x.mhc", src)
			if name == "big valid" {
				if p == nil || len(diags) > 0 {
					t.Fatalf("want a program, got %s", diags)
				}
				return
			}
			if p != nil || !diags.HasErrors() {
				t.Fatalf("want errors, got program=%v diags=%v", p != nil, diags)
			}
			for _, d := range diags {
				if !d.Pos.IsValid() || d.Pos.File != "x.mhc" {
					t.Errorf("diagnostic without position: %+v", d)
				}
				if strings.Contains(d.Message, "participle") || strings.Contains(d.Message, "lexer.") || strings.Contains(d.Message, "*lang.") {
					t.Errorf("raw internal message: %q", d.Message)
				}
			}
			var b bytes.Buffer
			if err := diags.Render(&b, src, true, 5); err != nil {
				t.Fatal(err)
			}
			if _, err := diags.JSON(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// FuzzLoad checks that Load never panics, that every diagnostic has a
// position and renders, and that anything that parses formats, re-parses,
// formats idempotently and checks to the same program.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"../examples/*.mhc"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err == nil {
				f.Add(src)
			}
		}
	}
	for _, dir := range []string{"testdata/check", "testdata/parse", "testdata/fmt", "testdata/explain"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.txtar"))
		for _, file := range files {
			a, err := golden.Read(file)
			if err != nil {
				continue
			}
			if in, ok := a.Input("in.mhc"); ok {
				f.Add(in)
			}
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		p, diags := Load("f.mhc", src)
		if p == nil && !diags.HasErrors() {
			t.Fatal("nil program without errors")
		}
		for _, d := range diags {
			if !d.Pos.IsValid() {
				t.Fatalf("diagnostic without position: %+v", d)
			}
		}
		var b bytes.Buffer
		if err := diags.Render(&b, src, false, 0); err != nil {
			t.Fatal(err)
		}
		if p != nil {
			_ = p.Dump()
			_ = p.Explain()
		}
		checkFormat(t, src, p)
	})
}

// checkFormat is the formatter's half of FuzzLoad.
func checkFormat(t *testing.T, src []byte, p *Program) {
	file, diags := Parse("f.mhc", src)
	if diags.HasErrors() {
		return
	}
	out, err := Format(file, src)
	if err != nil {
		t.Fatalf("Format: %v", err)
	}
	if len(out) > maxFileSize {
		return // indentation can push a huge input over the size limit
	}
	file2, diags := Parse("f.mhc", out)
	if diags.HasErrors() {
		t.Fatalf("formatted output does not parse:\n%s\n%s", out, diags)
	}
	out2, err := Format(file2, out)
	if err != nil || !bytes.Equal(out, out2) {
		t.Fatalf("format is not idempotent:\n%q\nthen\n%q", out, out2)
	}
	p2, _ := Load("f.mhc", out)
	if (p == nil) != (p2 == nil) {
		t.Fatalf("formatting changed whether the file checks:\n%q\n%q", src, out)
	}
	if p != nil {
		if a, b := posLine.ReplaceAllString(p.Dump(), ""), posLine.ReplaceAllString(p2.Dump(), ""); a != b {
			t.Fatalf("formatting changed the program:\n%q\n%q", src, out)
		}
	}
}

// FuzzSet checks that no `--set` flag makes the checker panic, and that
// every diagnostic it causes names a position.
func FuzzSet(f *testing.F) {
	for _, s := range []string{"train.optimizer.lr=1e-3", "model.residual.streams=1", "train.batch=8", "model.d=64",
		"model.residual=plain", "train.data.file=x.txt", "model.blocks.0.attn.attention.heads=2", "x", "model.=", "train.optimizer.betas=[0.9, 0.99]"} {
		f.Add(s)
	}
	src, err := os.ReadFile("../examples/tiny.mhc")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, set string) {
		p, diags := LoadWith("tiny.mhc", src, Options{Set: []string{set, set}})
		if p == nil && !diags.HasErrors() {
			t.Fatal("nil program without errors")
		}
		for _, d := range diags {
			if !d.Pos.IsValid() && !d.Pos.IsOverride() {
				t.Fatalf("diagnostic without position: %+v", d)
			}
		}
		if p != nil {
			_ = p.Explain()
		}
	})
}

// BenchmarkLoadHostile measures how long each hostile input takes to be
// refused (the target is well under a second each: go test -bench
// LoadHostile ./lang).
func BenchmarkLoadHostile(b *testing.B) {
	for name, src := range hostileInputs() {
		b.Run(strings.ReplaceAll(name, " ", "_"), func(b *testing.B) {
			for range b.N {
				Load("x.mhc", src)
			}
		})
	}
}
