package ablate

import (
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/txtar"

	"github.com/mhcc/mhcc/compiler"
)

var update = flag.Bool("update", false, "rewrite the out/ files of the golden tests")

// golden compares got (out/ section name → content) with the out/
// sections of the archive file, or rewrites them with -update.
func golden(t *testing.T, file string, ar *txtar.Archive, got map[string]string) {
	t.Helper()
	if *update {
		var files []txtar.File
		for _, f := range ar.Files {
			if !strings.HasPrefix(f.Name, "out/") {
				files = append(files, f)
			}
		}
		var names []string
		for name := range got {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			files = append(files, txtar.File{Name: name, Data: []byte(got[name])})
		}
		ar.Files = files
		if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := map[string]string{}
	for _, f := range ar.Files {
		if strings.HasPrefix(f.Name, "out/") {
			want[f.Name] = string(f.Data)
		}
	}
	for name, g := range got {
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: unexpected %s (run with -update to accept):\n%s", file, name, g)
			continue
		}
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("%s: %s mismatch (-want +got):\n%s", file, name, diff)
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("%s: expected %s, but there is none", file, name)
		}
	}
}

// readArchive reads a txtar file, or an empty archive with -update when
// the file does not exist yet.
func readArchive(t *testing.T, file string) *txtar.Archive {
	t.Helper()
	ar, err := txtar.ParseFile(file)
	if err != nil {
		if *update && os.IsNotExist(err) {
			return &txtar.Archive{}
		}
		t.Fatal(err)
	}
	return ar
}

// compileModel compiles src as file name.
func compileModel(t *testing.T, name string, src []byte) Model {
	t.Helper()
	res, err := compiler.CompileSource(name, src)
	if err != nil || res.Module == nil {
		t.Fatalf("%s: %v\n%s", name, err, res.Diags)
	}
	return Model{File: name, Program: res.Program, Module: res.Module, Source: src}
}

// TestDiffGolden compares `mhcc diff` of the `a.mhc` and `b.mhc` sections
// of each testdata/diff/*.txtar with its out/diff section.
func TestDiffGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "diff", "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar := readArchive(t, file)
			src := map[string][]byte{}
			for _, f := range ar.Files {
				src[f.Name] = f.Data
			}
			if src["a.mhc"] == nil || src["b.mhc"] == nil {
				t.Fatal("want a.mhc and b.mhc sections")
			}
			d, err := Compare(compileModel(t, "a.mhc", src["a.mhc"]), compileModel(t, "b.mhc", src["b.mhc"]))
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			if err := d.Write(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, file, ar, map[string]string{"out/diff": b.String()})
		})
	}
}
