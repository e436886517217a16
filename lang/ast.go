package lang

// This file defines the syntax tree that Parse returns. It is deliberately
// generic — every statement is `keyword label* key=value* [{ body }]` or
// `let NAME = expr` — and says nothing about which keywords exist; the
// schema and the checker give it meaning.

// File is a parsed .mhc file.
type File struct {
	Name  string  // the filename given to Parse
	Stmts []*Stmt // top-level statements in source order
	// Comments holds every `# ...` comment in source order; only the
	// formatter looks at them.
	Comments []Comment
}

// Comment is one `# ...` comment, running to the end of its line.
type Comment struct {
	Pos  Pos
	Text string // from `#` to the end of the line, trailing blanks removed
}

// Stmt is one statement. For `let NAME = expr`, Keyword is "let" and Let
// is set; otherwise Let is nil.
type Stmt struct {
	Keyword Ident
	Labels  []Expr  // the bare values after the keyword
	Attrs   []*Attr // key=value pairs, in source order
	Body    *Body   // nil when the statement has no `{ ... }`
	Let     *Let
	Pos     Pos // start of the keyword
	End     Pos // just past the last token of the statement
}

// Let is the `NAME = expr` part of a let statement.
type Let struct {
	Name  Ident
	Value Expr
}

// Attr is one `key=value`.
type Attr struct {
	Key   Ident
	Value Expr
}

// Body is a `{ ... }` block.
type Body struct {
	Open, Close Pos // positions of `{` and `}`
	Stmts       []*Stmt
}

// Expr is a value expression: *Ident, *IntLit, *FloatLit, *StringLit,
// *ListExpr, *CallExpr, *BinaryExpr, *UnaryExpr or *ParenExpr.
type Expr interface {
	// Span returns the start and the exclusive end of the expression.
	Span() (Pos, Pos)
}

// Ident is a bare name: a `let` name, a keyword value like `birkhoff`, or
// `true`/`false`.
type Ident struct {
	Name     string
	Pos, End Pos
}

// IntLit is an integer literal.
type IntLit struct {
	Text     string
	Pos, End Pos
}

// FloatLit is a floating-point literal such as `0.02` or `3e-3`.
type FloatLit struct {
	Text     string
	Pos, End Pos
}

// StringLit is a double-quoted string; Value has the escapes resolved.
type StringLit struct {
	Value    string
	Pos, End Pos
}

// ListExpr is `[a, b, ...]`.
type ListExpr struct {
	Elems    []Expr
	Pos, End Pos
}

// CallExpr is `name(args...)`, such as `normal(0.02)`.
type CallExpr struct {
	Func Ident
	Args []Expr
	End  Pos
}

// BinaryExpr is `X op Y` with op one of + - * /.
type BinaryExpr struct {
	Op    string
	OpPos Pos
	X, Y  Expr
}

// UnaryExpr is `-X`.
type UnaryExpr struct {
	Op  string
	Pos Pos
	X   Expr
}

// ParenExpr is `(X)`.
type ParenExpr struct {
	X        Expr
	Pos, End Pos
}

// Span implements Expr.
func (e *Ident) Span() (Pos, Pos) { return e.Pos, e.End }

// Span implements Expr.
func (e *IntLit) Span() (Pos, Pos) { return e.Pos, e.End }

// Span implements Expr.
func (e *FloatLit) Span() (Pos, Pos) { return e.Pos, e.End }

// Span implements Expr.
func (e *StringLit) Span() (Pos, Pos) { return e.Pos, e.End }

// Span implements Expr.
func (e *ListExpr) Span() (Pos, Pos) { return e.Pos, e.End }

// Span implements Expr.
func (e *CallExpr) Span() (Pos, Pos) { return e.Func.Pos, e.End }

// Span implements Expr.
func (e *BinaryExpr) Span() (Pos, Pos) {
	p, _ := e.X.Span()
	_, end := e.Y.Span()
	return p, end
}

// Span implements Expr.
func (e *UnaryExpr) Span() (Pos, Pos) {
	_, end := e.X.Span()
	return e.Pos, end
}

// Span implements Expr.
func (e *ParenExpr) Span() (Pos, Pos) { return e.Pos, e.End }

// Span returns the range of the whole `key=value`.
func (a *Attr) Span() (Pos, Pos) {
	_, end := a.Value.Span()
	return a.Key.Pos, end
}
