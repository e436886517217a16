package lang

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/alecthomas/participle/v2/lexer"
)

// This file is the hand-written lexer. It is a plain byte scanner rather
// than participle's regexp lexer so that it is fast on large inputs, never
// backtracks, and reports bad input (binary data, invalid UTF-8, stray
// characters, unterminated strings) in our own words with exact positions.
//
// Newlines and `;` are significant: a run of them (with the blanks and
// comments in between) becomes a single Sep token.

// Token types, as participle sees them.
const (
	tokIdent lexer.TokenType = iota + 1
	tokInt
	tokFloat
	tokString
	tokPunct
	tokSep
)

// tokenDef is the participle lexer.Definition for the grammar. Parse lexes
// the file itself and hands participle the token slice; Lex exists only to
// satisfy the interface.
type tokenDef struct{}

func (tokenDef) Symbols() map[string]lexer.TokenType {
	return map[string]lexer.TokenType{
		"EOF":    lexer.EOF,
		"Ident":  tokIdent,
		"Int":    tokInt,
		"Float":  tokFloat,
		"String": tokString,
		"Punct":  tokPunct,
		"Sep":    tokSep,
	}
}

func (tokenDef) Lex(filename string, r io.Reader) (lexer.Lexer, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	toks, _, diags := lex(filename, src)
	if diags.HasErrors() {
		d := diags[0]
		return nil, fmt.Errorf("%s: %s", d.Pos, d.Message)
	}
	return &sliceLexer{toks: toks}, nil
}

// sliceLexer replays an already lexed token slice.
type sliceLexer struct {
	toks []lexer.Token
	i    int
}

func (l *sliceLexer) Next() (lexer.Token, error) {
	if l.i >= len(l.toks) {
		return l.toks[len(l.toks)-1], nil // EOF again
	}
	t := l.toks[l.i]
	l.i++
	return t, nil
}

// maxLexErrors caps the lexer errors collected from one file.
const maxLexErrors = 20

type scanner struct {
	src        []byte
	text       string // src as a string, sliced for token values without copying
	file       string
	off        int
	line, col  int
	toks       []lexer.Token
	comments   []Comment
	diags      Diagnostics
	lastWasSep bool
}

// lex splits src into tokens and comments. The last token is always EOF.
// Lexing stops early on binary input and after maxLexErrors errors.
func lex(file string, src []byte) ([]lexer.Token, []Comment, Diagnostics) {
	s := &scanner{src: src, text: string(src), file: file, line: 1, col: 1, lastWasSep: true}
	s.toks = make([]lexer.Token, 0, len(src)/4+2)
	if i := bytes.IndexByte(src, 0); i >= 0 {
		p := posAt(file, src, i)
		s.diags = append(s.diags, Diagnostic{
			Severity: Error, Pos: p, End: advance(p, 1),
			Message: "file looks binary: it contains a NUL byte",
			Help:    []string{".mhc files are UTF-8 text"},
		})
		s.toks = append(s.toks, lexer.EOFToken(s.pos()))
		return s.toks, nil, s.diags
	}
	if bytes.HasPrefix(src, []byte("\xEF\xBB\xBF")) { // UTF-8 byte order mark
		s.off = 3
	}
	for s.off < len(src) && len(s.diags) < maxLexErrors {
		s.next()
	}
	s.toks = append(s.toks, lexer.EOFToken(s.pos()))
	return s.toks, s.comments, s.diags
}

func (s *scanner) pos() lexer.Position {
	return lexer.Position{Filename: s.file, Offset: s.off, Line: s.line, Column: s.col}
}

// adv moves forward n bytes that contain no newline.
func (s *scanner) adv(n int) {
	s.off += n
	s.col += n
}

func (s *scanner) emit(t lexer.TokenType, start lexer.Position) {
	s.toks = append(s.toks, lexer.Token{Type: t, Value: s.text[start.Offset:s.off], Pos: start})
	s.lastWasSep = false
}

func (s *scanner) errorf(start lexer.Position, n int, help string, format string, args ...any) {
	p := toPos(start)
	d := Diagnostic{Severity: Error, Pos: p, End: advance(p, n), Message: fmt.Sprintf(format, args...)}
	if help != "" {
		d.Help = []string{help}
	}
	s.diags = append(s.diags, d)
}

func (s *scanner) next() {
	c := s.src[s.off]
	start := s.pos()
	switch {
	case c == ' ' || c == '\t' || c == '\r':
		s.adv(1)
	case c == '#':
		for s.off < len(s.src) && s.src[s.off] != '\n' {
			s.adv(1)
		}
		s.checkUTF8(start.Offset, s.off)
		s.comments = append(s.comments, Comment{Pos: toPos(start), Text: strings.TrimRight(s.text[start.Offset:s.off], " \t\r")})
	case c == '\n' || c == ';':
		if !s.lastWasSep {
			s.toks = append(s.toks, lexer.Token{Type: tokSep, Value: s.text[s.off : s.off+1], Pos: start})
			s.lastWasSep = true
		}
		if c == '\n' {
			s.off++
			s.line++
			s.col = 1
		} else {
			s.adv(1)
		}
	case isLetter(c):
		for s.off < len(s.src) && (isLetter(s.src[s.off]) || isDigit(s.src[s.off])) {
			s.adv(1)
		}
		s.emit(tokIdent, start)
	case isDigit(c) || (c == '.' && s.off+1 < len(s.src) && isDigit(s.src[s.off+1])):
		s.number(start)
	case c == '"':
		s.str(start)
	case bytes.IndexByte([]byte("={}[](),+-*/"), c) >= 0:
		s.adv(1)
		s.emit(tokPunct, start)
	default:
		r, n := utf8.DecodeRune(s.src[s.off:])
		if r == utf8.RuneError && n <= 1 {
			s.errorf(start, 1, ".mhc files are UTF-8 text", "invalid UTF-8 byte 0x%02x", c)
			s.off = len(s.src) // one encoding error is enough
			return
		}
		s.errorf(start, n, s.unquotedHint(start.Offset), "unexpected character %s", quoteRune(r))
		s.adv(n)
	}
}

func (s *scanner) number(start lexer.Position) {
	isFloat := false
	digits := func() int {
		n := 0
		for s.off < len(s.src) && isDigit(s.src[s.off]) {
			s.adv(1)
			n++
		}
		return n
	}
	digits()
	if s.off < len(s.src) && s.src[s.off] == '.' {
		isFloat = true
		s.adv(1)
		digits()
	}
	if s.off < len(s.src) && (s.src[s.off] == 'e' || s.src[s.off] == 'E') {
		isFloat = true
		s.adv(1)
		if s.off < len(s.src) && (s.src[s.off] == '+' || s.src[s.off] == '-') {
			s.adv(1)
		}
		if digits() == 0 {
			s.errorf(start, s.off-start.Offset, "write an exponent like `3e-3`", "malformed number `%s`", s.src[start.Offset:s.off])
			return
		}
	}
	if s.off < len(s.src) && (isLetter(s.src[s.off]) || s.src[s.off] == '.') {
		for s.off < len(s.src) && (isLetter(s.src[s.off]) || isDigit(s.src[s.off]) || s.src[s.off] == '.') {
			s.adv(1)
		}
		s.errorf(start, s.off-start.Offset, "", "malformed number `%s`", s.src[start.Offset:s.off])
		return
	}
	if isFloat {
		s.emit(tokFloat, start)
	} else {
		s.emit(tokInt, start)
	}
}

func (s *scanner) str(start lexer.Position) {
	s.adv(1)
	for s.off < len(s.src) {
		c := s.src[s.off]
		switch {
		case c == '"':
			s.adv(1)
			s.checkUTF8(start.Offset, s.off)
			s.emit(tokString, start)
			return
		case c == '\n':
			s.errorf(start, s.off-start.Offset, "close it with `\"` before the end of the line", "unterminated string")
			return
		case c == '\\' && s.off+1 < len(s.src) && s.src[s.off+1] != '\n':
			esc := s.src[s.off+1]
			if bytes.IndexByte([]byte(`"\nt`), esc) < 0 {
				p := s.pos()
				s.errorf(p, 2, "accepted escapes: \\\", \\\\, \\n, \\t", "unknown escape `\\%c` in string", esc)
			}
			s.adv(2)
		default:
			s.adv(1)
		}
	}
	s.errorf(start, s.off-start.Offset, "close it with `\"`", "unterminated string")
}

// unquotedHint suggests quotes when the stray character at off is part of
// a word like `input.txt` or `data/train.txt`: text written without the
// double quotes a string needs.
func (s *scanner) unquotedHint(off int) string {
	word := func(c byte) bool {
		return isLetter(c) || isDigit(c) || c == '.' || c == '/' || c == '-' || c == '~'
	}
	c := s.src[off]
	if c != '.' && c != '/' && c != '~' {
		return ""
	}
	from, to := off, off
	for from > 0 && word(s.src[from-1]) {
		from--
	}
	for to < len(s.src) && word(s.src[to]) {
		to++
	}
	if to-from < 2 || to-from > 80 {
		return ""
	}
	return fmt.Sprintf("text such as a file name is written in double quotes: \"%s\"", s.src[from:to])
}

// checkUTF8 reports the first invalid UTF-8 sequence in src[from:to] (a
// comment or string, where any text is allowed) and stops lexing.
func (s *scanner) checkUTF8(from, to int) {
	b := s.src[from:to]
	if utf8.Valid(b) {
		return
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			p := posAt(s.file, s.src, from+i)
			s.diags = append(s.diags, Diagnostic{
				Severity: Error, Pos: p, End: advance(p, 1),
				Message: fmt.Sprintf("invalid UTF-8 byte 0x%02x", b[i]),
				Help:    []string{".mhc files are UTF-8 text"},
			})
			s.off = len(s.src)
			return
		}
		i += n
	}
}

func isLetter(c byte) bool { return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

func quoteRune(r rune) string {
	if r < ' ' || r == 0x7f || !utf8.ValidRune(r) {
		return fmt.Sprintf("U+%04X", r)
	}
	return "`" + string(r) + "`"
}

// posAt computes the Pos of byte offset off in src.
func posAt(file string, src []byte, off int) Pos {
	if off > len(src) {
		off = len(src)
	}
	line := 1 + bytes.Count(src[:off], []byte{'\n'})
	col := off + 1
	if i := bytes.LastIndexByte(src[:off], '\n'); i >= 0 {
		col = off - i
	}
	return Pos{File: file, Offset: off, Line: line, Col: col}
}

// advance returns p moved n bytes to the right on the same line.
func advance(p Pos, n int) Pos {
	p.Offset += n
	p.Col += n
	return p
}

func toPos(p lexer.Position) Pos {
	return Pos{File: p.Filename, Offset: p.Offset, Line: p.Line, Col: p.Column}
}

// tokEnd is the position just past token t (tokens never span lines).
func tokEnd(t lexer.Token) Pos {
	return advance(toPos(t.Pos), len(t.Value))
}
