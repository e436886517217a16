package lang

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/internal/golden"
)

// renderLimit is the diagnostics cap used in golden output.
const renderLimit = 10

// TestCheckGolden runs Load on each testdata/check/*.txtar `in.mhc` and
// compares the rendered diagnostics (out/errors) and the resolved program
// (out/program) with the archive.
func TestCheckGolden(t *testing.T) {
	golden.Run(t, "testdata/check", func(t *testing.T, a *golden.Archive) {
		src := a.MustInput(t, "in.mhc")
		p, diags := Load("in.mhc", src)
		if len(diags) > 0 {
			a.Out("errors", render(diags, src))
		}
		if p != nil {
			a.Out("program", p.Dump())
		}
	})
}

// TestParseGolden runs Parse only on each testdata/parse/*.txtar and
// compares the syntax errors (out/errors) or a dump of the tree (out/ast).
func TestParseGolden(t *testing.T) {
	golden.Run(t, "testdata/parse", func(t *testing.T, a *golden.Archive) {
		src := a.MustInput(t, "in.mhc")
		f, diags := Parse("in.mhc", src)
		if len(diags) > 0 {
			a.Out("errors", render(diags, src))
		}
		if f != nil {
			a.Out("ast", dumpAST(f))
		}
	})
}

func render(d Diagnostics, src []byte) string {
	var b bytes.Buffer
	if err := d.Render(&b, src, false, renderLimit); err != nil {
		return "render error: " + err.Error()
	}
	return b.String()
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
	golden.Run(t, "testdata/explain", func(t *testing.T, a *golden.Archive) {
		src := a.MustInput(t, "in.mhc")
		set, _ := a.Input("set")
		var sets []string
		for _, line := range strings.Split(string(set), "\n") {
			if line != "" {
				sets = append(sets, line)
			}
		}
		p, diags := LoadWith("in.mhc", src, Options{Set: sets})
		if len(diags) > 0 {
			a.Out("errors", render(diags, src))
		}
		if p != nil {
			a.Out("explain", p.Explain())
		}
	})
}
