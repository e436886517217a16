package lsp

import (
	"net/url"
	"path"
	"time"

	"github.com/tliron/glsp"
	protocol "github.com/tliron/glsp/protocol_3_16"

	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/lang"
)

// document is one open file: its current text (the editor's buffer, not
// the file on disk) and what has been worked out about it, computed when
// first asked for and dropped when the text changes.
type document struct {
	uri     string
	path    string // the file name the checker is given (pathOf)
	version int32
	text    []byte
	lines   *lineIndex

	// debounce delays the diagnostics of the latest change.
	debounce *time.Timer

	checked bool
	file    *lang.File // nil when the text does not parse
	prog    *lang.Program
	diags   lang.Diagnostics
	toks    []lang.Token

	summarized bool
	summary    *compiler.Summary // nil when the program does not compile
}

// pathOf turns a document URI into the file name the checker is given:
// the base name of a file: URI's path (what `mhcc explain` lines in a
// hover show), else the URI itself. The checker reads no other file, so
// the folder does not matter.
func pathOf(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "file" || u.Path == "" {
		return uri
	}
	return path.Base(u.Path)
}

func newDocument(uri string, version int32, text string) *document {
	d := &document{uri: uri, path: pathOf(uri)}
	d.setText(version, []byte(text))
	return d
}

// setText replaces the text and forgets everything worked out about the
// old one.
func (d *document) setText(version int32, text []byte) {
	*d = document{uri: d.uri, path: d.path, version: version, text: text, lines: newLineIndex(text), debounce: d.debounce}
}

// apply applies the changes of one didChange in order: the whole text,
// or a range of it replaced (which a client may send although the server
// asks for full syncing).
func (d *document) apply(version int32, changes []any) {
	text := d.text
	for _, c := range changes {
		switch c := c.(type) {
		case protocol.TextDocumentContentChangeEventWhole:
			text = []byte(c.Text)
		case protocol.TextDocumentContentChangeEvent:
			x := newLineIndex(text)
			start, end := 0, len(text)
			if c.Range != nil {
				start, end = x.offset(c.Range.Start), x.offset(c.Range.End)
				if end < start {
					start, end = end, start
				}
			}
			text = append(append(append([]byte(nil), text[:start]...), c.Text...), text[end:]...)
		}
	}
	d.setText(version, text)
}

// check parses and checks the text once: the file (for the formatter and
// the definitions), the program and the diagnostics, the same as `mhcc
// check` reports, and the tokens.
func (d *document) check() {
	if d.checked {
		return
	}
	d.checked = true
	d.toks = lang.Tokens(d.path, d.text)
	var diags lang.Diagnostics
	d.file, diags = lang.Parse(d.path, d.text)
	if diags.HasErrors() || d.file == nil {
		d.diags = diags
		return
	}
	d.prog, d.diags = lang.LoadWith(d.path, d.text, lang.Options{})
}

// summarize compiles a checked program and analyses it as `mhcc summary`
// does, once; nil when the program has errors or does not compile.
func (d *document) summarize() *compiler.Summary {
	d.check()
	if d.summarized {
		return d.summary
	}
	d.summarized = true
	if d.prog == nil {
		return nil
	}
	opts := compiler.DefaultOptions()
	m, _, err := compiler.Compile(d.prog, opts)
	if err != nil {
		return nil
	}
	s, err := compiler.Analyze(d.prog, m, opts.Level.String())
	if err != nil {
		return nil
	}
	d.summary = s
	return s
}

// doc returns the open document uri, nil when it is not open.
func (s *Server) doc(uri string) *document { return s.docs[uri] }

// identAt checks the document at uri and returns it with the identifier
// token at pos and that token's statement context; d is nil when the
// document is not open or no identifier is there. s.mu must be held.
func (s *Server) identAt(uri string, pos protocol.Position) (d *document, t lang.Token, c *cursor) {
	d = s.doc(uri)
	if d == nil {
		return nil, t, nil
	}
	d.check()
	i := tokenAt(d.toks, d.lines.offset(pos))
	if i < 0 || d.toks[i].Kind != lang.TokenIdent {
		return nil, t, nil
	}
	t = d.toks[i]
	return d, t, locate(d.toks, t.Pos.Offset+1)
}

func (s *Server) didOpen(_ *glsp.Context, p *protocol.DidOpenTextDocumentParams) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	td := p.TextDocument
	if old := s.docs[td.URI]; old != nil && old.debounce != nil {
		old.debounce.Stop()
	}
	d := newDocument(td.URI, td.Version, td.Text)
	s.docs[td.URI] = d
	s.publish(d)
	return nil
}

func (s *Server) didChange(_ *glsp.Context, p *protocol.DidChangeTextDocumentParams) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.docs[p.TextDocument.URI]
	if d == nil {
		return nil // not open: nothing to change
	}
	d.apply(p.TextDocument.Version, p.ContentChanges)
	s.schedule(d)
	return nil
}

func (s *Server) didClose(_ *glsp.Context, p *protocol.DidCloseTextDocumentParams) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	uri := p.TextDocument.URI
	if d := s.docs[uri]; d != nil {
		if d.debounce != nil {
			d.debounce.Stop()
		}
		delete(s.docs, uri)
		// the editor shows no diagnostics of a file that is not open
		_ = s.conn.notify(protocol.ServerTextDocumentPublishDiagnostics,
			protocol.PublishDiagnosticsParams{URI: uri, Diagnostics: []protocol.Diagnostic{}})
	}
	return nil
}

// closeAll stops the timers of every document at the end of a session.
func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.docs {
		if d.debounce != nil {
			d.debounce.Stop()
		}
	}
	s.docs = map[string]*document{}
}
