// Package golden is the one harness of the repository's golden tests, and
// the home of their one -update flag. It is test support: only _test.go
// files import it (a test in this package checks that every package with
// tests does, so that `go test ./... -update` is accepted everywhere).
//
// A golden case is a .txtar archive (modelled on CUE's cuetxtar): a
// comment, input sections under any name not starting with "out/", and
// output sections "out/NAME". Run calls a test function once per archive
// of a folder; the function reads the inputs and records the outputs with
// Archive.Out, and Run compares the recorded outputs with the archive's
// out/ sections (go-cmp's cmp.Diff, one diff per section, and a report of
// every missing or unexpected section). With -update it rewrites the
// archive instead: the comment and the input sections as they were, then
// the recorded outputs sorted by name.
//
// Golden output must be the same on every machine and every run: a test
// masks timings and other measured numbers before recording them, and Run
// fails an output that holds a terminal colour sequence or an absolute
// path of this machine (the module's folder or the temporary folder).
package golden

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/txtar"
)

// OutPrefix starts the name of every output section.
const OutPrefix = "out/"

var update = flag.Bool("update", false,
	"rewrite the out/ sections of the golden .txtar files (and the other generated golden files) with what the tests produce")

// Update reports whether the test binary runs with -update: golden files
// are rewritten with what the tests produce instead of compared. A test
// with golden data of its own (a generated section of a document, the
// scripts of testscript) follows it too.
func Update() bool { return *update }

// Archive is one golden case: the inputs of a .txtar file and the outputs
// the test records for it.
type Archive struct {
	// Name is the file's base name without ".txtar", the subtest's name.
	Name string
	// File is the path of the archive as Run found it.
	File string
	// Comment is the text before the first section.
	Comment string

	ar  *txtar.Archive
	out map[string]*bytes.Buffer // by section name, "out/..." included
}

// Input returns the content of the input section name, and whether the
// archive has it.
func (a *Archive) Input(name string) ([]byte, bool) {
	for _, f := range a.ar.Files {
		if f.Name == name && !strings.HasPrefix(f.Name, OutPrefix) {
			return f.Data, true
		}
	}
	return nil, false
}

// MustInput returns the content of the input section name, and ends the
// test if the archive has none.
func (a *Archive) MustInput(t testing.TB, name string) []byte {
	t.Helper()
	data, ok := a.Input(name)
	if !ok {
		t.Fatalf("%s: no %s section", a.File, name)
	}
	return data
}

// Inputs returns the names of the input sections in archive order.
func (a *Archive) Inputs() []string {
	var names []string
	for _, f := range a.ar.Files {
		if !strings.HasPrefix(f.Name, OutPrefix) {
			names = append(names, f.Name)
		}
	}
	return names
}

// Value returns the value of the comment line "key: value", space
// trimmed, and whether the comment has one: the settings of a case.
func (a *Archive) Value(key string) (string, bool) {
	for _, line := range strings.Split(a.Comment, "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// Out records content as the output section out/name (appending to what
// an earlier Out or Writer of the same name recorded).
func (a *Archive) Out(name, content string) {
	io.WriteString(a.Writer(name), content)
}

// Writer returns a writer of the output section out/name. An output
// section exists as soon as it is asked for, even if nothing is written.
func (a *Archive) Writer(name string) io.Writer {
	key := OutPrefix + name
	b, ok := a.out[key]
	if !ok {
		b = new(bytes.Buffer)
		a.out[key] = b
	}
	return b
}

// Run runs f as a subtest for each dir/*.txtar archive, in name order,
// and then checks (or, with -update, rewrites) the archive's outputs. A
// folder without archives fails. A subtest that f ends with t.Fatal or
// t.Skip neither checks nor rewrites its archive.
func Run(t *testing.T, dir string, f func(t *testing.T, a *Archive)) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files in %s: %v", dir, err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			run(t, file, false, f)
		})
	}
}

// RunFile does what Run does for one archive, in the calling test (no
// subtest). With -update an archive that does not exist yet is created.
func RunFile(t *testing.T, file string, f func(t *testing.T, a *Archive)) {
	t.Helper()
	run(t, file, true, f)
}

// Read reads an archive for its inputs outside Run, such as the seeds of
// a fuzz test; nothing checks what it records.
func Read(file string) (*Archive, error) {
	ar, err := txtar.ParseFile(file)
	if err != nil {
		return nil, err
	}
	return newArchive(file, ar), nil
}

func newArchive(file string, ar *txtar.Archive) *Archive {
	return &Archive{
		Name:    strings.TrimSuffix(filepath.Base(file), ".txtar"),
		File:    file,
		Comment: string(ar.Comment),
		ar:      ar,
		out:     map[string]*bytes.Buffer{},
	}
}

func run(t *testing.T, file string, create bool, f func(t *testing.T, a *Archive)) {
	t.Helper()
	a, err := Read(file)
	if err != nil {
		if !(create && *update && os.IsNotExist(err)) {
			t.Fatal(err)
		}
		a = newArchive(file, &txtar.Archive{})
	}
	f(t, a) // returns only if f did not end the test
	got := a.outputs()
	for _, name := range sortedNames(got, nil) {
		if err := clean(got[name]); err != nil {
			t.Errorf("%s: %s %v", file, name, err)
		}
	}
	if *update {
		if err := a.write(got); err != nil {
			t.Fatal(err)
		}
		return
	}
	for _, p := range a.compare(got) {
		t.Error(p)
	}
}

// outputs returns the recorded output sections by name.
func (a *Archive) outputs() map[string]string {
	got := make(map[string]string, len(a.out))
	for name, b := range a.out {
		got[name] = b.String()
	}
	return got
}

// compare returns one message for each output section of the archive
// that got lacks, each one the archive lacks, and each that differs.
func (a *Archive) compare(got map[string]string) []string {
	want := map[string]string{}
	for _, f := range a.ar.Files {
		if strings.HasPrefix(f.Name, OutPrefix) {
			want[f.Name] = string(f.Data)
		}
	}
	var problems []string
	for _, name := range sortedNames(want, got) {
		w, inWant := want[name]
		g, inGot := got[name]
		switch {
		case !inGot:
			problems = append(problems, fmt.Sprintf("%s: the archive has %s, the test produced none (rerun with -update to remove it)", a.File, name))
		case !inWant:
			problems = append(problems, fmt.Sprintf("%s: unexpected %s (rerun with -update to accept it):\n%s", a.File, name, g))
		default:
			if diff := cmp.Diff(w, g); diff != "" {
				problems = append(problems, fmt.Sprintf("%s: %s differs (-want +got; rerun with -update to accept it):\n%s", a.File, name, diff))
			}
		}
	}
	return problems
}

// write rewrites the archive: the comment and the input sections as they
// were, then the outputs in name order. An unchanged file is not written.
func (a *Archive) write(got map[string]string) error {
	files := slices.DeleteFunc(slices.Clone(a.ar.Files), func(f txtar.File) bool {
		return strings.HasPrefix(f.Name, OutPrefix)
	})
	for _, name := range sortedNames(got, nil) {
		files = append(files, txtar.File{Name: name, Data: []byte(got[name])})
	}
	data := txtar.Format(&txtar.Archive{Comment: a.ar.Comment, Files: files})
	if old, err := os.ReadFile(a.File); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return os.WriteFile(a.File, data, 0o644)
}

// clean reports why s cannot be golden output: it could not be stored
// as is, or it would differ between machines.
func clean(s string) error {
	switch {
	case s != "" && !strings.HasSuffix(s, "\n"):
		return fmt.Errorf("does not end in a newline (a txtar section always does)")
	case txtar.NeedsQuote([]byte(s)):
		return fmt.Errorf("holds a line that reads as a txtar section marker")
	case strings.Contains(s, "\x1b["):
		return fmt.Errorf("holds a terminal colour sequence:\n%q", s)
	}
	for _, dir := range machineDirs() {
		if strings.Contains(s, dir) {
			return fmt.Errorf("holds the absolute path %s (make it relative or mask it):\n%s", dir, s)
		}
	}
	return nil
}

// machineDirs are absolute folders whose names must not reach golden
// output: the module's folder and the temporary folder.
func machineDirs() []string {
	var dirs []string
	if root, err := ModuleRoot(); err == nil {
		dirs = append(dirs, root+string(filepath.Separator))
	}
	return append(dirs, filepath.Clean(os.TempDir())+string(filepath.Separator))
}

// ModuleRoot returns the folder of the go.mod that holds the current
// directory (a test runs in its package's folder).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the current directory")
		}
		dir = parent
	}
}

// sortedNames returns the keys of a and b, sorted, each once.
func sortedNames(a, b map[string]string) []string {
	names := make([]string, 0, len(a)+len(b))
	for k := range a {
		names = append(names, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	return names
}
