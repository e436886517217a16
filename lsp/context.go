package lsp

import (
	"bytes"

	"github.com/mhcc/mhcc/lang"
)

// This file finds where a cursor is in a document from its tokens alone,
// so that completion and hover work on text that does not parse (the
// text being typed rarely does): the bodies around the cursor, the
// statement it is in, and the `let` names defined so far.

// body is one `{ ... }` (or the file itself): the keyword of the statement
// that opened it ("" for the file), the keywords of its statements, and
// its `let` definitions.
type body struct {
	keyword  string
	opener   lang.Token // the keyword of the statement that opened it
	parent   *body
	keywords []string
	lets     []lang.Token // the NAME of each `let NAME = ...`
}

// place is where the body's statements stand, for the schema.
func (b *body) place() lang.Where {
	if b.keyword == "" {
		return lang.TopLevel
	}
	return lang.BodyPlace(b.keyword)
}

// has reports whether the body has a statement with keyword kw.
func (b *body) has(kw string) bool {
	for _, k := range b.keywords {
		if k == kw {
			return true
		}
	}
	return false
}

// cursor is what surrounds an offset of the text.
type cursor struct {
	body *body
	// stmt holds the tokens of the statement the cursor is in (all of
	// them, after the cursor too); before counts those that start
	// before the cursor.
	stmt   []lang.Token
	before int
}

// ends reports whether t ends a statement (and starts the next).
func ends(t lang.Token) bool {
	return t.Kind == lang.TokenSep || (t.Kind == lang.TokenPunct && (t.Text == "{" || t.Text == "}"))
}

// locate walks the tokens to off. A token starting before off is before
// the cursor; a statement ends at a newline, `;`, `{` or `}`.
func locate(toks []lang.Token, off int) *cursor {
	root := &body{}
	cur := &cursor{body: root}
	b := root
	start := 0 // first token of the current statement
	found := false
	for i := 0; i <= len(toks); i++ {
		if i == len(toks) || ends(toks[i]) {
			stmt := toks[start:i]
			if !found && (i == len(toks) || toks[i].Pos.Offset >= off) {
				// the cursor is in this statement (possibly at its end)
				cur.body, cur.stmt, found = b, stmt, true
				for _, t := range stmt {
					if t.Pos.Offset < off {
						cur.before++
					}
				}
			}
			if len(stmt) > 0 && stmt[0].Kind == lang.TokenIdent {
				b.keywords = append(b.keywords, stmt[0].Text)
				if stmt[0].Text == "let" && len(stmt) > 1 && stmt[1].Kind == lang.TokenIdent {
					b.lets = append(b.lets, stmt[1])
				}
			}
			if i == len(toks) {
				break
			}
			switch toks[i].Text {
			case "{":
				nb := &body{parent: b}
				if len(stmt) > 0 {
					nb.keyword, nb.opener = stmt[0].Text, stmt[0]
				}
				b = nb
			case "}":
				if b.parent != nil {
					b = b.parent
				}
			}
			start = i + 1
		}
	}
	return cur
}

// letsVisible lists the `let` names defined before off in the body and
// the bodies around it, innermost first.
func (c *cursor) letsVisible(off int) []lang.Token {
	var out []lang.Token
	for b := c.body; b != nil; b = b.parent {
		for _, t := range b.lets {
			if t.Pos.Offset < off {
				out = append(out, t)
			}
		}
	}
	return out
}

// tokenAt returns the index of the token under off: the one containing
// it, or else the one ending at it; -1 for none.
func tokenAt(toks []lang.Token, off int) int {
	end := -1
	for i, t := range toks {
		if t.Pos.Offset <= off && off < t.End.Offset {
			return i
		}
		if t.End.Offset == off && t.Kind != lang.TokenSep {
			end = i
		}
		if t.Pos.Offset > off {
			break
		}
	}
	return end
}

// inCommentOrString reports whether off is inside a comment or a string
// (a closed one, or one open to the end of the line), where nothing is
// completed.
func inCommentOrString(text []byte, toks []lang.Token, off int) bool {
	off = min(max(off, 0), len(text))
	start := bytes.LastIndexByte(text[:off], '\n') + 1
	for _, t := range toks {
		if t.Pos.Offset >= off {
			break
		}
		if off < t.End.Offset { // inside a token
			return t.Kind == lang.TokenString
		}
		start = max(start, t.End.Offset)
	}
	rest := text[start:off] // after the last token before off, on its line
	return bytes.IndexByte(rest, '#') >= 0 || bytes.Count(rest, []byte{'"'})%2 == 1
}
