package lsp

import (
	"testing"

	protocol "github.com/tliron/glsp/protocol_3_16"

	"github.com/mhcc/mhcc/lang"
)

// TestPositions converts between byte columns and UTF-16 characters on a
// line with a 2-byte rune (é: 1 unit), a 4-byte rune (🙂: 2 units), an
// invalid byte (1 unit, as its replacement character) and a CRLF break.
func TestPositions(t *testing.T) {
	// line 0: `a"é🙂"x` then CRLF; bytes: a 0, " 1, é 2-3, 🙂 4-7, " 8,
	// x 9, \r 10; UTF-16: a 0, " 1, é 2, 🙂 3-4, " 5, x 6, line end 7.
	// line 1: `\xffb`: \xff 0, b 1 in both.
	text := []byte("a\"é🙂\"x\r\n\xffb")
	x := newLineIndex(text)
	for _, c := range []struct {
		line, col int // mhcc: 1-based line, 1-based byte column
		char      int // LSP: 0-based UTF-16 character
	}{
		{1, 1, 0}, {1, 3, 2}, {1, 5, 3}, {1, 9, 5}, {1, 10, 6}, {1, 11, 7},
		{2, 1, 0}, {2, 2, 1}, {2, 3, 2},
	} {
		p := x.position(lang.Pos{Line: c.line, Col: c.col})
		if int(p.Line) != c.line-1 || int(p.Character) != c.char {
			t.Errorf("position of %d:%d = %d:%d, want %d:%d", c.line, c.col, p.Line, p.Character, c.line-1, c.char)
		}
		off := x.offset(p)
		if back := x.pos(off); back.Line != c.line || back.Col != c.col {
			t.Errorf("offset of %d:%d = %d, which is %d:%d, want %d:%d", p.Line, p.Character, off, back.Line, back.Col, c.line, c.col)
		}
	}
	for _, c := range []struct {
		p    protocol.Position
		want int
	}{
		{protocol.Position{Line: 0, Character: 4}, 4},   // inside 🙂's surrogate pair: its start
		{protocol.Position{Line: 0, Character: 99}, 10}, // past the line: its end, before \r\n
		{protocol.Position{Line: 1, Character: 99}, 14}, // past the last line: the end of the text (14 bytes)
		{protocol.Position{Line: 7, Character: 0}, 14},  // past the text
	} {
		if got := x.offset(c.p); got != c.want {
			t.Errorf("offset of %d:%d = %d, want %d", c.p.Line, c.p.Character, got, c.want)
		}
	}
	// a range without an end covers the one character at its start: two
	// units for 🙂, none at the end of a line
	if r := x.rangeOf(lang.Pos{Line: 1, Col: 5}, lang.Pos{}); r.End.Character-r.Start.Character != 2 {
		t.Errorf("range of 🙂 = %+v, want 2 units", r)
	}
	if r := x.rangeOf(lang.Pos{Line: 1, Col: 11}, lang.Pos{}); r.End != r.Start {
		t.Errorf("range at the end of a line = %+v, want empty", r)
	}
	// positions out of the text are clamped, never out of range
	if p := x.position(lang.Pos{Line: 9, Col: 99}); p.Line != 1 || p.Character != 2 {
		t.Errorf("position past the text = %+v, want 1:2", p)
	}
}
