package lsp

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/internal/golden"
	"github.com/mhcc/mhcc/lang"
)

// grammarFiles are the TextMate grammar and its copy in the VS Code
// extension (an extension packs only the files in its folder).
var grammarFiles = []string{
	filepath.Join("..", "editors", "mhc.tmLanguage.json"),
	filepath.Join("..", "editors", "vscode", "syntaxes", "mhc.tmLanguage.json"),
}

// alternation matches the one group `(a|b|c)` of words in a pattern.
var alternation = regexp.MustCompile(`\(((?:[a-z0-9_]+\|)+[a-z0-9_]+)\)`)

// schemaWords are the statement keywords of the schema in table order,
// and the keyword values of its labels and attributes, sorted.
func schemaWords() (keywords, values []string) {
	seen := map[string]bool{}
	for _, s := range lang.Schema {
		keywords = append(keywords, s.Keyword)
		for _, l := range s.Labels {
			for _, v := range l.Values {
				seen[v] = true
			}
		}
		for _, a := range s.Attrs {
			for _, v := range a.Values {
				seen[v] = true
			}
		}
	}
	for v := range seen {
		values = append(values, v)
	}
	sort.Strings(values)
	return keywords, values
}

// TestTextMateGrammar checks that the grammar is valid JSON whose
// statement keywords are the schema's statements and whose keyword
// values are the schema's, so that the highlighting cannot drift from
// the language; and that the extension's copy is the same file. With
// -update it rewrites both lists from the schema, and the copy.
func TestTextMateGrammar(t *testing.T) {
	src, err := os.ReadFile(grammarFiles[0])
	if err != nil {
		t.Fatal(err)
	}
	keywords, values := schemaWords()
	want := map[string][]string{"statement": keywords, "value": values}
	if golden.Update() {
		for rule, words := range want {
			src = rewriteRule(t, src, rule, words)
		}
		for _, f := range grammarFiles {
			if err := os.WriteFile(f, src, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var g struct {
		ScopeName  string `json:"scopeName"`
		Repository map[string]struct {
			Match string `json:"match"`
		} `json:"repository"`
	}
	if err := json.Unmarshal(src, &g); err != nil {
		t.Fatalf("%s is not valid JSON: %v", grammarFiles[0], err)
	}
	if g.ScopeName != "source.mhc" {
		t.Errorf("scopeName %q, want source.mhc (the extension's package.json names it)", g.ScopeName)
	}
	for rule, words := range want {
		m := alternation.FindStringSubmatch(g.Repository[rule].Match)
		if m == nil {
			t.Errorf("rule %s has no (a|b|...) group: %q", rule, g.Repository[rule].Match)
			continue
		}
		if got := strings.Split(m[1], "|"); !slices.Equal(got, words) {
			t.Errorf("rule %s lists %v, the schema has %v (go test ./lsp -run TestTextMateGrammar -update)", rule, got, words)
		}
	}
	cp, err := os.ReadFile(grammarFiles[1])
	if err != nil || !bytes.Equal(cp, src) {
		t.Errorf("%s differs from %s (go test ./lsp -run TestTextMateGrammar -update copies it): %v", grammarFiles[1], grammarFiles[0], err)
	}
}

// rewriteRule replaces the word group of the rule's "match" in the
// grammar's text by words.
func rewriteRule(t *testing.T, src []byte, rule string, words []string) []byte {
	t.Helper()
	re := regexp.MustCompile(`(?s)("` + rule + `": \{.*?"match": "[^"]*?\()((?:[a-z0-9_]+\|)+[a-z0-9_]+)(\))`)
	loc := re.FindSubmatchIndex(src)
	if loc == nil {
		t.Fatalf("no rule %s with a word group to rewrite", rule)
	}
	return slices.Concat(src[:loc[4]], []byte(strings.Join(words, "|")), src[loc[5]:])
}
