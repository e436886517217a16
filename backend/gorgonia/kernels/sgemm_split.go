package kernels

import (
	"sync"

	"gonum.org/v1/gonum/blas"

	"github.com/mhcc/mhcc/internal/par"
)

// sgemmSplit computes c = op(a)·op(b) + beta·c with the native kernel at level on w
// goroutines. op(b) is packed once into panels that every goroutine
// shares (packing it per row block, as before, cost up to a fifth of the
// product at the model's shapes), then the goroutines take blocks of c from
// a shared counter (splitPlan cuts them), so that a core busy with
// another process only takes fewer of them. Each element of c is summed in the kernel's fixed order
// (sgemm_impl.h): the result equals one gemm call bit for bit, whatever w
// and the order the blocks run in.
func sgemmSplit(level SgemmLevel, w int, tA, tB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmSplitPlan(level, w, splitPlan(m, n, w), tA, tB, m, n, k, a, lda, b, ldb, beta, c, ldc)
}

// sgemmSplitPlan is sgemmSplit with its blocks of c given by p.
func sgemmSplitPlan(level SgemmLevel, w int, p splitPlanT, tA, tB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	nr := cSgemmNR(level)
	np := (n + nr - 1) / nr
	buf := packBuffer(packElems(level, n, k))
	defer packPool.Put(buf)
	bp := *buf

	// pack op(b): ~4 chunks of panels per goroutine
	per := max(1, np/(4*w))
	par.Tasks(w, (np+per-1)/per, func(t int) {
		cSgemmPack(level, tB, n, k, b, ldb, t*per, min(np, (t+1)*per), bp)
	})

	rb, cb := p.rows, p.cols
	rowBlocks, colBlocks := (m+rb-1)/rb, (n+cb-1)/cb
	par.Tasks(w, rowBlocks*colBlocks, func(t int) {
		i0, j0 := t/colBlocks*rb, t%colBlocks*cb
		i1, j1 := min(m, i0+rb), min(n, j0+cb)
		if !cSgemmRows(level, tA, n, k, a, lda, bp, beta, c, ldc, i0, i1, j0, j1, p.mc) {
			// no scratch for the kernel on this thread: the block on the BLAS
			blasBlock(tA, tB, k, a, lda, b, ldb, beta, c, ldc, i0, i1, j0, j1)
		}
	})
}

// cSgemm computes c = op(a)·op(b) + beta·c on the calling goroutine with
// the native kernel at level (level ≥ SgemmAVX2, at most cpuLevel): op(b)
// packed into a buffer of packPool, then every block of c. It reports
// false, having written nothing, when the kernel cannot allocate its
// scratch (the caller then uses the BLAS).
func cSgemm(level SgemmLevel, tA, tB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) bool {
	if m == 0 || n == 0 {
		return true
	}
	if len(a) < needLen(tA, m, k, lda) || len(b) < needLen(tB, k, n, ldb) || len(c) < needLen(false, m, n, ldc) {
		panic("kernels: cSgemm: slice too short")
	}
	np := (n + cSgemmNR(level) - 1) / cSgemmNR(level)
	buf := packBuffer(packElems(level, n, k))
	defer packPool.Put(buf)
	cSgemmPack(level, tB, n, k, b, ldb, 0, np, *buf)
	return cSgemmRows(level, tA, n, k, a, lda, *buf, beta, c, ldc, 0, m, 0, n, 0)
}

// needLen returns the length a row-major operand of r×c elements (the
// transpose when t) with leading dimension ld needs, as BLAS checks it.
func needLen(t bool, r, c, ld int) int {
	if r == 0 || c == 0 {
		return 0
	}
	if t {
		r, c = c, r
	}
	return (r-1)*ld + c
}

// blasBlock computes rows [i0, i1) × columns [j0, j1) of
// c = op(a)·op(b) + beta·c with the BLAS.
func blasBlock(tA, tB bool, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc, i0, i1, j0, j1 int) {
	ta, tb := blas.NoTrans, blas.NoTrans
	aOff, bOff := i0*lda, j0 // row i0 of op(a), column j0 of op(b)
	if tA {
		ta, aOff = blas.Trans, i0
	}
	if tB {
		tb, bOff = blas.Trans, j0*ldb
	}
	theBLAS.Sgemm(ta, tb, i1-i0, j1-j0, k, 1, a[aOff:], lda, b[bOff:], ldb, beta, c[i0*ldc+j0:], ldc)
}

// splitUnitRows is the row granularity of sgemmSplit's blocks: a multiple
// of every level's micro-tile height (6 and 12), so that only the last
// block has a partial tile. splitUnitCols, the column granularity, is a
// multiple of every level's panel width (16 and 32).
const (
	splitUnitRows = 12
	splitUnitCols = 64
)

// splitPlanT is how sgemmSplit cuts c into blocks: rows × cols each,
// the kernel packing mc rows of op(a) at a time (0: its default).
type splitPlanT struct{ rows, cols, mc int }

// splitMaxRows is the most rows of op(a) that splitPlan packs at once
// (SGEMM_KC floats each: 512 KiB at 512 rows, which fits the L2 beside
// the kernel's block of packed B).
const splitMaxRows = 512

// splitMinCols is about the fewest columns of a block of splitPlan's
// column split: narrower blocks reuse each packed panel of op(a) over
// fewer panels of B (BenchmarkSgemmSplitWide: at 512×1536×1536, blocks
// of 768 columns ran 1.15× as fast as blocks of 384).
const splitMinCols = 1536

// splitPlan returns sgemmSplit's blocks of an m×n product on w
// goroutines. When m is small and below n (the model's products with
// M = batch × tokens rows against wide weights), every block takes all
// the rows, packed at once, and a range of columns, the same number of
// blocks for every goroutine and blocks of about splitMinCols columns or
// more: the packed B is then read from memory once per product, where
// blocks of rows read all of it once per block. Else splitBlocks' blocks
// of rows.
func splitPlan(m, n, w int) splitPlanT {
	if m <= splitMaxRows && m < n {
		blocks := w * max(1, n/(w*splitMinCols))
		cols := (n + blocks - 1) / blocks
		cols = (cols + splitUnitCols - 1) / splitUnitCols * splitUnitCols
		return splitPlanT{m, cols, (m + splitUnitRows - 1) / splitUnitRows * splitUnitRows}
	}
	rb, cb := splitBlocks(m, n, 4*w)
	return splitPlanT{rb, cb, 0}
}

// splitBlocks returns the rows and columns of sgemmSplit's blocks of an
// m×n product for about `want` blocks: whole rows while there are enough
// row units, else the columns are split too.
func splitBlocks(m, n, want int) (rows, cols int) {
	units := (m + splitUnitRows - 1) / splitUnitRows
	if units >= want {
		return (units + want - 1) / want * splitUnitRows, n
	}
	colBlocks := (want + units - 1) / units
	cols = (n + colBlocks - 1) / colBlocks
	cols = (cols + splitUnitCols - 1) / splitUnitCols * splitUnitCols
	return splitUnitRows, cols
}

// packElems is the size of the packed op(b) (k×n) at level: its column
// panels, the last one padded to the panel width.
func packElems(level SgemmLevel, n, k int) int {
	nr := cSgemmNR(level)
	return k * ((n + nr - 1) / nr) * nr
}

// GemmPackElems is the number of float32s that a product c [m×n] =
// op(a)·op(b) with inner dimension k takes from the pool of packed op(b)
// buffers on the current level (one buffer per product running at once,
// kept for reuse): 0 when it runs as plain loops or on the BLAS.
func GemmPackElems(m, n, k int) int {
	l := CurrentSgemmLevel()
	if l == SgemmGo || m*n*k <= smallGemmWork {
		return 0
	}
	return packElems(l, n, k)
}

// packPool keeps the packed-B buffers of cSgemm and sgemmSplit for reuse.
var packPool packBuffers

// packBuffers is a free list of packed-B buffers that, unlike a
// sync.Pool, survives the collector: a training step runs the same
// products every time, so the buffers of its largest products are needed
// again at once, and a pool emptied by every collection made each
// collection reallocate them (megabytes of garbage per step, which the
// collector's bounded headroom, memcheck.BoundGarbage, then had to absorb).
// It holds at most as many buffers as products ever ran at once: a
// product that finds none large enough replaces the largest of the
// smaller ones, so no buffer is larger than the largest product's.
type packBuffers struct {
	mu   sync.Mutex
	free []*[]float32
}

// packBuffer returns a buffer of n floats from packPool: the smallest free
// one that holds n, or a new one.
func packBuffer(n int) *[]float32 {
	return packPool.get(n)
}

func (p *packBuffers) get(n int) *[]float32 {
	p.mu.Lock()
	best, largest := -1, -1
	for i, b := range p.free {
		if c := cap(*b); c >= n && (best < 0 || c < cap(*p.free[best])) {
			best = i
		}
		if largest < 0 || cap(*b) > cap(*p.free[largest]) {
			largest = i
		}
	}
	if best < 0 {
		best = largest // replaced: too small for n
	}
	var b *[]float32
	if best >= 0 {
		b = p.free[best]
		p.free[best] = p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
	}
	p.mu.Unlock()
	if b != nil && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	s := make([]float32, n)
	return &s
}

// Put returns a buffer of packBuffer to the free list.
func (p *packBuffers) Put(b *[]float32) {
	p.mu.Lock()
	p.free = append(p.free, b)
	p.mu.Unlock()
}

// ReleasePackBuffers drops the packed-B buffers kept for reuse (for tests
// that measure the heap a graph takes, and for a process done with its
// products).
func ReleasePackBuffers() {
	packPool.mu.Lock()
	packPool.free = nil
	packPool.mu.Unlock()
}
