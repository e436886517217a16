package ablate

import (
	"strings"
	"testing"
	"time"

	"github.com/mhcc/mhcc/backend/runtime/train"
)

// TestProgress: without a terminal a plain line at every tenth of the
// run (the mean loss since the previous line; none at the end, where the
// run's result line follows); on a terminal one status line redrawn after
// every step and cleared at the end.
func TestProgress(t *testing.T) {
	run := func(tty bool) string {
		var b strings.Builder
		p := newProgress(&b, tty, "[1/2] a.mhc seed 1", 20)
		for s := 1; s <= 20; s++ {
			p.step(train.Progress{Step: s, Steps: 20, Loss: float64(s), Elapsed: time.Duration(s) * time.Second})
		}
		p.done()
		return b.String()
	}
	plain := strings.Split(strings.TrimSuffix(run(false), "\n"), "\n")
	if len(plain) != 9 {
		t.Fatalf("%d plain lines, want 9 (steps 2, 4, ..., 18):\n%s", len(plain), strings.Join(plain, "\n"))
	}
	// steps 3 and 4 have losses 3 and 4: mean 3.5; 4 s for 4 steps, 16 left
	if want := "[1/2] a.mhc seed 1: step 4/20 | loss 3.5000 | 4.0 s, about 16s left"; plain[1] != want {
		t.Errorf("line 2 %q, want %q", plain[1], want)
	}
	tty := run(true)
	if n := strings.Count(tty, "\r\x1b[K"); n != 21 || strings.Contains(tty, "\n") || !strings.HasSuffix(tty, "\r\x1b[K") {
		t.Errorf("terminal: %d redraws (want 20 and a final clear), output %q", n, tty)
	}
}
