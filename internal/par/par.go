// Package par runs independent tasks on several goroutines that take them
// from a shared counter, so that a CPU busy with another process (the
// machines mhcc runs on are often shared) only takes fewer tasks instead
// of holding back a fixed share of the work.
package par

import (
	"sync"
	"sync/atomic"
)

// Tasks runs f(0), …, f(n-1) on min(workers, n) goroutines, each taking
// the next task from a shared counter; with one worker it runs them in
// order on the caller's goroutine. It returns when all have returned.
func Tasks(workers, n int, f func(t int)) {
	workers = min(workers, n)
	if workers <= 1 {
		for t := 0; t < n; t++ {
			f(t)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				t := int(next.Add(1)) - 1
				if t >= n {
					return
				}
				f(t)
			}
		}()
	}
	wg.Wait()
}
