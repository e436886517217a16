package lsp

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	protocol "github.com/tliron/glsp/protocol_3_16"

	"github.com/mhcc/mhcc/internal/golden"
)

// fuzzSeeds are the texts the front end's fuzz test starts from (the
// examples, the inputs of lang's golden cases and FuzzLoad's corpus) and
// the documents of the server's transcripts.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	files, _ := filepath.Glob("../examples/*.mhc")
	for _, file := range files {
		if src, err := os.ReadFile(file); err == nil {
			seeds = append(seeds, src)
		}
	}
	for _, pattern := range []string{"../lang/testdata/*/*.txtar", "../cmd/mhcc/testdata/lsp/*.txtar"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			a, err := golden.Read(file)
			if err != nil {
				continue
			}
			for _, name := range a.Inputs() {
				if strings.HasSuffix(name, ".mhc") {
					in, _ := a.Input(name)
					seeds = append(seeds, in)
				}
			}
		}
	}
	corpus, _ := filepath.Glob("../lang/testdata/fuzz/FuzzLoad/*")
	for _, file := range corpus { // "go test fuzz v1" then []byte("...")
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) == 2 && strings.HasPrefix(lines[1], "[]byte(") {
			if s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")")); err == nil {
				seeds = append(seeds, []byte(s))
			}
		}
	}
	return seeds
}

// FuzzLSPDocument feeds arbitrary text through the document path of the
// server: didOpen, hover, completion and definition at random positions
// (in the text and past it), formatting, then a didChange to a second
// text and the same again. No request may fail with an internal error
// (a recovered panic), and every range returned must lie in the text.
// `go test` runs the seeds; `go test ./lsp -fuzz FuzzLSPDocument` fuzzes.
func FuzzLSPDocument(f *testing.F) {
	for i, src := range fuzzSeeds() {
		f.Add(src, src[:len(src)/2], uint64(i))
	}
	f.Fuzz(func(t *testing.T, text, edit []byte, seed uint64) {
		s := newServer(newConn(strings.NewReader(""), io.Discard), Options{})
		rng := rand.New(rand.NewPCG(seed, 1))
		const uri = "file:///f.mhc"
		fuzzCall(t, s, "initialize", map[string]any{"capabilities": map[string]any{}})
		fuzzCall(t, s, "textDocument/didOpen", map[string]any{"textDocument": map[string]any{"uri": uri, "languageId": "mhc", "version": 1, "text": string(text)}})
		for version, src := range [][]byte{text, edit} {
			if version > 0 {
				fuzzCall(t, s, "textDocument/didChange", map[string]any{"textDocument": map[string]any{"uri": uri, "version": version + 1},
					"contentChanges": []any{map[string]any{"text": string(src)}}})
			}
			x := newLineIndex([]byte(string(src))) // as the server sees it: JSON makes invalid UTF-8 U+FFFD
			for k := 0; k < 6; k++ {
				line := rng.IntN(len(x.start) + 1)
				char := rng.IntN(len(x.line(line)) + 3)
				at := map[string]any{"textDocument": map[string]any{"uri": uri}, "position": map[string]any{"line": line, "character": char}}
				for _, method := range []string{"textDocument/hover", "textDocument/completion", "textDocument/definition"} {
					res := fuzzCall(t, s, method, at)
					checkRanges(t, x, method, res)
				}
			}
			fuzzCall(t, s, "textDocument/formatting", map[string]any{"textDocument": map[string]any{"uri": uri}, "options": map[string]any{"tabSize": 2, "insertSpaces": true}})
		}
	})
}

// fuzzCall calls method through the server's dispatch and fails on an
// internal error; it returns the result encoded as JSON.
func fuzzCall(t *testing.T, s *Server, method string, params any) []byte {
	t.Helper()
	b, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	res, rerr := s.call(method, b)
	if rerr != nil && rerr.Code == codeInternalError {
		t.Fatalf("%s: %s", method, rerr.Message)
	}
	out, err := json.Marshal(res)
	if err != nil {
		t.Fatalf("%s: the result does not encode: %v", method, err)
	}
	return out
}

// checkRanges fails if a hover's or a location's range is outside x.
func checkRanges(t *testing.T, x *lineIndex, method string, res []byte) {
	t.Helper()
	var r struct {
		Range *protocol.Range `json:"range"`
	}
	if err := json.Unmarshal(res, &r); err != nil || r.Range == nil {
		return // null, or a completion list
	}
	for _, p := range []protocol.Position{r.Range.Start, r.Range.End} {
		if int(p.Line) >= len(x.start) || int(p.Character) > utf16Len(x.line(int(p.Line))) {
			t.Fatalf("%s: range %+v outside the text", method, *r.Range)
		}
	}
}
