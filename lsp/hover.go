package lsp

import (
	"fmt"
	"strings"

	"github.com/tliron/glsp"
	protocol "github.com/tliron/glsp/protocol_3_16"

	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/lang"
)

// This file answers hover requests: the schema's documentation of a
// statement, label or attribute (the text docs/language.md is generated
// from), the value of a `let` name, the resolved settings of a statement
// of the model or train block as `mhcc explain` prints them, and the
// parameters and FLOPs of a block from the summary analysis.

func (s *Server) hover(_ *glsp.Context, p *protocol.HoverParams) (*protocol.Hover, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, t, c := s.identAt(p.TextDocument.URI, p.Position)
	if d == nil {
		return nil, nil
	}
	text := hoverText(d, c, c.before-1)
	if text == "" {
		return nil, nil
	}
	r := d.lines.rangeOf(t.Pos, t.End)
	return &protocol.Hover{Contents: protocol.MarkupContent{Kind: protocol.MarkupKindMarkdown, Value: text}, Range: &r}, nil
}

// hoverText is the hover of the identifier c.stmt[i], "" for none.
func hoverText(d *document, c *cursor, i int) string {
	if i < 0 || i >= len(c.stmt) {
		return ""
	}
	t := c.stmt[i]
	kw := c.stmt[0].Text
	spec := lang.Lookup(kw)
	switch {
	case i == 0 && spec != nil:
		return statementHover(d, c, spec)
	case kw == "let" && i == 1:
		return letHover(d, c, t)
	case spec == nil && kw != "let":
		return ""
	case i+1 < len(c.stmt) && c.stmt[i+1].Text == "=":
		if a := spec.Attr(t.Text); a != nil {
			return spec.AttrSummary(a)
		}
		return ""
	}
	if def := findLet(c, t); def != nil {
		return letHover(d, locate(d.toks, def.Pos.Offset+1), *def)
	}
	if spec == nil {
		return ""
	}
	if i >= 2 && c.stmt[i-1].Text == "=" {
		if a := spec.Attr(c.stmt[i-2].Text); a != nil {
			return spec.AttrSummary(a) // a keyword value: its attribute says what it means
		}
		return ""
	}
	if i-1 < len(spec.Labels) && !hasEquals(c.stmt[1:i]) {
		return spec.LabelSummary(&spec.Labels[i-1])
	}
	return ""
}

// hasEquals reports whether toks hold an `=`: an attribute came before.
func hasEquals(toks []lang.Token) bool {
	for _, t := range toks {
		if t.Text == "=" {
			return true
		}
	}
	return false
}

// findLet returns the `let` defining the name t where t stands, nil
// when t is not a `let` name there.
func findLet(c *cursor, t lang.Token) *lang.Token {
	for _, def := range c.letsVisible(t.Pos.Offset + 1) {
		if def.Text == t.Text {
			return &def
		}
	}
	return nil
}

// statementHover documents a statement; a statement of the model or
// train block adds its settings as `mhcc explain` prints them, a block
// its layer rows from the summary.
func statementHover(d *document, c *cursor, spec *lang.StatementSpec) string {
	text := spec.Summary()
	if d.prog == nil {
		return text
	}
	if spec.Keyword == "block" {
		return text + blockHover(d, c.stmt[0])
	}
	if spec.Body || spec.Keyword == "let" {
		return text
	}
	prefix := ""
	switch c.body.keyword {
	case "model", "train":
		prefix = c.body.keyword + "." + spec.Keyword
	case "block": // the first instance of the block
		if paths := blockPaths(d.prog, c.body.opener); len(paths) > 0 {
			prefix = "model." + paths[0] + "." + spec.Keyword
		}
	}
	if lines := d.prog.ExplainUnder(prefix); prefix != "" && lines != "" {
		text += "\nResolved (`mhcc explain`):\n\n```\n" + lines + "```\n"
	}
	return text
}

// blockPaths are the paths of the instances of the block statement at
// kw (one per iteration of the `repeat`s around it).
func blockPaths(p *lang.Program, kw lang.Token) []string {
	var paths []string
	for _, b := range p.Model.Blocks {
		if b.Pos.Line == kw.Pos.Line && b.Pos.Col == kw.Pos.Col {
			paths = append(paths, b.Path)
		}
	}
	return paths
}

// blockHover is the summary's layer rows of the block statement at kw:
// of its first instance, and the paths of the others (a block in a
// `repeat` has one per iteration, all alike).
func blockHover(d *document, kw lang.Token) string {
	sum := d.summarize()
	if sum == nil {
		return ""
	}
	paths := blockPaths(d.prog, kw)
	if len(paths) == 0 {
		return ""
	}
	var rows []compiler.LayerRow
	for _, r := range sum.Rows {
		if r.Path == paths[0] || strings.HasPrefix(r.Path, paths[0]+".") {
			rows = append(rows, r)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n`%s` (`mhcc summary`, forward FLOPs per token", paths[0])
	if len(paths) > 1 {
		fmt.Fprintf(&b, "; 1 of %d instances, `%s` to `%s`", len(paths), paths[0], paths[len(paths)-1])
	}
	b.WriteString("):\n\n```\n")
	compiler.WriteRows(&b, rows)
	b.WriteString("```\n")
	return b.String()
}

// letHover shows a `let` as written and its value: the checker's, when
// the file parses.
func letHover(d *document, c *cursor, name lang.Token) string {
	written := ""
	if len(c.stmt) > 3 && c.stmt[2].Text == "=" {
		written = string(d.text[c.stmt[3].Pos.Offset:c.stmt[len(c.stmt)-1].End.Offset])
	}
	value := ""
	if d.file != nil {
		for _, l := range lang.Lets(d.file) {
			if l.Pos.Offset == name.Pos.Offset {
				value = l.Value
				break
			}
		}
	}
	var b strings.Builder
	switch {
	case value != "":
		fmt.Fprintf(&b, "```\nlet %s = %s\n```\n", name.Text, value)
		if written != value {
			fmt.Fprintf(&b, "\nwritten `%s`\n", written)
		}
	case written != "":
		fmt.Fprintf(&b, "```\nlet %s = %s\n```\n", name.Text, written)
	default:
		fmt.Fprintf(&b, "```\nlet %s\n```\n", name.Text)
	}
	fmt.Fprintf(&b, "\ndefined on line %d\n", name.Pos.Line)
	return b.String()
}
