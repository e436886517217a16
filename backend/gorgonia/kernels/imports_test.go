package kernels

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoGorgoniaImports keeps the kernels free of the graph library: no
// non-test Go file of the package may import a gorgonia.org package (the
// graph builder in backend/gorgonia wraps the kernels; gonum is fine).
func TestNoGorgoniaImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		n++
		for _, imp := range af.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatalf("%s: import %s: %v", f, imp.Path.Value, err)
			}
			if path == "gorgonia.org" || strings.HasPrefix(path, "gorgonia.org/") {
				t.Errorf("%s imports %s: the kernels must not depend on Gorgonia", f, path)
			}
		}
	}
	if n == 0 {
		t.Fatal("no Go files found")
	}
}
