package compiler

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/internal/golden"
	"github.com/mhcc/mhcc/ir"
)

// TestPassGolden runs each testdata/passes/*.txtar case. The archive's
// comment names what to run, `passes: a,b,c` or `level: N`; the input is
// `in.ir` (IR text) or `in.mhc` (a program, lowered at -O0 first); the
// outputs are `out/ir` (the IR after the passes) and `out/stats` (their
// statistics). `go test ./compiler -update` rewrites the outputs.
func TestPassGolden(t *testing.T) {
	golden.Run(t, "testdata/passes", func(t *testing.T, a *golden.Archive) {
		opts := Options{Passes: []string{}}
		if v, ok := a.Value("passes"); ok {
			opts.Passes = strings.Split(v, ",")
		}
		if v, ok := a.Value("level"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("bad level line %q", v)
			}
			opts = Options{Level: Level(n)}
		}
		var m *ir.Module
		if src, ok := a.Input("in.ir"); ok {
			var err error
			m, err = ir.Parse(string(src))
			if err != nil {
				t.Fatalf("in.ir: %v", err)
			}
			if got := m.String(); got != string(src) && !golden.Update() {
				t.Logf("note: in.ir is not in printed form")
			}
		}
		if src, ok := a.Input("in.mhc"); ok {
			res, err := CompileSource("in.mhc", src, Options{Level: O0})
			if err != nil || res.Module == nil {
				var b bytes.Buffer
				res.Diags.Render(&b, src, false, 10)
				t.Fatalf("in.mhc: %v\n%s", err, b.String())
			}
			m = res.Module
		}
		if m == nil {
			t.Fatal("no in.ir or in.mhc")
		}
		st, err := RunPasses(m, opts)
		if err != nil {
			t.Fatal(err)
		}
		a.Out("ir", m.String())
		a.Out("stats", st.String())
	})
}
