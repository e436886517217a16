package train

import (
	"fmt"
	"io"
)

// status prints progress: on a terminal one status line redrawn in place
// (with permanent lines, such as evaluations and checkpoints, printed
// above it), elsewhere plain lines.
type status struct {
	w     io.Writer
	tty   bool
	dirty bool // a status line is on screen
}

func newStatus(w io.Writer, tty bool) *status { return &status{w: w, tty: tty} }

// status redraws the status line (terminal only).
func (s *status) status(line string) {
	if !s.tty {
		return
	}
	fmt.Fprintf(s.w, "\r\x1b[K%s", line)
	s.dirty = true
}

// println prints a permanent line.
func (s *status) println(line string) {
	if s.dirty {
		fmt.Fprint(s.w, "\r\x1b[K")
		s.dirty = false
	}
	fmt.Fprintln(s.w, line)
}

// done ends the status line.
func (s *status) done() {
	if s.dirty {
		fmt.Fprintln(s.w)
		s.dirty = false
	}
}
