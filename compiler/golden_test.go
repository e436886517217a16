package compiler

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/txtar"

	"github.com/mhcc/mhcc/ir"
)

var update = flag.Bool("update", false, "rewrite the out.* files of the golden tests")

// TestPassGolden runs each testdata/passes/*.txtar case. The archive's
// comment names what to run, `passes: a,b,c` or `level: N`; the input is
// `in.ir` (IR text) or `in.mhc` (a program, lowered at -O0 first); the
// outputs are `out.ir` (the IR after the passes) and `out.stats` (their
// statistics). `go test ./compiler -update` rewrites the outputs.
func TestPassGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "passes", "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			opts := Options{Passes: []string{}}
			for _, line := range strings.Split(string(ar.Comment), "\n") {
				switch {
				case strings.HasPrefix(line, "passes:"):
					opts.Passes = strings.Split(strings.TrimSpace(strings.TrimPrefix(line, "passes:")), ",")
				case strings.HasPrefix(line, "level:"):
					n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "level:")))
					if err != nil {
						t.Fatalf("bad level line %q", line)
					}
					opts = Options{Level: Level(n)}
				}
			}
			var m *ir.Module
			for _, f := range ar.Files {
				switch f.Name {
				case "in.ir":
					m, err = ir.Parse(string(f.Data))
					if err != nil {
						t.Fatalf("in.ir: %v", err)
					}
					if got := m.String(); got != string(f.Data) && !*update {
						t.Logf("note: in.ir is not in printed form")
					}
				case "in.mhc":
					res, err := CompileSource("in.mhc", f.Data, Options{Level: O0})
					if err != nil || res.Module == nil {
						var b bytes.Buffer
						res.Diags.Render(&b, f.Data, false, 10)
						t.Fatalf("in.mhc: %v\n%s", err, b.String())
					}
					m = res.Module
				}
			}
			if m == nil {
				t.Fatal("no in.ir or in.mhc")
			}
			st, err := RunPasses(m, opts)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{"out.ir": m.String(), "out.stats": st.String()}
			if *update {
				var keep []txtar.File
				for _, f := range ar.Files {
					if !strings.HasPrefix(f.Name, "out.") {
						keep = append(keep, f)
					}
				}
				ar.Files = append(keep, txtar.File{Name: "out.ir", Data: []byte(got["out.ir"])},
					txtar.File{Name: "out.stats", Data: []byte(got["out.stats"])})
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want := map[string]string{}
			for _, f := range ar.Files {
				if strings.HasPrefix(f.Name, "out.") {
					want[f.Name] = string(f.Data)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("output differs (-want +got), rerun with -update to accept:\n%s", diff)
			}
		})
	}
}
