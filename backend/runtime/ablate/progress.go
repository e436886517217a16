package ablate

import (
	"fmt"
	"io"
	"time"

	"github.com/mhcc/mhcc/backend/runtime/train"
)

// progress shows how far the current run is, so that a long ablation is
// not silent: on a terminal one status line redrawn after every step,
// elsewhere a plain line at every tenth of the run.
type progress struct {
	w     io.Writer
	tty   bool
	label string // "[2/4] mhc.mhc seed 1337"
	every int    // plain lines: the steps between them
	sum   float64
	n     int // steps in sum
	dirty bool
}

// newProgress starts the progress of one run of steps steps.
func newProgress(w io.Writer, tty bool, label string, steps int) *progress {
	return &progress{w: w, tty: tty, label: label, every: max((steps+9)/10, 1)}
}

// step records one finished step.
func (p *progress) step(s train.Progress) {
	p.sum += s.Loss
	p.n++
	line := fmt.Sprintf("%s: step %d/%d | loss %.4f | %s", p.label, s.Step, s.Steps, p.sum/float64(p.n), eta(s))
	switch {
	case p.tty:
		fmt.Fprintf(p.w, "\r\x1b[K%s", line)
		p.dirty = true
	case s.Step%p.every == 0 && s.Step < s.Steps:
		fmt.Fprintln(p.w, line)
	default:
		return
	}
	if s.Step%p.every == 0 {
		p.sum, p.n = 0, 0
	}
}

// done clears the status line before the run's result is printed.
func (p *progress) done() {
	if p.dirty {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.dirty = false
	}
}

// eta is the elapsed training time and, from a second on, the estimate of
// what is left.
func eta(s train.Progress) string {
	el := fmt.Sprintf("%.1f s", s.Elapsed.Seconds())
	if s.Step == 0 {
		return el
	}
	left := time.Duration(float64(s.Elapsed) / float64(s.Step) * float64(s.Steps-s.Step)).Round(time.Second)
	if left < time.Second {
		return el
	}
	return fmt.Sprintf("%s, about %s left", el, left)
}
