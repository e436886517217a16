package lang

import (
	"strings"

	"github.com/alecthomas/participle/v2/lexer"
)

// This file answers the questions an editor asks about a file (`mhcc
// lsp`): its tokens as the lexer sees them, the place a statement's body
// is, the kind of a statement as written, and the documentation of one
// statement or attribute. The answers come from the lexer and the schema,
// so that an editor knows no more and no less than the checker.

// TokenKind is the kind of a Token.
type TokenKind int

// Token kinds, as the lexer produces them.
const (
	TokenIdent  TokenKind = iota + 1 // a name or keyword
	TokenInt                         // an integer literal
	TokenFloat                       // a number with a fraction or exponent
	TokenString                      // a double-quoted string
	TokenPunct                       // one of = { } [ ] ( ) , + - * /
	TokenSep                         // a newline or `;` ending a statement
)

// Token is one token of a file: its kind, its text as written, and its
// start and exclusive end (tokens never span lines).
type Token struct {
	Kind     TokenKind
	Text     string
	Pos, End Pos
}

// Tokens lexes src as the parser does and returns its tokens without the
// final EOF, stopping where the lexer stops (binary input, invalid UTF-8,
// too many errors). Comments are not tokens. A run of newlines and `;` is
// one TokenSep. It never fails: an editor asks it about half-typed text.
func Tokens(filename string, src []byte) []Token {
	toks, _, _ := lex(filename, src)
	kinds := map[lexer.TokenType]TokenKind{tokIdent: TokenIdent, tokInt: TokenInt, tokFloat: TokenFloat,
		tokString: TokenString, tokPunct: TokenPunct, tokSep: TokenSep}
	out := make([]Token, 0, len(toks))
	for _, t := range toks {
		k, ok := kinds[t.Type]
		if !ok {
			continue // EOF
		}
		out = append(out, Token{Kind: k, Text: t.Value, Pos: toPos(t.Pos), End: tokEnd(t)})
	}
	return out
}

// bodyPlaces maps each statement that takes a body to the place its body
// is, for the statements allowed inside it.
var bodyPlaces = map[string]Where{
	"model":  InModel,
	"train":  InTrain,
	"repeat": InRepeat,
	"block":  InBlock,
	"layer":  InLayer,
}

// BodyPlace returns the place inside the body of the statement keyword,
// 0 for a keyword without a body.
func BodyPlace(keyword string) Where { return bodyPlaces[keyword] }

// StatementsIn lists the statements allowed in w, in table order.
func StatementsIn(w Where) []*StatementSpec {
	var out []*StatementSpec
	for i := range Schema {
		if Schema[i].In&w != 0 {
			out = append(out, &Schema[i])
		}
	}
	return out
}

// KindOf returns the kind of a statement written with the first label
// label ("" when it has none) and the attributes attrs: the label when it
// is a kind, `file` for a `data` statement with `file=` and no label, and
// otherwise the default kind. Statements without kinds have "".
func (s *StatementSpec) KindOf(label string, attrs []string) string {
	if len(s.Labels) == 0 || s.Labels[0].Type != TypeEnum {
		return ""
	}
	if contains(s.Labels[0].Values, label) {
		return label
	}
	if s.Keyword == "data" && label == "" && contains(attrs, "file") {
		return DataFile
	}
	return s.Labels[0].Default
}

// AttrsFor lists the attributes that apply to the statement's kind kind
// (see KindOf), in table order.
func (s *StatementSpec) AttrsFor(kind string) []AttrSpec {
	var out []AttrSpec
	for _, a := range s.Attrs {
		if kindOK(a, kind) {
			out = append(out, a)
		}
	}
	return out
}

// Summary documents the statement in Markdown: its synopsis, its meaning,
// where it may appear and an example, the first part of its section of
// the reference (Reference).
func (s *StatementSpec) Summary() string {
	var b strings.Builder
	b.WriteString("```\n" + s.Usage() + "\n```\n\n")
	b.WriteString(upperFirst(s.Doc) + ".\n\n")
	b.WriteString(strings.Join(s.facts(), "; ") + ".\n")
	return b.String()
}

// AttrSummary documents the statement's attribute a in Markdown: its
// synopsis, type, default, range and meaning, as the reference's table
// row says them.
func (s *StatementSpec) AttrSummary(a *AttrSpec) string {
	var b strings.Builder
	b.WriteString("```\n" + s.Keyword + " " + a.Name + "=" + placeholder(*a) + "\n```\n\n")
	b.WriteString(upperFirst(a.Doc) + ".\n\n")
	facts := []string{"Type: " + typeDoc(a.Type, a.Values)}
	if def := attrDefault(*a); def != "—" {
		facts = append(facts, "default: "+def)
	}
	if r := a.Range.String(); r != "" {
		facts = append(facts, "range: "+r)
	}
	if len(a.Kinds) > 0 {
		facts = append(facts, kindsDoc(s.Keyword, a.Kinds)+" only")
	}
	b.WriteString(strings.Join(facts, "; ") + ".\n")
	return b.String()
}

// LabelSummary documents the statement's label l in Markdown, as
// AttrSummary does an attribute.
func (s *StatementSpec) LabelSummary(l *LabelSpec) string {
	var b strings.Builder
	b.WriteString("```\n" + s.Usage() + "\n```\n\n")
	b.WriteString("`" + l.Name + "`: " + l.Doc + ".\n\n")
	facts := []string{"Type: " + typeDoc(l.Type, l.Values)}
	if def := labelDefault(*l); def != "" {
		facts = append(facts, "default: "+def)
	}
	if r := l.Range.String(); r != "" {
		facts = append(facts, "range: "+r)
	}
	b.WriteString(strings.Join(facts, "; ") + ".\n")
	return b.String()
}

// LetValue is the value a `let` evaluated to.
type LetValue struct {
	Name  string
	Value string // as it would be written: 128, 0.003, "a.txt", [0.9, 0.95]
	Pos   Pos    // the name in `let NAME = ...`
}

// Lets checks f and returns the value of every `let` that evaluated, in
// the order the checker met them (a `let` in a `repeat` body once per
// iteration), whatever errors the rest of the file has.
func Lets(f *File) []LetValue {
	if f == nil {
		return nil
	}
	c := &checker{file: f.Name}
	c.check(f)
	return c.lets
}
