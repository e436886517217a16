package lang

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// This file holds the participle grammar and Parse. The grammar knows one
// statement shape only:
//
//	file  = { Sep | stmt }
//	stmt  = ( "let" Ident "=" expr | Ident { Ident "=" expr | expr } [ body ] ) &( Sep | "}" | EOF )
//	body  = "{" { Sep | stmt } "}"
//	expr  = term { ("+" | "-") term }
//	term  = unary { ("*" | "/") unary }
//	unary = [ "-" ] primary
//	primary = Int | Float | String | Ident "(" args ")" | Ident | "[" args "]" | "(" expr ")"
//
// The grammar structs (g*) are converted to the AST in ast.go right after
// parsing, so nothing outside this file sees participle.

type gFile struct {
	Stmts []*gStmt `parser:"( Sep | @@ )*"`
}

type gStmt struct {
	Let *gLet `parser:"( @@"`
	Gen *gGen `parser:" | @@ ) (?= Sep | '}' | EOF)"`
}

type gLet struct {
	Keyword lexer.Token `parser:"@'let'"`
	Name    lexer.Token `parser:"@Ident '='"`
	Value   *gExpr      `parser:"@@"`
}

type gGen struct {
	Keyword lexer.Token `parser:"(?! 'let') @Ident"`
	Items   []*gItem    `parser:"@@*"`
	Body    *gBody      `parser:"@@?"`
}

type gItem struct {
	Attr  *gAttr `parser:"  @@"`
	Label *gExpr `parser:"| @@"`
}

type gAttr struct {
	Key   lexer.Token `parser:"@Ident '='"`
	Value *gExpr      `parser:"@@"`
}

type gBody struct {
	Open  lexer.Token `parser:"@'{'"`
	Stmts []*gStmt    `parser:"( Sep | @@ )*"`
	Close lexer.Token `parser:"@'}'"`
}

type gExpr struct {
	Left *gTerm     `parser:"@@"`
	Rest []*gOpTerm `parser:"@@*"`
}

type gOpTerm struct {
	Op    lexer.Token `parser:"@('+' | '-')"`
	Right *gTerm      `parser:"@@"`
}

type gTerm struct {
	Left *gUnary     `parser:"@@"`
	Rest []*gOpUnary `parser:"@@*"`
}

type gOpUnary struct {
	Op    lexer.Token `parser:"@('*' | '/')"`
	Right *gUnary     `parser:"@@"`
}

type gUnary struct {
	Neg lexer.Token `parser:"@'-'?"`
	X   *gPrimary   `parser:"@@"`
}

type gPrimary struct {
	Int   lexer.Token `parser:"  @Int"`
	Float lexer.Token `parser:"| @Float"`
	Str   lexer.Token `parser:"| @String"`
	Call  *gCall      `parser:"| @@"`
	Ident lexer.Token `parser:"| @Ident"`
	List  *gList      `parser:"| @@"`
	Paren *gParen     `parser:"| @@"`
}

type gCall struct {
	Func  lexer.Token `parser:"@Ident '('"`
	Args  []*gExpr    `parser:"( @@ ( ',' @@ )* ','? )?"`
	Close lexer.Token `parser:"@')'"`
}

type gList struct {
	Open  lexer.Token `parser:"@'['"`
	Elems []*gExpr    `parser:"( @@ ( ',' @@ )* ','? )?"`
	Close lexer.Token `parser:"@']'"`
}

type gParen struct {
	Open  lexer.Token `parser:"@'('"`
	X     *gExpr      `parser:"@@"`
	Close lexer.Token `parser:"@')'"`
}

var parser = participle.MustBuild[gFile](
	participle.Lexer(tokenDef{}),
	participle.UseLookahead(1),
)

// maxFileSize bounds the input, so that a huge or binary file is rejected
// at once. Real .mhc files are a few kilobytes.
const maxFileSize = 64 << 10

// maxTokens bounds the tokens of a file (comments and blanks are free).
// participle costs several microseconds per token, so the bound keeps the
// worst case (a file of nothing but one-letter words) well under a second;
// real files have a few hundred tokens.
const maxTokens = 8192

// maxDepth bounds the nesting of `{`, `[` and `(`.
const maxDepth = 64

// Parse parses an .mhc file. It never panics: on bad input it returns the
// syntax errors with positions (and a nil or partial *File). filename is
// used in positions only.
func Parse(filename string, src []byte) (*File, Diagnostics) {
	if len(src) > maxFileSize {
		p := Pos{File: filename, Line: 1, Col: 1}
		return nil, Diagnostics{{
			Severity: Error, Pos: p,
			Message: fmt.Sprintf("file is too large (%s); the limit is 64 KB", humanSize(len(src))),
			Help:    []string{"is this really an .mhc model description?"},
		}}
	}
	toks, comments, diags := lex(filename, src)
	if diags.HasErrors() {
		diags.Sort()
		return nil, diags
	}
	if diags = checkBrackets(toks); diags.HasErrors() {
		diags.Sort()
		return nil, diags
	}
	if len(toks) > maxTokens+1 { // +1: EOF
		t := toks[maxTokens]
		p := toPos(t.Pos)
		return nil, Diagnostics{{
			Severity: Error, Pos: p, End: tokEnd(t),
			Message: fmt.Sprintf("file is too long: more than %d tokens (names, numbers and symbols)", maxTokens),
			Help:    []string{"real model descriptions have a few hundred; use `repeat` for repeated blocks"},
		}}
	}
	peek, err := lexer.Upgrade(&sliceLexer{toks: toks})
	if err != nil {
		return nil, Diagnostics{{Severity: Error, Pos: Pos{File: filename, Line: 1, Col: 1}, Message: "cannot read the file"}}
	}
	g, err := parser.ParseFromLexer(peek)
	if err != nil {
		return nil, Diagnostics{syntaxError(toks, err)}
	}
	var c converter
	return &File{Name: filename, Stmts: c.stmts(g.Stmts), Comments: comments}, nil
}

func humanSize(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KB", n>>10)
}

// syntaxError turns a participle error into our own words: "expected X,
// found Y", where X is worked out from the token before the error.
func syntaxError(toks []lexer.Token, err error) Diagnostic {
	var perr participle.Error
	var at lexer.Position
	if errors.As(err, &perr) {
		at = perr.Position()
	}
	i := tokenIndex(toks, at.Offset)
	if t := toks[i]; t.Type == tokPunct && strings.Contains("+-*/", t.Value) && !stmtStart(toks, i) && i+1 < len(toks) {
		i++ // the operator parsed; what follows it is not a value
	} else if t.Type == tokIdent && t.Value != "let" && stmtStart(toks, i) && i+1 < len(toks) {
		i++ // the keyword parsed (the grammar backed out of it); what follows is wrong
	}
	tok := toks[i]
	p := toPos(tok.Pos)
	d := Diagnostic{Severity: Error, Pos: p, End: tokEnd(tok)}
	if tok.Type == lexer.EOF || tok.Type == tokSep {
		d.End = Pos{}
	}
	d.Message = fmt.Sprintf("expected %s, found %s", expectation(toks, i), describe(tok))
	if tok.Type == tokPunct && tok.Value == "=" && !stmtStart(toks, i) {
		prev := toks[i-1]
		if prev.Type == tokIdent && prev.Value != "let" && stmtStart(toks, i-1) {
			d.Help = append(d.Help, fmt.Sprintf("to define a name, write `let %s = ...`", prev.Value))
		} else if prev.Value != "let" {
			d.Help = append(d.Help, "attributes are written `key=value`, one `=` each")
		}
	}
	return d
}

// tokenIndex finds the token starting at offset off (or the last token
// starting before it).
func tokenIndex(toks []lexer.Token, off int) int {
	lo, hi := 0, len(toks)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if toks[mid].Pos.Offset <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	// Several tokens can share an offset only at EOF; prefer the first.
	return lo
}

// stmtStart reports whether token i begins a statement.
func stmtStart(toks []lexer.Token, i int) bool {
	if i == 0 {
		return true
	}
	prev := toks[i-1]
	return prev.Type == tokSep || (prev.Type == tokPunct && (prev.Value == "{" || prev.Value == "}"))
}

// openBracket returns the innermost unclosed `[` or `(` before token i in
// the same statement, or "".
func openBracket(toks []lexer.Token, i int) string {
	depth := 0
	for j := i - 1; j >= 0; j-- {
		t := toks[j]
		if t.Type == tokSep {
			return ""
		}
		if t.Type != tokPunct {
			continue
		}
		switch t.Value {
		case "]", ")":
			depth++
		case "[", "(":
			if depth == 0 {
				return t.Value
			}
			depth--
		case "{", "}":
			return ""
		}
	}
	return ""
}

func expectation(toks []lexer.Token, i int) string {
	if stmtStart(toks, i) {
		if i > 0 && toks[i-1].Value == "}" && toks[i-1].Type == tokPunct {
			return "a newline or `;` after `}`"
		}
		return "a statement"
	}
	prev := toks[i-1]
	if prev.Type == tokIdent && prev.Value == "let" && stmtStart(toks, i-1) {
		return "a name after `let`"
	}
	if prev.Type == tokIdent && i >= 2 && toks[i-2].Value == "let" && stmtStart(toks, i-2) {
		return fmt.Sprintf("`=` after `let %s`", prev.Value)
	}
	closer := map[string]string{"[": "]", "(": ")"}[openBracket(toks, i)]
	if prev.Type == tokPunct {
		switch prev.Value {
		case "=", "+", "-", "*", "/":
			return fmt.Sprintf("a value after `%s`", prev.Value)
		case "(", "[", ",":
			if closer != "" {
				return fmt.Sprintf("a value or `%s`", closer)
			}
			return "a value"
		}
	}
	if closer != "" {
		return fmt.Sprintf("`,` or `%s`", closer)
	}
	return "a newline or `;` to end the statement"
}

// describe names a token for "found ...".
func describe(t lexer.Token) string {
	switch t.Type {
	case lexer.EOF:
		return "end of file"
	case tokSep:
		if t.Value == ";" {
			return "`;`"
		}
		return "end of line"
	case tokString:
		return "string " + shorten(t.Value)
	}
	return "`" + shorten(t.Value) + "`"
}

func shorten(s string) string {
	if len(s) > 24 {
		return s[:20] + "..."
	}
	return s
}

// checkBrackets matches `{}`, `[]` and `()` before parsing, so that an
// unbalanced file gets one precise error instead of a confusing one from
// the grammar. `[` and `(` must close on the line they open.
func checkBrackets(toks []lexer.Token) Diagnostics {
	type open struct {
		tok    lexer.Token
		indent int // indentation of the opener's line
	}
	var stack []open
	var suspect *open // a `{` whose `}` is indented less than its line
	var diags Diagnostics
	closeOf := map[string]string{"{": "}", "[": "]", "(": ")"}
	lineIndent := indentFinder(toks)
	for i, t := range toks {
		if t.Type == tokSep && t.Value == "\n" || t.Type == lexer.EOF {
			for len(stack) > 0 && stack[len(stack)-1].tok.Value != "{" {
				o := stack[len(stack)-1].tok
				p := toPos(o.Pos)
				d := Diagnostic{Severity: Error, Pos: p, End: tokEnd(o),
					Message: fmt.Sprintf("unclosed `%s`", o.Value),
					Help:    []string{fmt.Sprintf("add `%s` before the end of the line; lists and calls are written on one line", closeOf[o.Value])}}
				return append(diags, d)
			}
			if t.Type == lexer.EOF && len(stack) > 0 {
				o := stack[0]
				if suspect != nil {
					o = *suspect
				}
				p := toPos(o.tok.Pos)
				d := Diagnostic{Severity: Error, Pos: p, End: tokEnd(o.tok),
					Message: "unclosed `{`",
					Help:    []string{"add a matching `}`"}}
				if name := stmtName(toks, tokenIndex(toks, o.tok.Pos.Offset)); name != "" {
					d.Message = fmt.Sprintf("unclosed `{` of `%s`", name)
				}
				return append(diags, d)
			}
			continue
		}
		if t.Type != tokPunct {
			continue
		}
		switch t.Value {
		case "{", "[", "(":
			if len(stack) >= maxDepth {
				p := toPos(t.Pos)
				return append(diags, Diagnostic{Severity: Error, Pos: p, End: tokEnd(t),
					Message: fmt.Sprintf("nesting is too deep (more than %d levels)", maxDepth)})
			}
			stack = append(stack, open{t, lineIndent(i)})
		case "}", "]", ")":
			if len(stack) == 0 {
				p := toPos(t.Pos)
				return append(diags, Diagnostic{Severity: Error, Pos: p, End: tokEnd(t),
					Message: fmt.Sprintf("unmatched `%s`", t.Value),
					Help:    []string{"remove it, or add the missing opening bracket"}})
			}
			o := stack[len(stack)-1]
			if closeOf[o.tok.Value] != t.Value {
				p := toPos(t.Pos)
				op := toPos(o.tok.Pos)
				return append(diags, Diagnostic{Severity: Error, Pos: p, End: tokEnd(t),
					Message: fmt.Sprintf("expected `%s` to close `%s`, found `%s`", closeOf[o.tok.Value], o.tok.Value, t.Value),
					Related: []Related{{Pos: op, End: tokEnd(o.tok), Message: fmt.Sprintf("`%s` opened here", o.tok.Value)}}})
			}
			stack = stack[:len(stack)-1]
			if t.Value == "}" && suspect == nil && firstOnLine(toks, i) && lineIndent(i) < o.indent {
				suspect = &o
			}
		}
	}
	return diags
}

// indentFinder returns a function giving the column of the first token on
// token i's line, minus one.
func indentFinder(toks []lexer.Token) func(i int) int {
	return func(i int) int {
		j := i
		for j > 0 && toks[j-1].Pos.Line == toks[i].Pos.Line {
			j--
		}
		return toks[j].Pos.Column - 1
	}
}

func firstOnLine(toks []lexer.Token, i int) bool {
	return i == 0 || toks[i-1].Pos.Line != toks[i].Pos.Line
}

// stmtName returns "keyword label" for the statement containing token i.
func stmtName(toks []lexer.Token, i int) string {
	j := i
	for j > 0 && !stmtStart(toks, j) {
		j--
	}
	if j >= i || toks[j].Type != tokIdent {
		return ""
	}
	name := toks[j].Value
	if j+1 < i && (toks[j+1].Type == tokIdent || toks[j+1].Type == tokInt) {
		name += " " + toks[j+1].Value
	}
	return name
}

// converter turns the grammar structs into the AST.
type converter struct{}

func (c *converter) stmts(gs []*gStmt) []*Stmt {
	var out []*Stmt
	for _, g := range gs {
		if s := c.stmt(g); s != nil {
			out = append(out, s)
		}
	}
	return out
}

func (c *converter) ident(t lexer.Token) Ident {
	return Ident{Name: t.Value, Pos: toPos(t.Pos), End: tokEnd(t)}
}

func (c *converter) stmt(g *gStmt) *Stmt {
	if g.Let != nil {
		s := &Stmt{Keyword: c.ident(g.Let.Keyword)}
		s.Let = &Let{Name: c.ident(g.Let.Name), Value: c.expr(g.Let.Value)}
		s.Pos = s.Keyword.Pos
		_, s.End = s.Let.Value.Span()
		return s
	}
	if g.Gen == nil {
		return nil
	}
	s := &Stmt{Keyword: c.ident(g.Gen.Keyword)}
	s.Pos, s.End = s.Keyword.Pos, s.Keyword.End
	for _, it := range g.Gen.Items {
		if it.Attr != nil {
			a := &Attr{Key: c.ident(it.Attr.Key), Value: c.expr(it.Attr.Value)}
			s.Attrs = append(s.Attrs, a)
			_, s.End = a.Span()
		} else if it.Label != nil {
			e := c.expr(it.Label)
			s.Labels = append(s.Labels, e)
			_, s.End = e.Span()
		}
	}
	if b := g.Gen.Body; b != nil {
		s.Body = &Body{Open: toPos(b.Open.Pos), Close: toPos(b.Close.Pos), Stmts: c.stmts(b.Stmts)}
		s.End = tokEnd(b.Close)
	}
	return s
}

func (c *converter) expr(g *gExpr) Expr {
	e := c.term(g.Left)
	for _, r := range g.Rest {
		e = &BinaryExpr{Op: r.Op.Value, OpPos: toPos(r.Op.Pos), X: e, Y: c.term(r.Right)}
	}
	return e
}

func (c *converter) term(g *gTerm) Expr {
	e := c.unary(g.Left)
	for _, r := range g.Rest {
		e = &BinaryExpr{Op: r.Op.Value, OpPos: toPos(r.Op.Pos), X: e, Y: c.unary(r.Right)}
	}
	return e
}

func (c *converter) unary(g *gUnary) Expr {
	e := c.primary(g.X)
	if g.Neg.Value != "" {
		return &UnaryExpr{Op: "-", Pos: toPos(g.Neg.Pos), X: e}
	}
	return e
}

func (c *converter) exprs(gs []*gExpr) []Expr {
	out := make([]Expr, 0, len(gs))
	for _, g := range gs {
		out = append(out, c.expr(g))
	}
	return out
}

func (c *converter) primary(g *gPrimary) Expr {
	switch {
	case g.Int.Value != "":
		return &IntLit{Text: g.Int.Value, Pos: toPos(g.Int.Pos), End: tokEnd(g.Int)}
	case g.Float.Value != "":
		return &FloatLit{Text: g.Float.Value, Pos: toPos(g.Float.Pos), End: tokEnd(g.Float)}
	case g.Str.Value != "":
		return &StringLit{Value: unquote(g.Str.Value), Pos: toPos(g.Str.Pos), End: tokEnd(g.Str)}
	case g.Call != nil:
		return &CallExpr{Func: c.ident(g.Call.Func), Args: c.exprs(g.Call.Args), End: tokEnd(g.Call.Close)}
	case g.Ident.Value != "":
		id := c.ident(g.Ident)
		return &id
	case g.List != nil:
		return &ListExpr{Elems: c.exprs(g.List.Elems), Pos: toPos(g.List.Open.Pos), End: tokEnd(g.List.Close)}
	case g.Paren != nil:
		return &ParenExpr{X: c.expr(g.Paren.X), Pos: toPos(g.Paren.Open.Pos), End: tokEnd(g.Paren.Close)}
	}
	// Unreachable with a successful parse; keep the tree well formed anyway.
	return &Ident{Name: "_"}
}

// unquote resolves the escapes of a lexed string literal (the lexer has
// already rejected unknown escapes).
func unquote(s string) string {
	s = s[1 : len(s)-1]
	if !strings.ContainsRune(s, '\\') {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseInt parses an integer literal, reporting overflow.
func parseInt(text string) (int64, bool) {
	v, err := strconv.ParseInt(text, 10, 64)
	return v, err == nil
}
