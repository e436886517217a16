package golden_test

import (
	"errors"
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/internal/golden"
)

// TestEveryTestedPackageImportsGolden: `go test ./... -update` hands
// -update to every test binary, and a binary that does not define it
// fails with "flag provided but not defined". So every package with test
// files imports this package from a test file (the flag is defined
// here), and no non-test file does (the flag must not reach a program).
func TestEveryTestedPackageImportsGolden(t *testing.T) {
	root, err := golden.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	mod, err := modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	self := mod + "/internal/golden"
	tested := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if name := d.Name(); path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != root {
			return filepath.SkipDir // another module
		}
		pkg, err := build.Default.ImportDir(path, 0)
		var noGo *build.NoGoError
		if errors.As(err, &noGo) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if slices.Contains(pkg.Imports, self) {
			t.Errorf("%s: a non-test file imports %s; only tests may (it defines the -update flag)", rel, self)
		}
		hasTests := len(pkg.TestGoFiles)+len(pkg.XTestGoFiles) > 0
		for _, f := range pkg.IgnoredGoFiles {
			hasTests = hasTests || strings.HasSuffix(f, "_test.go")
		}
		if !hasTests {
			return nil
		}
		tested++
		if !slices.Contains(pkg.TestImports, self) && !slices.Contains(pkg.XTestImports, self) {
			t.Errorf("%s has tests but no test file imports %s, so `go test ./... -update` fails there; "+
				"add `import _ %q` to one of its test files (every build), with a comment saying why", rel, self, self)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if tested < 10 {
		t.Errorf("found only %d packages with tests under %s; the walk is broken", tested, root)
	}
}

// modulePath reads the module line of a go.mod file.
func modulePath(gomod string) (string, error) {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(p), `"`), nil
		}
	}
	return "", errors.New(gomod + ": no module line")
}
