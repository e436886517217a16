package lsp

import (
	"bytes"
	"fmt"

	"github.com/tliron/glsp"
	protocol "github.com/tliron/glsp/protocol_3_16"

	"github.com/mhcc/mhcc/lang"
)

// This file answers formatting (`mhcc fmt` of the buffer) and
// go-to-definition (of `let` names) requests.

// formatting replaces the whole text with `mhcc fmt`'s layout of it, or
// changes nothing when it already has it. A text with syntax errors is
// not formatted: the error says why.
func (s *Server) formatting(_ *glsp.Context, p *protocol.DocumentFormattingParams) ([]protocol.TextEdit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.doc(p.TextDocument.URI)
	if d == nil {
		return nil, nil
	}
	out, diags := lang.FormatSource(d.path, d.text)
	if diags.HasErrors() || out == nil {
		msg := "the file does not parse"
		for _, x := range diags {
			if x.Severity == lang.Error {
				msg = fmt.Sprintf("%s: %s", x.Pos, x.Message)
				break
			}
		}
		return nil, fmt.Errorf("cannot format: %s", msg)
	}
	if bytes.Equal(out, d.text) {
		return []protocol.TextEdit{}, nil
	}
	whole := protocol.Range{End: d.lines.position(d.lines.pos(len(d.text)))}
	return []protocol.TextEdit{{Range: whole, NewText: string(out)}}, nil
}

// definition goes from a `let` name to its `let`.
func (s *Server) definition(_ *glsp.Context, p *protocol.DefinitionParams) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, t, c := s.identAt(p.TextDocument.URI, p.Position)
	if d == nil {
		return nil, nil
	}
	k := c.before - 1
	if k == 0 || (k+1 < len(c.stmt) && c.stmt[k+1].Text == "=" && c.stmt[0].Text != "let") {
		return nil, nil // a statement keyword or an attribute name
	}
	def := findLet(c, t)
	if def == nil {
		return nil, nil
	}
	return protocol.Location{URI: d.uri, Range: d.lines.rangeOf(def.Pos, def.End)}, nil
}
