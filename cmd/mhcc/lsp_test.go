package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/mhcc/mhcc/internal/golden"
	"github.com/mhcc/mhcc/lang"
)

// lspURI is the URI the tests open their documents at: no such file
// exists, which shows that the server checks the editor's text.
const lspURI = "file:///project/model.mhc"

// TestLSPTranscripts runs the exchanges of testdata/lsp/*.txtar with
// `mhcc lsp`: the steps section says what the editor does (open or
// change to the text of a section, hover, complete or find a definition
// at LINE:CHARACTER, 0-based in UTF-16 units as LSP counts them, format),
// out/transcript records what the server answers.
func TestLSPTranscripts(t *testing.T) {
	golden.Run(t, filepath.Join("testdata", "lsp"), func(t *testing.T, a *golden.Archive) {
		c := startLSP(t)
		c.initialize()
		w := a.Writer("transcript")
		version := 0
		for _, step := range strings.Split(strings.TrimSpace(string(a.MustInput(t, "steps"))), "\n") {
			f := strings.Fields(step)
			if len(f) == 0 {
				continue
			}
			fmt.Fprintf(w, "> %s\n", step)
			switch f[0] {
			case "open", "change":
				text := string(a.MustInput(t, f[1]))
				version++
				if f[0] == "open" {
					c.open(lspURI, text)
				} else {
					c.change(lspURI, version, text)
				}
				writeDiagnostics(w, c.diagnostics(lspURI, version))
			case "hover":
				var h *struct {
					Contents struct{ Value string } `json:"contents"`
					Range    lspRange               `json:"range"`
				}
				c.call("textDocument/hover", at(lineChar(t, f[1])), &h)
				if h == nil {
					fmt.Fprintln(w, "no hover")
					continue
				}
				fmt.Fprintf(w, "%s\n%s", h.Range, h.Contents.Value)
			case "complete":
				var list struct {
					Items []struct{ Label string } `json:"items"`
				}
				c.call("textDocument/completion", at(lineChar(t, f[1])), &list)
				var labels []string
				for _, it := range list.Items {
					labels = append(labels, it.Label)
				}
				fmt.Fprintln(w, strings.Join(labels, " "))
			case "definition":
				var loc *struct {
					URI   string   `json:"uri"`
					Range lspRange `json:"range"`
				}
				c.call("textDocument/definition", at(lineChar(t, f[1])), &loc)
				if loc == nil {
					fmt.Fprintln(w, "no definition")
					continue
				}
				fmt.Fprintf(w, "%s %s\n", loc.URI, loc.Range)
			case "format":
				m := c.request("textDocument/formatting", map[string]any{"textDocument": map[string]any{"uri": lspURI},
					"options": map[string]any{"tabSize": 2, "insertSpaces": true}}, nil)
				if m.Error != nil {
					fmt.Fprintf(w, "error %d: %s\n", m.Error.Code, m.Error.Message)
					continue
				}
				var edits []struct {
					Range   lspRange `json:"range"`
					NewText string   `json:"newText"`
				}
				if err := json.Unmarshal(m.Result, &edits); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(w, "%d edits\n", len(edits))
				for _, e := range edits {
					fmt.Fprintf(w, "%s:\n%s", e.Range, e.NewText)
				}
			default:
				t.Fatalf("unknown step %q", step)
			}
		}
		c.shutdown()
	})
}

// lineChar parses LINE:CHARACTER.
func lineChar(t *testing.T, s string) (uri string, line, char int) {
	t.Helper()
	l, ch, ok := strings.Cut(s, ":")
	line, err1 := strconv.Atoi(l)
	char, err2 := strconv.Atoi(ch)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("bad position %q (LINE:CHARACTER)", s)
	}
	return lspURI, line, char
}

// writeDiagnostics records published diagnostics, one per line: range,
// severity, message (with its help lines), then the related locations.
func writeDiagnostics(w interface{ Write([]byte) (int, error) }, diags []lspDiagnostic) {
	fmt.Fprintf(w, "%d diagnostics\n", len(diags))
	for _, d := range diags {
		fmt.Fprintf(w, "%s %s: %s\n", d.Range, []string{"", "error", "warning", "information", "hint"}[d.Severity], d.Message)
		for _, r := range d.RelatedInformation {
			fmt.Fprintf(w, "  related %s: %s\n", r.Location.Range, r.Message)
		}
	}
}

// cliDiagnostic is one diagnostic of `mhcc check --diag=json`.
type cliDiagnostic struct {
	Line    int      `json:"line"`
	Col     int      `json:"col"`
	EndLine int      `json:"end_line"`
	EndCol  int      `json:"end_col"`
	Message string   `json:"message"`
	Help    []string `json:"help"`
}

// cliCheck runs `mhcc check --diag=json` on path.
func cliCheck(t *testing.T, path string) []cliDiagnostic {
	t.Helper()
	var stdout, stderr bytes.Buffer
	Main([]string{"check", "--diag=json", path}, &stdout, &stderr)
	var diags []cliDiagnostic
	if err := json.Unmarshal(stderr.Bytes(), &diags); err != nil {
		t.Fatalf("mhcc check --diag=json: %v\n%s", err, stderr.String())
	}
	return diags
}

// utf16Col converts the 1-based byte column col of line to the 0-based
// UTF-16 character of LSP, independently of the server's conversion.
func utf16Col(line string, col int) int {
	return len(utf16.Encode([]rune(line[:col-1])))
}

// wantRange is the LSP range of a CLI diagnostic in src: the CLI's
// [line:col, end_line:end_col) in UTF-16 units, or the one character at
// line:col when it has no end.
func wantRange(src string, d cliDiagnostic) lspRange {
	lines := strings.Split(src, "\n")
	start := lspPosition{d.Line - 1, utf16Col(lines[d.Line-1], d.Col)}
	if d.EndLine == 0 {
		end := start
		if rest := []rune(lines[d.Line-1][d.Col-1:]); len(rest) > 0 {
			end.Character += len(utf16.Encode(rest[:1]))
		}
		return lspRange{start, end}
	}
	return lspRange{start, lspPosition{d.EndLine - 1, utf16Col(lines[d.EndLine-1], d.EndCol)}}
}

// utf16Pos is the LSP position of the first byte of the first match of
// sub in src, plus after bytes.
func utf16Pos(t *testing.T, src, sub string, after int) (int, int) {
	t.Helper()
	off := strings.Index(src, sub)
	if off < 0 {
		t.Fatalf("no %q in the source", sub)
	}
	off += after
	line := strings.Count(src[:off], "\n")
	lineStart := strings.LastIndex(src[:off], "\n") + 1
	return line, utf16Col(src[lineStart:], off-lineStart+1)
}

// TestLSPMatchesCLI holds the server to the command line: the diagnostics
// it publishes for a buffer are those `mhcc check --diag=json` prints for
// the same text saved (ranges converted to UTF-16 here, lines with
// non-ASCII text included), before and after a change; hover on `streams`
// is the schema's text; completion after `constraint=` is the five
// constraints; formatting gives what `mhcc fmt` prints.
func TestLSPMatchesCLI(t *testing.T) {
	a, err := golden.Read(filepath.Join("testdata", "lsp", "session.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "model.mhc")
	uri := "file://" + filepath.ToSlash(path)
	c := startLSP(t)
	c.initialize()
	var published [][]lspDiagnostic
	for version, name := range []string{"broken.mhc", "fixed.mhc"} {
		src := string(a.MustInput(t, name))
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		want := cliCheck(t, path)
		if version == 0 {
			c.open(uri, src)
		} else {
			c.change(uri, version+1, src)
		}
		got := c.diagnostics(uri, version+1)
		published = append(published, got)
		if len(got) != len(want) {
			t.Fatalf("%s: %d diagnostics published, mhcc check prints %d:\n%+v\n%+v", name, len(got), len(want), got, want)
		}
		for i, w := range want {
			msg := w.Message
			for _, h := range w.Help {
				msg += "\n= help: " + h
			}
			if r := wantRange(src, w); got[i].Range != r || got[i].Message != msg {
				t.Errorf("%s: diagnostic %d is %s %q, mhcc check says %s %q", name, i, got[i].Range, got[i].Message, r, msg)
			}
		}
	}
	if len(published[0]) == 0 || slices.EqualFunc(published[0], published[1], func(x, y lspDiagnostic) bool { return x.Message == y.Message }) {
		t.Errorf("the change did not update the diagnostics: %+v then %+v", published[0], published[1])
	}

	fixed := string(a.MustInput(t, "fixed.mhc"))
	residual := lang.Lookup("residual")
	streams := residual.Attr("streams")
	var h struct {
		Contents struct{ Value string } `json:"contents"`
	}
	line, char := utf16Pos(t, fixed, "streams=", 2)
	c.call("textDocument/hover", at(uri, line, char), &h)
	if h.Contents.Value != residual.AttrSummary(streams) || !strings.Contains(strings.ToLower(h.Contents.Value), streams.Doc) || !strings.Contains(lang.Reference(), streams.Doc) {
		t.Errorf("hover on streams:\n%s\nwant the schema's text:\n%s", h.Contents.Value, residual.AttrSummary(streams))
	}

	var list struct {
		Items []struct{ Label string } `json:"items"`
	}
	line, char = utf16Pos(t, fixed, "constraint=", len("constraint="))
	c.call("textDocument/completion", at(uri, line, char), &list)
	var labels []string
	for _, it := range list.Items {
		labels = append(labels, it.Label)
	}
	if want := []string{"birkhoff", "stochastic", "permutations", "none", "identity"}; !slices.Equal(labels, want) || !slices.Equal(labels, residual.Attr("constraint").Values) {
		t.Errorf("completion after constraint= is %v, want %v", labels, want)
	}

	var edits []struct {
		Range   lspRange `json:"range"`
		NewText string   `json:"newText"`
	}
	c.call("textDocument/formatting", map[string]any{"textDocument": map[string]any{"uri": uri}, "options": map[string]any{"tabSize": 2, "insertSpaces": true}}, &edits)
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"fmt", path}, &stdout, &stderr); code != exitOK {
		t.Fatalf("mhcc fmt: exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(fixed, "\n")
	whole := lspRange{End: lspPosition{len(lines) - 1, len(utf16.Encode([]rune(lines[len(lines)-1])))}}
	if len(edits) != 1 || edits[0].Range != whole || edits[0].NewText != stdout.String() {
		t.Errorf("formatting gives %+v, want one edit of the whole text %s to mhcc fmt's:\n%s", edits, whole, stdout.String())
	}
}
