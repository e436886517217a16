package lang

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const typoSrc = `# tiny model with a typo
model tiny {
  vocab 256
  context 128
  embed dim=128
  residual stream=4 constraint=birkhoff
  block attn { attention heads=4 }
}
`

func TestRenderExactFormat(t *testing.T) {
	_, diags := Load("tiny.mhc", []byte(typoSrc))
	var b bytes.Buffer
	if err := diags.Render(&b, []byte(typoSrc), false, 0); err != nil {
		t.Fatal(err)
	}
	want := "tiny.mhc:6:12: error: unknown attribute `stream` on `residual`, did you mean `streams`?\n" +
		"    6 |   residual stream=4 constraint=birkhoff\n" +
		"      |            ^~~~~~\n" +
		"  = help: accepted attributes: streams, constraint, dynamic, sinkhorn, init, alpha, phi_std, collapse, recompute\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("render mismatch (-want +got):\n%s", diff)
	}
}

func TestRenderColor(t *testing.T) {
	_, diags := Load("tiny.mhc", []byte(typoSrc))
	var plain, color bytes.Buffer
	_ = diags.Render(&plain, []byte(typoSrc), false, 0)
	_ = diags.Render(&color, []byte(typoSrc), true, 0)
	if strings.Contains(plain.String(), "\x1b[") {
		t.Error("escape codes without color")
	}
	if !strings.Contains(color.String(), "\x1b[") {
		t.Error("no escape codes with color")
	}
	stripped := strings.NewReplacer(ansiReset, "", ansiBold, "", ansiRed, "", ansiYellow, "", ansiCyan, "", ansiBlue, "").Replace(color.String())
	if stripped != plain.String() {
		t.Errorf("colour changes the text:\n%s\nvs\n%s", stripped, plain.String())
	}
}

func TestRenderLimitSortDedupe(t *testing.T) {
	p := func(line int) Pos { return Pos{File: "a.mhc", Line: line, Col: 1, Offset: line} }
	d := Diagnostics{
		{Severity: Error, Pos: p(3), Message: "c"},
		{Severity: Warning, Pos: p(1), Message: "a"},
		{Severity: Error, Pos: p(2), Message: "b"},
		{Severity: Error, Pos: p(2), Message: "b"}, // duplicate
		{Severity: Error, Pos: p(4), Message: "d"},
	}
	var b bytes.Buffer
	_ = d.Render(&b, nil, false, 2)
	want := "a.mhc:1:1: warning: a\na.mhc:2:1: error: b\nand 2 more errors\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	d.Sort()
	if len(d) != 4 || d[0].Message != "a" || d[3].Message != "d" {
		t.Errorf("Sort: %v", d)
	}
	if !d.HasErrors() || d[:1].HasErrors() {
		t.Error("HasErrors")
	}
	b.Reset()
	_ = d[:2].Render(&b, nil, false, 1)
	if !strings.HasSuffix(b.String(), "and 1 more error\n") {
		t.Errorf("singular: %q", b.String())
	}
}

func TestJSON(t *testing.T) {
	_, diags := Load("tiny.mhc", []byte(strings.Replace(typoSrc, "heads=4", "heads=3", 1)))
	data, err := diags.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(diags) || len(got) != 2 {
		t.Fatalf("got %d entries for %d diagnostics: %s", len(got), len(diags), data)
	}
	first := got[0]
	for k, v := range map[string]any{"severity": "error", "file": "tiny.mhc", "line": 6.0, "col": 12.0, "end_line": 6.0, "end_col": 18.0,
		"message": "unknown attribute `stream` on `residual`, did you mean `streams`?"} {
		if first[k] != v {
			t.Errorf("%s = %v, want %v", k, first[k], v)
		}
	}
	if rel, _ := got[1]["related"].([]any); len(rel) != 1 {
		t.Errorf("related note missing: %s", data)
	}
	empty, _ := Diagnostics(nil).JSON()
	if string(empty) != "[]" {
		t.Errorf("empty JSON = %s", empty)
	}
}

// TestMessageStyle checks the style rules on every golden diagnostic:
// lowercase start, no trailing period.
func TestMessageStyle(t *testing.T) {
	srcs := []string{typoSrc, "model m {\n vocab 0\n}\n", "x = 3", "model m { repeat 0 { block a {} } }"}
	for _, src := range srcs {
		_, diags := Load("x.mhc", []byte(src))
		for _, d := range diags {
			m := d.Message
			if m == "" || strings.HasSuffix(m, ".") || (m[0] >= 'A' && m[0] <= 'Z' && !strings.HasPrefix(m, "RoPE")) {
				t.Errorf("style: %q", m)
			}
		}
	}
}
