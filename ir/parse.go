package ir

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The text form, as printed by Module.String and read back by Parse:
//
//	mhcc.ir v1                                   header (first line)
//	source "tiny.mhc"                            source file name
//	symbols B T                                  symbolic dimensions (optional)
//	recompute streams segment=3                  Module.RecomputeSegment (optional)
//	%0 = input name="tokens" : i32[B,T] @2:1     one value per line
//	%9 = sum %8 axes=(2) : f32[B,T,1,4] @7:3
//	output loss = %1237                          module outputs, in order
//
// A value line is `%ID = OP [ARG {, ARG}] {KEY=VALUE} : TYPE @POS`. IDs are
// printed as 0, 1, 2, ... but any name of letters, digits, '_' and '.' is
// accepted, provided it is defined once and before its uses. POS is
// `line:col` in the .mhc source, or `-` when unknown. Attribute values are
// spelled by their kind, so the text never depends on the key:
//
//	42                 int
//	1e-06, 2.0, NaN    float64 (always a '.', an exponent, NaN or ±Inf)
//	true, false        bool
//	"text"             string (Go syntax)
//	(0,2,1,3)          []int
//	[B,T,4]            Shape
//	normal(0.02)       Init (also a bare kind such as zeros)
//
// Blank lines and comments (from '#' to the end of the line) are ignored;
// dump files use comments for their headers.

// ParseError is a syntax or resolution error in IR text, at a 1-based
// line and column of that text.
type ParseError struct {
	Line, Col int
	Msg       string
}

// Error returns "line:col: message".
func (e *ParseError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

// Parse reads a module from its text form. It checks the syntax, that
// every value is defined once and before its uses, that every op is known,
// and then verifies the module (Verify); every error carries the line and
// column of the IR text it is about.
func Parse(text string) (*Module, error) {
	p := &parser{defs: map[string]*Value{}, lineOf: map[*Value]int{}}
	m, err := p.module(text)
	if err != nil {
		return nil, err
	}
	if err := Verify(m); err != nil {
		if ve, ok := err.(*VerifyError); ok && ve.Value != nil {
			if l, ok := p.lineOf[ve.Value]; ok {
				return nil, &ParseError{Line: l, Col: 1, Msg: ve.Msg}
			}
		}
		if ve, ok := err.(*VerifyError); ok && ve.Output >= 0 && ve.Output < len(p.outLines) {
			return nil, &ParseError{Line: p.outLines[ve.Output], Col: 1, Msg: ve.Msg}
		}
		return nil, &ParseError{Line: 1, Col: 1, Msg: err.Error()}
	}
	return m, nil
}

// tokKind classifies a token of one line.
type tokKind int

const (
	tEOL    tokKind = iota
	tIdent          // letters, digits, '_' and '.', not starting with a digit
	tNumber         // an int or float literal (possibly signed)
	tString         // a Go-quoted string, already unquoted in text
	tRef            // %ID, text holds ID
	tPunct          // one of = , : @ [ ] ( ) -
)

type token struct {
	kind tokKind
	text string
	col  int // 1-based
}

type parser struct {
	line     int
	toks     []token
	i        int
	defs     map[string]*Value
	defLine  map[string]int
	lineOf   map[*Value]int
	outLines []int
}

func (p *parser) errf(col int, format string, args ...any) error {
	return &ParseError{Line: p.line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) module(text string) (*Module, error) {
	m := &Module{}
	p.defLine = map[string]int{}
	state := 0 // 0: want header, 1: want source, 2: body
	outNames := map[string]bool{}
	for n, raw := range strings.Split(text, "\n") {
		p.line = n + 1
		if err := p.lex(strings.TrimSuffix(raw, "\r")); err != nil {
			return nil, err
		}
		if p.peek().kind == tEOL {
			continue
		}
		switch state {
		case 0:
			if err := p.header(); err != nil {
				return nil, err
			}
			state = 1
			continue
		case 1:
			src, err := p.source()
			if err != nil {
				return nil, err
			}
			m.Source = src
			state = 2
			continue
		}
		t := p.peek()
		switch {
		case t.kind == tIdent && t.text == "symbols":
			if len(m.Values) > 0 || len(m.Symbols) > 0 {
				return nil, p.errf(t.col, "symbols must come once, before the first value")
			}
			p.next()
			for p.peek().kind != tEOL {
				s := p.next()
				if s.kind != tIdent || !isSymbol(s.text) {
					return nil, p.errf(s.col, "want a symbol name, got %s", describe(s))
				}
				m.Symbols = append(m.Symbols, s.text)
			}
		case t.kind == tIdent && t.text == "recompute":
			if len(m.Values) > 0 || m.RecomputeSegment > 0 {
				return nil, p.errf(t.col, "recompute must come once, before the first value")
			}
			p.next()
			seg, err := p.recompute()
			if err != nil {
				return nil, err
			}
			m.RecomputeSegment = seg
		case t.kind == tIdent && t.text == "output":
			p.next()
			name := p.next()
			if name.kind != tIdent {
				return nil, p.errf(name.col, "want an output name, got %s", describe(name))
			}
			if outNames[name.text] {
				return nil, p.errf(name.col, "duplicate output %q", name.text)
			}
			outNames[name.text] = true
			if err := p.expect("="); err != nil {
				return nil, err
			}
			v, err := p.use()
			if err != nil {
				return nil, err
			}
			if err := p.end(); err != nil {
				return nil, err
			}
			m.Outputs = append(m.Outputs, Output{Name: name.text, Value: v})
			p.outLines = append(p.outLines, p.line)
		case t.kind == tRef:
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			m.Values = append(m.Values, v)
		default:
			return nil, p.errf(t.col, "want a value (%%N = ...), an output, symbols or recompute line, got %s", describe(t))
		}
	}
	switch state {
	case 0:
		return nil, &ParseError{Line: 1, Col: 1, Msg: "empty IR text: want the header mhcc.ir v" + strconv.Itoa(Version)}
	case 1:
		return nil, &ParseError{Line: p.line, Col: 1, Msg: "missing source line"}
	}
	return m, nil
}

func (p *parser) header() error {
	t := p.next()
	if t.kind != tIdent || t.text != "mhcc.ir" {
		return p.errf(t.col, "want the header mhcc.ir v%d, got %s", Version, describe(t))
	}
	v := p.next()
	if v.kind != tIdent || v.text != "v"+strconv.Itoa(Version) {
		return p.errf(v.col, "unsupported IR version %s, want v%d", describe(v), Version)
	}
	return p.end()
}

func (p *parser) source() (string, error) {
	t := p.next()
	if t.kind != tIdent || t.text != "source" {
		return "", p.errf(t.col, "want source \"FILE\", got %s", describe(t))
	}
	s := p.next()
	if s.kind != tString {
		return "", p.errf(s.col, "want a quoted file name, got %s", describe(s))
	}
	return s.text, p.end()
}

// value parses `%ID = OP args attrs : TYPE @POS`.
func (p *parser) value() (*Value, error) {
	id := p.next()
	if old, ok := p.defLine[id.text]; ok {
		return nil, p.errf(id.col, "%%%s is already defined on line %d", id.text, old)
	}
	if err := p.expect("="); err != nil {
		return nil, err
	}
	opTok := p.next()
	if opTok.kind != tIdent {
		return nil, p.errf(opTok.col, "want an op name, got %s", describe(opTok))
	}
	info, ok := LookupOp(opTok.text)
	if !ok {
		return nil, p.errf(opTok.col, "unknown op %q", opTok.text)
	}
	v := &Value{Op: opTok.text}
	if p.peek().kind == tRef {
		for {
			a, err := p.use()
			if err != nil {
				return nil, err
			}
			v.Args = append(v.Args, a)
			if !p.isPunct(",") {
				break
			}
			p.next()
		}
	}
	if err := info.CheckArity(len(v.Args)); err != nil {
		return nil, p.errf(opTok.col, "%v", err)
	}
	for p.peek().kind == tIdent {
		key := p.next()
		if v.Attrs.Get(key.text) != nil {
			return nil, p.errf(key.col, "duplicate attribute %s", key.text)
		}
		if err := p.expect("="); err != nil {
			return nil, err
		}
		val, err := p.attrValue()
		if err != nil {
			return nil, err
		}
		v.Attrs = append(v.Attrs, Attr{Key: key.text, Val: val})
	}
	if err := p.expect(":"); err != nil {
		return nil, err
	}
	t, err := p.typ()
	if err != nil {
		return nil, err
	}
	v.Type = t
	if err := p.expect("@"); err != nil {
		return nil, err
	}
	pos, err := p.pos()
	if err != nil {
		return nil, err
	}
	v.Pos = pos
	if err := p.end(); err != nil {
		return nil, err
	}
	p.defs[id.text] = v
	p.defLine[id.text] = p.line
	p.lineOf[v] = p.line
	return v, nil
}

// use parses a reference to an already defined value.
func (p *parser) use() (*Value, error) {
	t := p.next()
	if t.kind != tRef {
		return nil, p.errf(t.col, "want a value reference %%N, got %s", describe(t))
	}
	v, ok := p.defs[t.text]
	if !ok {
		return nil, p.errf(t.col, "%%%s is not defined before its use", t.text)
	}
	return v, nil
}

func (p *parser) attrValue() (any, error) {
	t := p.next()
	switch t.kind {
	case tString:
		return t.text, nil
	case tNumber:
		return number(t, p)
	case tIdent:
		switch t.text {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "NaN", "Inf":
			return number(t, p)
		}
		in := Init{Kind: t.text}
		if p.isPunct("(") {
			p.next()
			for !p.isPunct(")") {
				if len(in.Args) > 0 {
					if err := p.expect(","); err != nil {
						return nil, err
					}
				}
				a := p.next()
				if a.kind != tNumber && !(a.kind == tIdent && (a.text == "NaN" || a.text == "Inf")) {
					return nil, p.errf(a.col, "want a number in %s(...), got %s", in.Kind, describe(a))
				}
				f, err := strconv.ParseFloat(a.text, 64)
				if err != nil {
					return nil, p.errf(a.col, "bad number %q", a.text)
				}
				in.Args = append(in.Args, f)
			}
			p.next()
		}
		return in, nil
	case tPunct:
		switch t.text {
		case "[":
			p.i-- // shape() wants the bracket
			return p.shape()
		case "(":
			ints := []int{}
			for !p.isPunct(")") {
				if len(ints) > 0 {
					if err := p.expect(","); err != nil {
						return nil, err
					}
				}
				a := p.next()
				n, err := strconv.Atoi(a.text)
				if a.kind != tNumber || err != nil {
					return nil, p.errf(a.col, "want an integer in (...), got %s", describe(a))
				}
				ints = append(ints, n)
			}
			p.next()
			return ints, nil
		}
	}
	return nil, p.errf(t.col, "want an attribute value, got %s", describe(t))
}

// number reads an int (no '.', exponent, NaN or Inf) or a float64.
func number(t token, p *parser) (any, error) {
	if !strings.ContainsAny(t.text, ".eEnN") && !strings.Contains(t.text, "Inf") {
		n, err := strconv.Atoi(t.text)
		if err != nil {
			return nil, p.errf(t.col, "bad integer %q", t.text)
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(t.text, 64)
	if err != nil && !math.IsInf(f, 0) {
		return nil, p.errf(t.col, "bad number %q", t.text)
	}
	return f, nil
}

func (p *parser) typ() (Type, error) {
	t := p.next()
	var dt DType
	switch {
	case t.kind == tIdent && t.text == "f32":
		dt = F32
	case t.kind == tIdent && t.text == "i32":
		dt = I32
	default:
		return Type{}, p.errf(t.col, "want a type such as f32[B,T,4], got %s", describe(t))
	}
	s, err := p.shape()
	if err != nil {
		return Type{}, err
	}
	return Type{DType: dt, Shape: s}, nil
}

// shape parses `[d, d, ...]` where each d is a non-negative int or a symbol.
func (p *parser) shape() (Shape, error) {
	if err := p.expect("["); err != nil {
		return nil, err
	}
	s := Shape{}
	for !p.isPunct("]") {
		if len(s) > 0 {
			if err := p.expect(","); err != nil {
				return nil, err
			}
		}
		d := p.next()
		switch {
		case d.kind == tIdent && isSymbol(d.text):
			s = append(s, S(d.text))
		case d.kind == tNumber:
			n, err := strconv.Atoi(d.text)
			if err != nil || n < 0 {
				return nil, p.errf(d.col, "bad dimension %q", d.text)
			}
			s = append(s, D(n))
		default:
			return nil, p.errf(d.col, "want a dimension (a size or a symbol), got %s", describe(d))
		}
	}
	p.next()
	return s, nil
}

func (p *parser) pos() (Pos, error) {
	t := p.next()
	if t.kind == tPunct && t.text == "-" {
		return Pos{}, nil
	}
	line, err1 := strconv.Atoi(t.text)
	if t.kind != tNumber || err1 != nil || line <= 0 {
		return Pos{}, p.errf(t.col, "want a source position line:col or -, got %s", describe(t))
	}
	if err := p.expect(":"); err != nil {
		return Pos{}, err
	}
	c := p.next()
	col, err := strconv.Atoi(c.text)
	if c.kind != tNumber || err != nil || col <= 0 {
		return Pos{}, p.errf(c.col, "want a column number, got %s", describe(c))
	}
	return Pos{Line: line, Col: col}, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOL {
		p.i++
	}
	return t
}

func (p *parser) isPunct(s string) bool {
	t := p.peek()
	return t.kind == tPunct && t.text == s
}

func (p *parser) expect(s string) error {
	t := p.next()
	if t.kind != tPunct || t.text != s {
		return p.errf(t.col, "want %q, got %s", s, describe(t))
	}
	return nil
}

func (p *parser) end() error {
	if t := p.peek(); t.kind != tEOL {
		return p.errf(t.col, "unexpected %s at the end of the line", describe(t))
	}
	return nil
}

func describe(t token) string {
	switch t.kind {
	case tEOL:
		return "the end of the line"
	case tString:
		return strconv.Quote(t.text)
	case tRef:
		return "%" + t.text
	}
	return strconv.Quote(t.text)
}

func isSymbol(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func isIdentChar(c byte) bool {
	return c == '_' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// lex splits one line into tokens, ending with a tEOL token.
func (p *parser) lex(line string) error {
	p.toks, p.i = p.toks[:0], 0
	for i := 0; i < len(line); {
		c := line[i]
		col := i + 1
		switch {
		case c == ' ' || c == '\t':
			i++
			continue
		case c == '#':
			i = len(line)
			continue
		case c == '"':
			j := i + 1
			for j < len(line) && line[j] != '"' {
				if line[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(line) {
				return p.errf(col, "unterminated string")
			}
			s, err := strconv.Unquote(line[i : j+1])
			if err != nil {
				return p.errf(col, "bad string %s", line[i:j+1])
			}
			p.toks = append(p.toks, token{tString, s, col})
			i = j + 1
		case c == '%':
			j := i + 1
			for j < len(line) && isIdentChar(line[j]) {
				j++
			}
			if j == i+1 {
				return p.errf(col, "want a value name after %%")
			}
			p.toks = append(p.toks, token{tRef, line[i+1 : j], col})
			i = j
		case isDigit(c) || (c == '-' || c == '+') && i+1 < len(line) && (isDigit(line[i+1]) || line[i+1] == 'I'):
			j := i + 1
			for j < len(line) {
				d := line[j]
				if isDigit(d) || d == '.' || d == 'e' || d == 'E' || d == 'I' || d == 'n' || d == 'f' ||
					(d == '-' || d == '+') && (line[j-1] == 'e' || line[j-1] == 'E') {
					j++
					continue
				}
				break
			}
			p.toks = append(p.toks, token{tNumber, line[i:j], col})
			i = j
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i + 1
			for j < len(line) && isIdentChar(line[j]) {
				j++
			}
			p.toks = append(p.toks, token{tIdent, line[i:j], col})
			i = j
		case strings.IndexByte("=,:@[]()-", c) >= 0:
			p.toks = append(p.toks, token{tPunct, string(c), col})
			i++
		default:
			return p.errf(col, "unexpected character %q", c)
		}
	}
	p.toks = append(p.toks, token{kind: tEOL, col: len(line) + 1})
	return nil
}

// recompute parses the rest of `recompute streams segment=N` (N ≥ 1).
func (p *parser) recompute() (int, error) {
	if t := p.next(); t.kind != tIdent || t.text != "streams" {
		return 0, p.errf(t.col, "want recompute streams segment=N, got %s", describe(t))
	}
	if t := p.next(); t.kind != tIdent || t.text != "segment" {
		return 0, p.errf(t.col, "want segment=N, got %s", describe(t))
	}
	if err := p.expect("="); err != nil {
		return 0, err
	}
	t := p.next()
	n, err := strconv.Atoi(t.text)
	if t.kind != tNumber || err != nil || n < 1 {
		return 0, p.errf(t.col, "want a segment length ≥ 1, got %s", describe(t))
	}
	return n, p.end()
}
