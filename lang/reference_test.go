package lang

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mhcc/mhcc/internal/golden"
)

const (
	languageDoc = "../docs/language.md"
	beginSchema = "<!-- BEGIN SCHEMA -->\n"
	endSchema   = "<!-- END SCHEMA -->\n"
)

var (
	docHeading = regexp.MustCompile("(?m)^### `([a-z_]+)`$")
	docAttrRow = regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|")
)

// TestLanguageDoc keeps docs/language.md in sync with the schema: every
// statement and attribute of Schema must be documented, and nothing else;
// and the generated reference section must be exactly Reference() (rewrite
// it with -update).
func TestLanguageDoc(t *testing.T) {
	b, err := os.ReadFile(languageDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, beginSchema), strings.Index(doc, endSchema)
	if i < 0 || j < i {
		t.Fatalf("%s: no %q ... %q section", languageDoc, beginSchema, endSchema)
	}
	section := doc[i+len(beginSchema) : j]
	want := Reference()
	if golden.Update() {
		doc = doc[:i+len(beginSchema)] + want + doc[j:]
		if err := os.WriteFile(languageDoc, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}

	// Statement by statement first, for a clear message.
	documented := map[string][]string{}
	heads := docHeading.FindAllStringSubmatchIndex(section, -1)
	for k, h := range heads {
		end := len(section)
		if k+1 < len(heads) {
			end = heads[k+1][0]
		}
		kw := section[h[2]:h[3]]
		var attrs []string
		for _, m := range docAttrRow.FindAllStringSubmatch(section[h[1]:end], -1) {
			attrs = append(attrs, m[1])
		}
		documented[kw] = attrs
	}
	for _, s := range Schema {
		attrs, ok := documented[s.Keyword]
		if !ok {
			t.Errorf("%s lacks statement `%s`", languageDoc, s.Keyword)
			continue
		}
		if got, want := sorted(attrs), sorted(s.AttrNames()); !cmp.Equal(got, want) {
			t.Errorf("%s: attributes of `%s` are %v, the schema has %v", languageDoc, s.Keyword, got, want)
		}
		delete(documented, s.Keyword)
	}
	for kw := range documented {
		t.Errorf("%s documents statement `%s`, which the schema lacks", languageDoc, kw)
	}
	if diff := cmp.Diff(want, section); diff != "" {
		t.Errorf("%s: the statement reference is out of date; run `go test ./lang -run TestLanguageDoc -update` (-want +got):\n%s", languageDoc, diff)
	}
}

func sorted(xs []string) []string {
	out := append([]string{}, xs...)
	sort.Strings(out)
	return out
}
