package lang

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// ANSI escapes used when colour is on.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[1;31m"
	ansiYellow = "\x1b[1;33m"
	ansiCyan   = "\x1b[1;36m"
	ansiBlue   = "\x1b[1;34m"
)

// Render prints the diagnostics GCC/rustc style, sorted and deduplicated:
//
//	tiny.mhc:6:12: error: unknown attribute `stream` on `residual`, did you mean `streams`?
//	    6 |   residual stream=4 constraint=birkhoff
//	      |            ^~~~~~
//	  = help: accepted attributes: streams, constraint, sinkhorn, init, alpha, phi_std, collapse
//
// The first line of each diagnostic is always "file:line:col: severity:
// message". src is the text of the file the positions refer to (nil prints
// no source lines). Colour escapes are written only when color is true; the
// caller decides (a TTY with NO_COLOR unset). At most limit diagnostics are
// printed (limit <= 0 prints all), followed by "and N more errors".
func (d Diagnostics) Render(w io.Writer, src []byte, color bool, limit int) error {
	d = append(Diagnostics(nil), d...)
	d.Sort()
	r := renderer{w: w, src: src, color: color}
	shown := d
	if limit > 0 && len(d) > limit {
		shown = d[:limit]
	}
	for _, x := range shown {
		r.diag(x)
	}
	if rest := d[len(shown):]; len(rest) > 0 {
		word := "error"
		if rest.Errors() != len(rest) {
			word = "diagnostic"
		}
		if len(rest) != 1 {
			word += "s"
		}
		r.printf("and %d more %s\n", len(rest), word)
	}
	return r.err
}

// String renders the diagnostics without source lines or colour.
func (d Diagnostics) String() string {
	var b strings.Builder
	_ = d.Render(&b, nil, false, 0)
	return b.String()
}

type renderer struct {
	w     io.Writer
	src   []byte
	color bool
	err   error
}

func (r *renderer) printf(format string, args ...any) {
	if r.err == nil {
		_, r.err = fmt.Fprintf(r.w, format, args...)
	}
}

func (r *renderer) paint(style, s string) string {
	if !r.color {
		return s
	}
	return style + s + ansiReset
}

func sevStyle(s Severity) string {
	switch s {
	case Error:
		return ansiRed
	case Warning:
		return ansiYellow
	}
	return ansiCyan
}

func (r *renderer) diag(x Diagnostic) {
	style := sevStyle(x.Severity)
	r.printf("%s %s %s\n", r.paint(ansiBold, x.Pos.String()+":"), r.paint(style, x.Severity.String()+":"), r.paint(ansiBold, x.Message))
	r.snippet(x.Pos, x.End, style)
	for _, h := range x.Help {
		r.printf("  %s %s\n", r.paint(ansiBlue, "= help:"), h)
	}
	for _, rel := range x.Related {
		r.printf("%s %s %s\n", r.paint(ansiBold, rel.Pos.String()+":"), r.paint(ansiCyan, "note:"), rel.Message)
		r.snippet(rel.Pos, rel.End, ansiCyan)
	}
}

// snippet prints the source line of pos with carets under [pos, end).
func (r *renderer) snippet(pos, end Pos, style string) {
	line, ok := sourceLine(r.src, pos)
	if !ok {
		return
	}
	width := len(fmt.Sprint(pos.Line)) + 1
	if width < 5 {
		width = 5
	}
	gutter := strings.Repeat(" ", width+1) + r.paint(ansiBlue, "|")
	r.printf("%s\n", strings.TrimRight(r.paint(ansiBlue, fmt.Sprintf("%*d |", width, pos.Line))+" "+expandLine(line), " "))

	col := min(pos.Col-1, len(line))
	n := 1 // caret width in display columns
	if end.IsValid() && end.Line == pos.Line && end.Col > pos.Col {
		endCol := min(end.Col-1, len(line))
		n = max(displayWidth(line[col:endCol]), 1)
	} else if end.IsValid() && end.Line > pos.Line {
		n = max(displayWidth(line[col:]), 1)
	}
	pad := caretPad(line[:col])
	r.printf("%s %s%s\n", gutter, pad, r.paint(style, "^"+strings.Repeat("~", n-1)))
}

// sourceLine returns the text of the line holding pos, without the newline.
func sourceLine(src []byte, pos Pos) (string, bool) {
	if src == nil || !pos.IsValid() || pos.Offset < 0 || pos.Offset > len(src) {
		return "", false
	}
	start := bytes.LastIndexByte(src[:pos.Offset], '\n') + 1
	end := bytes.IndexByte(src[pos.Offset:], '\n')
	if end < 0 {
		end = len(src)
	} else {
		end += pos.Offset
	}
	line := strings.TrimRight(string(src[start:end]), "\r")
	if !utf8.ValidString(line) || len(line) > 500 { // binary or huge generated lines
		return "", false
	}
	return line, true
}

// expandLine replaces tabs with four spaces and control characters with
// spaces so the caret line lines up.
func expandLine(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '\t':
			b.WriteString("    ")
		case c < ' ' || c == 0x7f:
			b.WriteByte(' ')
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// displayWidth counts display columns: tabs are four, other runes one.
func displayWidth(s string) int {
	n := 0
	for _, c := range s {
		if c == '\t' {
			n += 4
		} else {
			n++
		}
	}
	return n
}

func caretPad(prefix string) string {
	return strings.Repeat(" ", displayWidth(prefix))
}
