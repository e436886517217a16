package lang

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/txtar"
)

var update = flag.Bool("update", false, "rewrite the out/ files of the golden tests")

// renderLimit is the diagnostics cap used in golden output.
const renderLimit = 10

// TestCheckGolden runs Load on each testdata/check/*.txtar `in.mhc` and
// compares the rendered diagnostics (out/errors) and the resolved program
// (out/program) with the archive.
func TestCheckGolden(t *testing.T) {
	runGolden(t, "testdata/check", func(src []byte, _ map[string]string) map[string]string {
		p, diags := Load("in.mhc", src)
		out := map[string]string{}
		if len(diags) > 0 {
			out["out/errors"] = render(diags, src)
		}
		if p != nil {
			out["out/program"] = p.Dump()
		}
		return out
	})
}

// TestParseGolden runs Parse only on each testdata/parse/*.txtar and
// compares the syntax errors (out/errors) or a dump of the tree (out/ast).
func TestParseGolden(t *testing.T) {
	runGolden(t, "testdata/parse", func(src []byte, _ map[string]string) map[string]string {
		f, diags := Parse("in.mhc", src)
		out := map[string]string{}
		if len(diags) > 0 {
			out["out/errors"] = render(diags, src)
		}
		if f != nil {
			out["out/ast"] = dumpAST(f)
		}
		return out
	})
}

func render(d Diagnostics, src []byte) string {
	var b bytes.Buffer
	if err := d.Render(&b, src, false, renderLimit); err != nil {
		return "render error: " + err.Error()
	}
	return b.String()
}

// runGolden runs each archive in dir: run gets the `in.mhc` section and
// the other input sections by name, and returns the out/ sections.
func runGolden(t *testing.T, dir string, run func(src []byte, inputs map[string]string) map[string]string) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files in %s: %v", dir, err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var src []byte
			want, inputs := map[string]string{}, map[string]string{}
			for _, f := range ar.Files {
				switch {
				case f.Name == "in.mhc":
					src = f.Data
				case strings.HasPrefix(f.Name, "out/"):
					want[f.Name] = string(f.Data)
				default:
					inputs[f.Name] = string(f.Data)
				}
			}
			if src == nil {
				t.Fatal("no in.mhc section")
			}
			got := run(src, inputs)
			if *update {
				writeGolden(t, file, ar, got)
				return
			}
			for _, name := range sortedKeys(want, got) {
				w, inWant := want[name]
				g, inGot := got[name]
				switch {
				case !inGot:
					t.Errorf("%s: expected %s, but there is none", file, name)
				case !inWant:
					t.Errorf("%s: unexpected %s (run with -update to accept):\n%s", file, name, g)
				default:
					if diff := cmp.Diff(w, g); diff != "" {
						t.Errorf("%s: %s mismatch (-want +got):\n%s", file, name, diff)
					}
				}
			}
		})
	}
}

func writeGolden(t *testing.T, file string, ar *txtar.Archive, got map[string]string) {
	var files []txtar.File
	for _, f := range ar.Files {
		if !strings.HasPrefix(f.Name, "out/") {
			files = append(files, f)
		}
	}
	for _, name := range sortedKeys(got, nil) {
		files = append(files, txtar.File{Name: name, Data: []byte(got[name])})
	}
	ar.Files = files
	if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
		t.Fatal(err)
	}
}

func sortedKeys(a, b map[string]string) []string {
	seen := map[string]bool{}
	for k := range a {
		seen[k] = true
	}
	for k := range b {
		seen[k] = true
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// dumpAST prints the tree one statement per line, indented by depth.
func dumpAST(f *File) string {
	var b strings.Builder
	var walk func(stmts []*Stmt, depth int)
	walk = func(stmts []*Stmt, depth int) {
		for _, s := range stmts {
			ind := strings.Repeat("  ", depth)
			if s.Let != nil {
				fmt.Fprintf(&b, "%s%d:%d let %s = %s\n", ind, s.Pos.Line, s.Pos.Col, s.Let.Name.Name, exprString(s.Let.Value))
				continue
			}
			fmt.Fprintf(&b, "%s%d:%d %s", ind, s.Pos.Line, s.Pos.Col, s.Keyword.Name)
			for _, l := range s.Labels {
				fmt.Fprintf(&b, " label(%s)", exprString(l))
			}
			for _, a := range s.Attrs {
				fmt.Fprintf(&b, " %s=%s", a.Key.Name, exprString(a.Value))
			}
			fmt.Fprintf(&b, " end=%d:%d\n", s.End.Line, s.End.Col)
			if s.Body != nil {
				walk(s.Body.Stmts, depth+1)
			}
		}
	}
	walk(f.Stmts, 0)
	return b.String()
}

// TestExplainGolden runs LoadWith on each testdata/explain/*.txtar `in.mhc`
// with the overrides of its optional `set` section (one PATH=VALUE per
// line) and compares Program.Explain (out/explain) and the diagnostics
// (out/errors).
func TestExplainGolden(t *testing.T) {
	runGolden(t, "testdata/explain", func(src []byte, inputs map[string]string) map[string]string {
		var sets []string
		for _, line := range strings.Split(inputs["set"], "\n") {
			if line != "" {
				sets = append(sets, line)
			}
		}
		p, diags := LoadWith("in.mhc", src, Options{Set: sets})
		out := map[string]string{}
		if len(diags) > 0 {
			out["out/errors"] = render(diags, src)
		}
		if p != nil {
			out["out/explain"] = p.Explain()
		}
		return out
	})
}
