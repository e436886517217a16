package lsp

import (
	"bytes"
	"unicode/utf8"

	protocol "github.com/tliron/glsp/protocol_3_16"

	"github.com/mhcc/mhcc/lang"
)

// This file converts between mhcc's positions (1-based line, 1-based
// column in bytes) and the protocol's (0-based line, 0-based character in
// UTF-16 code units, the encoding LSP 3.16 counts in). An invalid UTF-8
// byte counts as one unit, as an editor shows it as one replacement
// character.

// lineIndex holds the byte offset of the start of every line of a text.
type lineIndex struct {
	text  []byte
	start []int
}

func newLineIndex(text []byte) *lineIndex {
	start := []int{0}
	for i, c := range text {
		if c == '\n' {
			start = append(start, i+1)
		}
	}
	return &lineIndex{text: text, start: start}
}

// line returns the bytes of line i (0-based) without its line break.
func (x *lineIndex) line(i int) []byte {
	if i < 0 || i >= len(x.start) {
		return nil
	}
	end := len(x.text)
	if i+1 < len(x.start) {
		end = x.start[i+1] - 1
	}
	return bytes.TrimSuffix(x.text[x.start[i]:end], []byte("\r"))
}

// utf16Len counts the UTF-16 code units of b.
func utf16Len(b []byte) int {
	n := 0
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// position converts p (line and byte column) to a protocol position,
// clamped to the text.
func (x *lineIndex) position(p lang.Pos) protocol.Position {
	if !p.IsValid() {
		return protocol.Position{}
	}
	i := min(p.Line-1, len(x.start)-1)
	line := x.line(i)
	col := min(max(p.Col-1, 0), len(line))
	return protocol.Position{Line: protocol.UInteger(i), Character: protocol.UInteger(utf16Len(line[:col]))}
}

// offset converts a protocol position to a byte offset in the text: a
// line past the end is the end of the text, a character past the end of
// its line the end of the line, and a character inside a surrogate pair
// the start of its rune.
func (x *lineIndex) offset(p protocol.Position) int {
	i := int(p.Line)
	if p.Line >= protocol.UInteger(len(x.start)) {
		return len(x.text)
	}
	line := x.line(i)
	want := int(p.Character)
	n, off := 0, 0
	for off < len(line) {
		r, size := utf8.DecodeRune(line[off:])
		units := 1
		if r >= 0x10000 {
			units = 2
		}
		if n+units > want {
			break
		}
		n += units
		off += size
	}
	return x.start[i] + off
}

// pos converts a byte offset into mhcc's Pos (line and byte column).
func (x *lineIndex) pos(off int) lang.Pos {
	off = min(max(off, 0), len(x.text))
	lo, hi := 0, len(x.start)-1
	for lo < hi { // the last line starting at or before off
		mid := (lo + hi + 1) / 2
		if x.start[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lang.Pos{Offset: off, Line: lo + 1, Col: off - x.start[lo] + 1}
}

// rangeOf converts [p, end) to a protocol range; an end that is not
// valid, or not after p, gives the range of the one character at p (an
// empty range at the end of a line).
func (x *lineIndex) rangeOf(p, end lang.Pos) protocol.Range {
	start := x.position(p)
	if !end.IsValid() || end.Line < p.Line || (end.Line == p.Line && end.Col <= p.Col) {
		e := start
		line := x.line(int(start.Line))
		col := min(max(p.Col-1, 0), len(line))
		if col < len(line) {
			r, size := utf8.DecodeRune(line[col:])
			if r >= 0x10000 && size == 4 {
				e.Character += 2
			} else {
				e.Character++
			}
		}
		return protocol.Range{Start: start, End: e}
	}
	return protocol.Range{Start: start, End: x.position(end)}
}
