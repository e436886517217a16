package par

import (
	"sync/atomic"
	"testing"
)

// TestTasks: every task runs exactly once, with one worker, more workers
// than tasks, and none.
func TestTasks(t *testing.T) {
	for _, c := range []struct{ workers, n int }{{1, 5}, {2, 7}, {3, 100}, {8, 3}, {4, 0}, {0, 4}} {
		runs := make([]atomic.Int32, c.n)
		Tasks(c.workers, c.n, func(i int) { runs[i].Add(1) })
		for i := range runs {
			if r := runs[i].Load(); r != 1 {
				t.Errorf("workers=%d n=%d: task %d ran %d times", c.workers, c.n, i, r)
			}
		}
	}
}
