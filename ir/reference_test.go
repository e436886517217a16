package ir

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mhcc/mhcc/internal/golden"
)

const (
	irDoc      = "../docs/ir.md"
	beginTable = "<!-- op table: generated from ir.Ops by `go test ./ir -run TestOpDoc -update`; do not edit -->\n"
	endTable   = "<!-- end of the op table -->"
)

// TestOpDoc keeps the op reference of docs/ir.md equal to OpReference()
// (rewrite it with -update).
func TestOpDoc(t *testing.T) {
	b, err := os.ReadFile(irDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, beginTable), strings.Index(doc, endTable)
	if i < 0 || j < i {
		t.Fatalf("%s: no %q ... %q section", irDoc, beginTable, endTable)
	}
	want := OpReference()
	if golden.Update() {
		doc = doc[:i+len(beginTable)] + want + doc[j:]
		if err := os.WriteFile(irDoc, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if diff := cmp.Diff(want, doc[i+len(beginTable):j]); diff != "" {
		t.Errorf("%s: the op table is out of date; run `go test ./ir -run TestOpDoc -update` (-want +got):\n%s", irDoc, diff)
	}
	for _, d := range Ops {
		if !strings.Contains(doc, "| `"+d.Name+"` |") {
			t.Errorf("%s lacks op %s", irDoc, d.Name)
		}
	}
}
