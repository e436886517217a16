package lang

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/internal/golden"
)

// TestFormatGolden formats each testdata/fmt/*.txtar `in.mhc` and compares
// the result (out/fmt) or the syntax errors (out/errors). Every output must
// itself be formatted already (idempotence) and, when the input checks,
// check to the same program.
func TestFormatGolden(t *testing.T) {
	golden.Run(t, "testdata/fmt", func(t *testing.T, a *golden.Archive) {
		src := a.MustInput(t, "in.mhc")
		out, diags := FormatSource("in.mhc", src)
		if len(diags) > 0 {
			a.Out("errors", render(diags, src))
		}
		if out == nil {
			return
		}
		a.Out("fmt", string(out))
		if again, diags := FormatSource("in.mhc", out); !bytes.Equal(again, out) {
			t.Errorf("not idempotent: formatting the output again gives\n%s%s", again, diags)
		}
		assertSameProgram(t, src, out)
	})
}

// posLine matches the position lines of Program.Dump.
var posLine = regexp.MustCompile(`(?m)^.*\.pos = .*\n`)

// assertSameProgram checks that src and its formatted form out check to
// the same program (positions aside) with the same diagnostics messages.
func assertSameProgram(t *testing.T, src, out []byte) {
	t.Helper()
	p1, d1 := Load("in.mhc", src)
	p2, d2 := Load("in.mhc", out)
	if (p1 == nil) != (p2 == nil) {
		t.Fatalf("formatting changed whether the file checks:\nbefore: %s\nafter: %s", d1, d2)
	}
	if p1 != nil {
		if a, b := posLine.ReplaceAllString(p1.Dump(), ""), posLine.ReplaceAllString(p2.Dump(), ""); a != b {
			t.Errorf("formatting changed the program:\n%s\nvs\n%s", a, b)
		}
	}
}

// TestExamplesClean checks that every example, in examples/ and its
// subfolders, passes check without a single diagnostic and is formatted
// already.
func TestExamplesClean(t *testing.T) {
	files, err := exampleFiles()
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if _, diags := Load(file, src); len(diags) > 0 {
			t.Errorf("%s: want no diagnostics, got\n%s", file, diags)
		}
		out, diags := FormatSource(file, src)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", file, diags)
		}
		if !bytes.Equal(out, src) {
			t.Errorf("%s is not formatted; `mhcc fmt -w %s` gives\n%s", file, file, out)
		}
	}
}

// exampleFiles lists the .mhc files under examples/, subfolders included.
func exampleFiles() ([]string, error) {
	var files []string
	err := filepath.WalkDir("../examples", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(path) == ".mhc" {
			files = append(files, path)
		}
		return err
	})
	return files, err
}

// TestFormatEdgeCases pins the layout of small inputs.
func TestFormatEdgeCases(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"\n\n\n", ""},
		{"# only\n\n\n# comments", "# only\n\n# comments\n"},
		{"\xEF\xBB\xBFmodel m {}", "model m {}\n"},
		{"model m {\r\n  vocab 1 # v\r\n}\r\n", "model m {\n  vocab 1  # v\n}\n"},
		{"model m {\n\tvocab 1\n}", "model m {\n  vocab 1\n}\n"},
		{"a {}\nb {}", "a {}\n\nb {}\n"},
		{"let a = 1\nlet b = 2\n\n\nlet c = 3", "let a = 1\nlet b = 2\n\nlet c = 3\n"},
		{"x a=-1 b=(1+2)*3 c=-(d) e=[ ] f=g( )", "x a=-1 b=(1+2)*3 c=-(d) e=[] f=g()\n"},
		{"let x = -(1+2)*3/4", "let x = -(1 + 2) * 3 / 4\n"},
		{"x k=1 l m=2 n", "x k=1 l m=2 n\n"},
		{"a { b { c { d 1 } } }", "a {\n  b {\n    c {\n      d 1\n    }\n  }\n}\n"},
		{"a { # x\n}", "a {  # x\n}\n"},
		{"a {\n}  # x", "a {}  # x\n"},
		{"; # c\nx", "# c\nx\n"},
		{"a 1 # one\nbb 22 # two\n\nccc 3 # three", "a 1    # one\nbb 22  # two\n\nccc 3  # three\n"},
	} {
		got, diags := FormatSource("t.mhc", []byte(c.in))
		if diags.HasErrors() {
			t.Errorf("%q: %s", c.in, diags)
			continue
		}
		if string(got) != c.want {
			t.Errorf("Format(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
		if again, _ := FormatSource("t.mhc", got); !bytes.Equal(again, got) {
			t.Errorf("Format(%q) is not idempotent: %q then %q", c.in, got, again)
		}
	}
	if _, err := Format(nil, nil); err == nil {
		t.Error("Format(nil) should fail")
	}
	if _, diags := FormatSource("t.mhc", []byte("model {")); !diags.HasErrors() || !strings.Contains(diags.String(), "t.mhc:1:") {
		t.Errorf("want a positioned syntax error, got %s", diags)
	}
}
