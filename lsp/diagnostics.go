package lsp

import (
	"strings"
	"time"

	protocol "github.com/tliron/glsp/protocol_3_16"

	"github.com/mhcc/mhcc/lang"
)

// This file publishes the checker's diagnostics of a document's text:
// at once when it is opened, after a pause in typing (Options.Debounce)
// when it changes.

// schedule publishes the diagnostics of d's current text after the
// debounce interval, unless it changes again first. s.mu is held.
func (s *Server) schedule(d *document) {
	if d.debounce != nil {
		d.debounce.Stop()
	}
	if s.opts.Debounce <= 0 {
		s.publish(d)
		return
	}
	uri, version := d.uri, d.version
	d.debounce = time.AfterFunc(s.opts.Debounce, func() {
		defer func() {
			if r := recover(); r != nil {
				s.logf("internal error checking %s (a bug in mhcc, please report it): %v", uri, r)
			}
		}()
		s.mu.Lock()
		defer s.mu.Unlock()
		if cur := s.docs[uri]; cur == d && d.version == version {
			s.publish(d)
		}
	})
}

// publish checks d and sends its diagnostics. s.mu is held.
func (s *Server) publish(d *document) {
	d.check()
	version := protocol.UInteger(max(d.version, 0))
	params := protocol.PublishDiagnosticsParams{URI: d.uri, Version: &version, Diagnostics: s.convert(d, d.diags)}
	if err := s.conn.notify(protocol.ServerTextDocumentPublishDiagnostics, params); err != nil {
		s.logf("publishing diagnostics: %v", err)
	}
}

// severities maps mhcc's severities to the protocol's.
var severities = map[lang.Severity]protocol.DiagnosticSeverity{
	lang.Error:   protocol.DiagnosticSeverityError,
	lang.Warning: protocol.DiagnosticSeverityWarning,
	lang.Note:    protocol.DiagnosticSeverityInformation,
}

// convert turns diagnostics into the protocol's: the same ranges as `mhcc
// check` prints (in UTF-16 units), the help lines after the message as
// `= help:` lines like the rendered text has them, related notes as
// related locations in the document.
func (s *Server) convert(d *document, diags lang.Diagnostics) []protocol.Diagnostic {
	out := make([]protocol.Diagnostic, 0, len(diags))
	source := "mhcc"
	for _, x := range diags {
		sev := severities[x.Severity]
		msg := x.Message
		if len(x.Help) > 0 {
			msg += "\n= help: " + strings.Join(x.Help, "\n= help: ")
		}
		pd := protocol.Diagnostic{Range: d.lines.rangeOf(x.Pos, x.End), Severity: &sev, Source: &source, Message: msg}
		for _, r := range x.Related {
			pd.RelatedInformation = append(pd.RelatedInformation, protocol.DiagnosticRelatedInformation{
				Location: protocol.Location{URI: d.uri, Range: d.lines.rangeOf(r.Pos, r.End)},
				Message:  r.Message,
			})
		}
		out = append(out, pd)
	}
	return out
}
