package kernels

import (
	"runtime"
	"sync"
)

// parallelFor runs f(lo, hi) over [0, n) split into contiguous chunks, one
// per available CPU, when the total work (n·costPer) is large enough.
func parallelFor(n, costPer int, f func(lo, hi int)) {
	w := runtime.GOMAXPROCS(0)
	if w > n {
		w = n
	}
	if w <= 1 || n*costPer < 1<<15 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < w; i++ {
		lo, hi := i*n/w, (i+1)*n/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

// nChunks is the number of chunks parallelFor would use for n items of
// costPer work each.
func nChunks(n, costPer int) int {
	w := runtime.GOMAXPROCS(0)
	if w > n {
		w = n
	}
	if w <= 1 || n*costPer < 1<<15 {
		return 1
	}
	return w
}

// parallelChunks runs f(ch, lo, hi) for w contiguous chunks of [0, n).
func parallelChunks(n, w int, f func(ch, lo, hi int)) {
	if w <= 1 {
		f(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < w; i++ {
		lo, hi := i*n/w, (i+1)*n/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(i, lo, hi)
		}()
	}
	wg.Wait()
}

// sumChunks adds the w per-chunk partials part[ch*n : (ch+1)*n] into dst.
func sumChunks[T Float](dst, part []T, n, w int) {
	copy(dst[:n], part[:n])
	for ch := 1; ch < w; ch++ {
		p := part[ch*n : (ch+1)*n]
		for i, v := range p {
			dst[i] += v
		}
	}
}
