package lsp

import (
	"fmt"
	"strings"

	"github.com/tliron/glsp"
	protocol "github.com/tliron/glsp/protocol_3_16"

	"github.com/mhcc/mhcc/lang"
)

// This file answers completion requests from the schema: the statements
// the body at the cursor takes (less those it may have once and has),
// the labels and the attributes a statement does not have yet, the
// keyword values of an attribute or label, and the `let` names defined
// before the cursor where a value goes.

func (s *Server) completion(_ *glsp.Context, p *protocol.CompletionParams) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.doc(p.TextDocument.URI)
	if d == nil {
		return nil, nil
	}
	d.check()
	off := d.lines.offset(p.Position)
	items := []protocol.CompletionItem{}
	if inCommentOrString(d.text, d.toks, off) {
		return protocol.CompletionList{Items: items}, nil
	}
	c := locate(d.toks, off)
	n := c.before
	prefix := ""
	if n > 0 {
		if t := c.stmt[n-1]; t.Kind == lang.TokenIdent && t.End.Offset >= off {
			prefix = string(d.text[t.Pos.Offset:off]) // the word being typed
			n--
		}
	}
	for _, it := range candidates(c, n, off) {
		if strings.HasPrefix(it.Label, prefix) {
			it.SortText = ptr(fmt.Sprintf("%04d", len(items)))
			items = append(items, it)
		}
	}
	return protocol.CompletionList{IsIncomplete: false, Items: items}, nil
}

func ptr[T any](x T) *T { return &x }

// markdown wraps documentation for a completion item.
func markdown(s string) protocol.MarkupContent {
	return protocol.MarkupContent{Kind: protocol.MarkupKindMarkdown, Value: s}
}

// candidates lists what may stand at token n of the cursor's statement
// (the first n tokens come before it).
func candidates(c *cursor, n, off int) []protocol.CompletionItem {
	if n == 0 {
		return statementItems(c)
	}
	kw := c.stmt[0].Text
	prev := c.stmt[n-1]
	if kw == "let" {
		if n >= 3 {
			return letItems(c, off)
		}
		return nil
	}
	spec := lang.Lookup(kw)
	if spec == nil || c.stmt[0].Kind != lang.TokenIdent {
		return nil
	}
	if prev.Text == "=" {
		if n < 2 {
			return nil
		}
		a := spec.Attr(c.stmt[n-2].Text)
		if a == nil {
			return nil
		}
		return valueItems(c, off, a.Type, a.Values, spec.AttrSummary(a))
	}
	if prev.Kind == lang.TokenPunct {
		return letItems(c, off) // inside an expression: `4*`, `[`, `(`
	}
	var items []protocol.CompletionItem
	if !hasEquals(c.stmt[1:n]) && n-1 < len(spec.Labels) {
		l := &spec.Labels[n-1]
		items = append(items, valueItems(c, off, l.Type, l.Values, spec.LabelSummary(l))...)
	}
	return append(items, attrItems(c, spec)...)
}

// statementItems are the statements the cursor's body takes.
func statementItems(c *cursor) []protocol.CompletionItem {
	w := c.body.place()
	if w == 0 {
		return nil // a body the schema does not know
	}
	current := ""
	if len(c.stmt) > 0 {
		current = c.stmt[0].Text
	}
	var items []protocol.CompletionItem
	for _, spec := range lang.StatementsIn(w) {
		if spec.Once && c.body.has(spec.Keyword) && !(spec.Keyword == current && count(c.body.keywords, current) == 1) {
			continue // there already, and not the statement being typed
		}
		items = append(items, protocol.CompletionItem{
			Label:         spec.Keyword,
			Kind:          ptr(protocol.CompletionItemKindKeyword),
			Detail:        ptr(spec.Usage()),
			Documentation: markdown(spec.Summary()),
		})
	}
	return items
}

func count(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

// attrItems are the attributes of the statement's kind not given yet.
func attrItems(c *cursor, spec *lang.StatementSpec) []protocol.CompletionItem {
	var given []string
	label := ""
	for i, t := range c.stmt {
		if i+1 < len(c.stmt) && c.stmt[i+1].Text == "=" && t.Kind == lang.TokenIdent {
			given = append(given, t.Text)
		} else if i == 1 && t.Kind == lang.TokenIdent {
			label = t.Text
		}
	}
	var items []protocol.CompletionItem
	for _, a := range spec.AttrsFor(spec.KindOf(label, given)) {
		if count(given, a.Name) > 0 {
			continue
		}
		items = append(items, protocol.CompletionItem{
			Label:         a.Name,
			Kind:          ptr(protocol.CompletionItemKindProperty),
			Detail:        ptr(a.Name + "=" + typeHint(a)),
			Documentation: markdown(spec.AttrSummary(&a)),
			InsertText:    ptr(a.Name + "="),
		})
	}
	return items
}

// typeHint is the value an attribute takes, as its synopsis writes it.
func typeHint(a lang.AttrSpec) string {
	if a.Type == lang.TypeEnum {
		return strings.Join(a.Values, "|")
	}
	return a.Type.String()
}

// valueItems are the values of a label or attribute of type t: its
// keyword values, `true` and `false`, or the `let` names for a number.
func valueItems(c *cursor, off int, t lang.Type, values []string, doc string) []protocol.CompletionItem {
	var items []protocol.CompletionItem
	switch t {
	case lang.TypeEnum:
		for _, v := range values {
			items = append(items, protocol.CompletionItem{Label: v, Kind: ptr(protocol.CompletionItemKindEnumMember), Documentation: markdown(doc)})
		}
	case lang.TypeBool:
		for _, v := range []string{"true", "false"} {
			items = append(items, protocol.CompletionItem{Label: v, Kind: ptr(protocol.CompletionItemKindValue), Documentation: markdown(doc)})
		}
	case lang.TypeInt, lang.TypeFloat, lang.TypeString, lang.TypeFloatPair, lang.TypeFloatList, lang.TypeNormal:
		items = letItems(c, off)
	}
	return items
}

// letItems are the `let` names defined before off, innermost first.
func letItems(c *cursor, off int) []protocol.CompletionItem {
	var items []protocol.CompletionItem
	seen := map[string]bool{}
	for _, t := range c.letsVisible(off) {
		if seen[t.Text] || (len(c.stmt) > 1 && c.stmt[0].Text == "let" && c.stmt[1].Pos == t.Pos) {
			continue
		}
		seen[t.Text] = true
		items = append(items, protocol.CompletionItem{
			Label:  t.Text,
			Kind:   ptr(protocol.CompletionItemKindVariable),
			Detail: ptr(fmt.Sprintf("let, line %d", t.Pos.Line)),
		})
	}
	return items
}
