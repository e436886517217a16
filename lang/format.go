package lang

import (
	"bytes"
	"errors"
	"sort"
	"strings"
)

// This file is the formatter behind `mhcc fmt`. The canonical layout:
//
//   - one statement per line (`;` separators become newlines), bodies
//     indented by two spaces, `}` on its own line; an empty body is `{}`;
//   - items separated by one space, `key=value` without spaces, lists and
//     call arguments as `[a, b]` and `f(a, b)`; arithmetic is written
//     without spaces (`hidden=4*d`) except in a `let`, where operators are
//     spaced (`let d = 4 * 32`); labels and attributes keep their order,
//     literals keep their spelling (`3e-3` stays `3e-3`);
//   - comments are kept: a full-line comment stays above what follows it
//     at that statement's indentation, a trailing comment stays at the end
//     of its line, two spaces after the code, aligned with the trailing
//     comments of the lines directly above and below it;
//   - blank lines: runs of blank lines shrink to one, none after `{` or
//     before `}`, and exactly one around every top-level block (`model`,
//     `train`) together with the comments directly above it;
//   - the file ends with exactly one newline.
//
// Only whitespace, separators, trailing commas and comment placement
// change, so a formatted file checks and compiles to the same program.
// Formatting is idempotent: Format(Format(x)) == Format(x).

// FormatSource parses src and formats it. On a syntax error it returns the
// diagnostics and no output.
func FormatSource(filename string, src []byte) ([]byte, Diagnostics) {
	f, diags := Parse(filename, src)
	if diags.HasErrors() || f == nil {
		return nil, diags
	}
	out, err := Format(f, src)
	if err != nil {
		return nil, Diagnostics{{Severity: Error, Pos: Pos{File: filename, Line: 1, Col: 1}, Message: err.Error()}}
	}
	return out, diags
}

// Format prints the parsed file f in canonical layout. src must be the
// text f was parsed from: literals are copied from it verbatim, and it
// tells where the blank lines were.
func Format(f *File, src []byte) ([]byte, error) {
	if f == nil {
		return nil, errors.New("format: no file")
	}
	p := &printer{src: src, comments: append([]Comment(nil), f.Comments...)}
	p.scanLines()
	sort.SliceStable(p.comments, func(i, j int) bool { return p.comments[i].Pos.Offset < p.comments[j].Pos.Offset })
	p.stmts(f.Stmts, 0)
	p.flushComments(len(src)+1, 0)
	p.topLevelBlanks()
	return p.render(), nil
}

// outLine is one line of output before rendering.
type outLine struct {
	depth    int
	text     string
	srcLine  int    // source line of the last token on this line; 0 for comments
	trailing string // trailing comment, "" for none
	blank    bool   // a blank line goes before this one
	comment  bool   // a full-line comment
	topOpen  bool   // the header of a top-level statement with a body
	topClose bool   // the `}` (or one-line `{}`) of a top-level statement
}

type printer struct {
	src []byte
	// For each source line (index line-1): the offset of its first
	// character that is not a blank or `;`, or -1 for a blank line.
	firstCode []int
	comments  []Comment
	ci        int // next comment to place
	lines     []outLine
	first     bool // the next line is the first of its body (no blank before it)
}

// stmts prints a list of statements at depth.
func (p *printer) stmts(stmts []*Stmt, depth int) {
	p.first = true
	for _, s := range stmts {
		p.flushComments(s.Pos.Offset, depth)
		p.stmt(s, depth)
	}
}

func (p *printer) stmt(s *Stmt, depth int) {
	text := p.stmtText(s)
	ln := outLine{depth: depth, text: text, srcLine: s.Pos.Line, blank: p.blankBefore(s.Pos)}
	if s.Body == nil {
		p.add(ln)
		return
	}
	ln.srcLine = s.Body.Open.Line
	ln.topOpen = depth == 0
	if len(s.Body.Stmts) == 0 && !p.commentsBefore(s.Body.Close.Offset) {
		ln.text += " {}"
		ln.srcLine = s.Body.Close.Line
		ln.topClose = depth == 0
		p.add(ln)
		return
	}
	ln.text += " {"
	p.add(ln)
	p.stmts(s.Body.Stmts, depth+1)
	p.flushComments(s.Body.Close.Offset, depth+1)
	p.first = false
	p.add(outLine{depth: depth, text: "}", srcLine: s.Body.Close.Line, topClose: depth == 0})
}

// add appends a line; the first line of a body never has a blank before it.
func (p *printer) add(ln outLine) {
	if p.first {
		ln.blank = false
		p.first = false
	}
	p.lines = append(p.lines, ln)
}

// commentsBefore reports whether a comment not yet placed starts before off.
func (p *printer) commentsBefore(off int) bool {
	return p.ci < len(p.comments) && p.comments[p.ci].Pos.Offset < off
}

// flushComments places the comments that start before off: a trailing
// comment goes on the output line that holds the last token of its source
// line, a full-line comment on a line of its own at depth.
func (p *printer) flushComments(off, depth int) {
	for ; p.commentsBefore(off); p.ci++ {
		c := p.comments[p.ci]
		if !p.fullLine(c.Pos) {
			if i := p.lineFor(c.Pos.Line); i >= 0 {
				p.lines[i].trailing = c.Text
				continue
			}
		}
		p.add(outLine{depth: depth, text: c.Text, comment: true, blank: p.blankBefore(c.Pos)})
	}
}

// lineFor finds the output line whose last token is on source line n.
func (p *printer) lineFor(n int) int {
	for i := len(p.lines) - 1; i >= 0; i-- {
		ln := p.lines[i]
		if ln.comment {
			continue
		}
		if ln.srcLine == n && ln.trailing == "" {
			return i
		}
		if ln.srcLine < n {
			break
		}
	}
	return -1
}

// scanLines fills firstCode in one pass over the source.
func (p *printer) scanLines() {
	off := 0
	if bytes.HasPrefix(p.src, []byte(utf8BOM)) {
		off = len(utf8BOM)
	}
	first := -1
	for ; off <= len(p.src); off++ {
		if off == len(p.src) || p.src[off] == '\n' {
			p.firstCode = append(p.firstCode, first)
			first = -1
			continue
		}
		if c := p.src[off]; first < 0 && c != ' ' && c != '\t' && c != '\r' && c != ';' {
			first = off
		}
	}
}

// fullLine reports whether only blanks and `;` precede pos on its line.
func (p *printer) fullLine(pos Pos) bool {
	if pos.Line < 1 || pos.Line > len(p.firstCode) {
		return true
	}
	return pos.Offset <= p.firstCode[pos.Line-1]
}

// blankBefore reports whether pos starts its line and the line above it is
// blank.
func (p *printer) blankBefore(pos Pos) bool {
	return p.fullLine(pos) && pos.Line >= 2 && pos.Line-1 <= len(p.firstCode) && p.firstCode[pos.Line-2] < 0
}

// utf8BOM is the UTF-8 byte order mark, which the lexer skips.
const utf8BOM = "\xEF\xBB\xBF"

// topLevelBlanks puts exactly one blank line around each top-level
// statement with a body, with the comments directly above it.
func (p *printer) topLevelBlanks() {
	for i := range p.lines {
		switch {
		case p.lines[i].topOpen:
			j := i
			for j > 0 && p.lines[j-1].comment && p.lines[j-1].depth == 0 && !p.lines[j].blank {
				j--
			}
			if j > 0 {
				p.lines[j].blank = true
			}
		case i > 0 && p.lines[i-1].topClose:
			p.lines[i].blank = true
		}
	}
}

// render prints the lines, aligning runs of trailing comments.
func (p *printer) render() []byte {
	var b bytes.Buffer
	code := make([]string, len(p.lines))
	for i, ln := range p.lines {
		code[i] = strings.Repeat("  ", ln.depth) + ln.text
	}
	for i := 0; i < len(p.lines); {
		if p.lines[i].trailing == "" {
			i++
			continue
		}
		j, width := i, 0
		for j < len(p.lines) && p.lines[j].trailing != "" && (j == i || !p.lines[j].blank) {
			width = max(width, len(code[j]))
			j++
		}
		for k := i; k < j; k++ {
			code[k] += strings.Repeat(" ", width-len(code[k])+2) + p.lines[k].trailing
		}
		i = j
	}
	for i, ln := range p.lines {
		if ln.blank && i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(code[i])
		b.WriteByte('\n')
	}
	if b.Len() == 0 {
		return []byte{} // formatted, and empty: not nil
	}
	return b.Bytes()
}

// stmtText prints a statement's line without its body.
func (p *printer) stmtText(s *Stmt) string {
	if s.Let != nil {
		return "let " + s.Let.Name.Name + " = " + p.expr(s.Let.Value, true)
	}
	type item struct {
		off  int
		text string
	}
	items := make([]item, 0, len(s.Labels)+len(s.Attrs))
	for _, l := range s.Labels {
		pos, _ := l.Span()
		items = append(items, item{pos.Offset, p.expr(l, false)})
	}
	for _, a := range s.Attrs {
		items = append(items, item{a.Key.Pos.Offset, a.Key.Name + "=" + p.expr(a.Value, false)})
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].off < items[j].off })
	var b strings.Builder
	b.WriteString(s.Keyword.Name)
	for _, it := range items {
		b.WriteByte(' ')
		b.WriteString(it.text)
	}
	return b.String()
}

// expr prints an expression; spaced puts blanks around binary operators.
func (p *printer) expr(e Expr, spaced bool) string {
	switch e := e.(type) {
	case *Ident:
		return e.Name
	case *IntLit:
		return e.Text
	case *FloatLit:
		return e.Text
	case *StringLit:
		if e.Pos.IsValid() && e.End.Offset <= len(p.src) && e.Pos.Offset < e.End.Offset {
			return string(p.src[e.Pos.Offset:e.End.Offset])
		}
		return quoteString(e.Value)
	case *ListExpr:
		return "[" + p.exprs(e.Elems, spaced) + "]"
	case *CallExpr:
		return e.Func.Name + "(" + p.exprs(e.Args, spaced) + ")"
	case *ParenExpr:
		return "(" + p.expr(e.X, spaced) + ")"
	case *UnaryExpr:
		return e.Op + p.expr(e.X, spaced)
	case *BinaryExpr:
		if spaced {
			return p.expr(e.X, spaced) + " " + e.Op + " " + p.expr(e.Y, spaced)
		}
		return p.expr(e.X, spaced) + e.Op + p.expr(e.Y, spaced)
	}
	return "?"
}

func (p *printer) exprs(es []Expr, spaced bool) string {
	parts := make([]string, len(es))
	for i, x := range es {
		parts[i] = p.expr(x, spaced)
	}
	return strings.Join(parts, ", ")
}

// quoteString writes s as a string literal using only the escapes the
// lexer accepts.
func quoteString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
