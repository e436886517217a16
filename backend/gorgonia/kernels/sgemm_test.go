package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// nativeLevels are the levels of the native GEMM, each tested on its own.
var nativeLevels = []SgemmLevel{SgemmAVX2, SgemmAVX512}

// levelFeature names what a CPU needs for a level (for the skip message).
var levelFeature = map[SgemmLevel]string{
	SgemmAVX2:   "AVX2 and FMA (and a cgo build on amd64)",
	SgemmAVX512: "AVX-512 F, VL, DQ and BW (and a cgo build on amd64)",
}

// forEachLevel runs f in a subtest per native level, at that level; a
// level the CPU (or the build) lacks is skipped, naming what is missing.
func forEachLevel(t *testing.T, f func(t *testing.T, l SgemmLevel)) {
	for _, l := range nativeLevels {
		t.Run(l.String(), func(t *testing.T) {
			if l > CPUSgemmLevel() {
				t.Skipf("this CPU or build lacks %s (highest level here: %v)", levelFeature[l], CPUSgemmLevel())
			}
			old := SetSgemmLevel(l)
			defer SetSgemmLevel(old)
			f(t, l)
		})
	}
}

// gemmCase is one product with strided operands: c = op(a)·op(b) + beta·c.
type gemmCase struct {
	m, n, k       int
	tA, tB        bool
	lda, ldb, ldc int
	a, b, c       []float32
}

// newGemmCase fills a case with random operands; the leading dimensions
// exceed the minimum by pad (and c has pad extra rows), so that a kernel
// that writes or reads outside its operands is caught.
func newGemmCase(rng *rand.Rand, m, n, k int, tA, tB bool, pad int) *gemmCase {
	g := &gemmCase{m: m, n: n, k: k, tA: tA, tB: tB}
	ra, ca := m, k
	if tA {
		ra, ca = k, m
	}
	rb, cb := k, n
	if tB {
		rb, cb = n, k
	}
	g.lda, g.ldb, g.ldc = ca+pad, cb+pad, n+pad
	g.a, g.b, g.c = randNorm32(rng, max(1, ra*g.lda)), randNorm32(rng, max(1, rb*g.ldb)), randNorm32(rng, (m+pad)*g.ldc)
	return g
}

func (g *gemmCase) at(x []float32, t bool, ld, i, j int) float64 {
	if t {
		return float64(x[j*ld+i])
	}
	return float64(x[i*ld+j])
}

// ref returns the float64 product op(a)·op(b) and Σ|a·b| per element
// (m×n, row-major).
func (g *gemmCase) ref() (prod, mag []float64) {
	prod, mag = make([]float64, g.m*g.n), make([]float64, g.m*g.n)
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.n; j++ {
			var s, sa float64
			for p := 0; p < g.k; p++ {
				v := g.at(g.a, g.tA, g.lda, i, p) * g.at(g.b, g.tB, g.ldb, p, j)
				s += v
				sa += math.Abs(v)
			}
			prod[i*g.n+j], mag[i*g.n+j] = s, sa
		}
	}
	return prod, mag
}

// check compares got (c after the product with beta) with the float64
// product of the same operands (prod, mag from ref). The bound is the
// standard one for a float32 dot product of k terms summed in any order
// with one rounding per operation (the FMAs of the block sums, the
// additions of the blocks to beta·c): the error is at most
// (k+2)·u·(Σ|a·b| + |beta·c|) with u = 2⁻²⁴. Elements outside the m×n
// result (the padding of ldc and the extra rows) must be unchanged.
func (g *gemmCase) check(t *testing.T, beta float32, got []float32, prod, mag []float64) {
	t.Helper()
	const u = 1.0 / (1 << 24)
	for i := 0; i < len(g.c)/g.ldc; i++ {
		for j := 0; j < g.ldc; j++ {
			x, c0 := float64(got[i*g.ldc+j]), float64(g.c[i*g.ldc+j])
			if i >= g.m || j >= g.n {
				if x != c0 {
					t.Fatalf("%s beta=%v: wrote outside C at (%d,%d): %v, was %v", g, beta, i, j, x, c0)
				}
				continue
			}
			want, bound := prod[i*g.n+j], mag[i*g.n+j]
			if beta != 0 {
				want += float64(beta) * c0
				bound += math.Abs(float64(beta) * c0)
			}
			bound *= float64(g.k+2) * u
			if math.Abs(x-want) > bound {
				t.Fatalf("%s beta=%v: C[%d,%d] = %v, want %v (bound %.3g)", g, beta, i, j, x, want, bound)
			}
		}
	}
}

func (g *gemmCase) String() string {
	return fmt.Sprintf("m=%d n=%d k=%d tA=%v tB=%v lda=%d ldb=%d ldc=%d", g.m, g.n, g.k, g.tA, g.tB, g.lda, g.ldb, g.ldc)
}

// gemmShapes are awkward sizes for the native kernels: 1, k = 0 and 1,
// primes, one more and one less than the tiles (6×16 and 12×32), more rows
// than a row block (MC = 96 and 144), more columns than a column sweep
// (NCB = 512 and 1024), more than one and two KC = 256 blocks, thin and
// flat products.
var gemmShapes = [][3]int{
	{1, 1, 1}, {1, 1, 0}, {5, 3, 0}, {2, 3, 1}, {1, 33, 5}, {33, 1, 7}, {6, 16, 1}, {7, 17, 3},
	{12, 32, 256}, {13, 33, 257}, {11, 31, 255}, {13, 5, 300}, {61, 67, 71}, {100, 33, 257},
	{97, 1030, 40}, {200, 64, 520}, {145, 65, 20}, {4, 128, 4}, {37, 45, 1000}, {289, 97, 513},
}

// TestNativeSgemm checks every native level against a float64 product on
// gemmShapes, every transpose combination, beta 0, 1 and −0.5 (the API
// takes any beta), and leading dimensions larger than the operands.
func TestNativeSgemm(t *testing.T) {
	type refCase struct {
		g         *gemmCase
		prod, mag []float64
	}
	var cases []refCase // built for the first level that runs
	forEachLevel(t, func(t *testing.T, l SgemmLevel) {
		if cases == nil {
			rng := rand.New(rand.NewPCG(1, 2))
			for _, s := range gemmShapes {
				for _, tA := range []bool{false, true} {
					for _, tB := range []bool{false, true} {
						g := newGemmCase(rng, s[0], s[1], s[2], tA, tB, 3)
						prod, mag := g.ref()
						cases = append(cases, refCase{g, prod, mag})
					}
				}
			}
		}
		for _, c := range cases {
			g := c.g
			for _, beta := range []float32{0, 1, -0.5} {
				got := slices.Clone(g.c)
				if !cSgemm(l, g.tA, g.tB, g.m, g.n, g.k, g.a, g.lda, g.b, g.ldb, beta, got, g.ldc) {
					t.Fatalf("%s: the kernel could not allocate its scratch", g)
				}
				g.check(t, beta, got, c.prod, c.mag)
			}
		}
	})
}

// TestNativeSgemmNaN: with beta 0, C's old values (NaN here) do not reach
// the result, as BLAS specifies; with beta 1 they do.
func TestNativeSgemmNaN(t *testing.T) {
	forEachLevel(t, func(t *testing.T, l SgemmLevel) {
		for _, k := range []int{0, 1, 300} {
			a, b := make([]float32, 20*(k+1)), make([]float32, 40*k+1)
			for _, beta := range []float32{0, 1} {
				c := make([]float32, 20*40)
				for i := range c {
					c[i] = float32(math.NaN())
				}
				if !cSgemm(l, false, false, 20, 40, k, a, k+1, b, 40, beta, c, 40) {
					t.Fatal("the kernel could not allocate its scratch")
				}
				for i, v := range c {
					if nan := v != v; nan != (beta != 0) {
						t.Fatalf("k=%d beta=%v: c[%d] = %v", k, beta, i, v)
					}
				}
			}
		}
	})
}

// TestSgemmLevelsAgree: the levels sum every element in the same order
// (sgemm_impl.h), so their results are bit-identical; and sgemmSplit,
// whatever its blocks and number of goroutines, equals one call.
func TestSgemmLevelsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var cases []*gemmCase
	for _, s := range append(slices.Clone(gemmShapes), [3]int{300, 700, 600}, [3]int{24, 2000, 300}, [3]int{1030, 96, 513}) {
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				cases = append(cases, newGemmCase(rng, s[0], s[1], s[2], tA, tB, 5))
			}
		}
	}
	var first [][]float32 // the results of the first level that runs
	forEachLevel(t, func(t *testing.T, l SgemmLevel) {
		for i, g := range cases {
			got := slices.Clone(g.c)
			if !cSgemm(l, g.tA, g.tB, g.m, g.n, g.k, g.a, g.lda, g.b, g.ldb, 0, got, g.ldc) {
				t.Fatalf("%s: the kernel could not allocate its scratch", g)
			}
			if len(first) < len(cases) {
				first = append(first, got)
			} else if j := firstDiff(first[i], got); j >= 0 {
				t.Fatalf("%s: c[%d] = %v, lower level %v", g, j, got[j], first[i][j])
			}
			for _, w := range []int{1, 2, 3, 7} {
				split := slices.Clone(g.c)
				sgemmSplit(l, w, g.tA, g.tB, g.m, g.n, g.k, g.a, g.lda, g.b, g.ldb, 0, split, g.ldc)
				if j := firstDiff(got, split); j >= 0 {
					t.Fatalf("%s: split over %d goroutines c[%d] = %v, one call %v", g, w, j, split[j], got[j])
				}
			}
			// accumulating (beta = 1) into the product: split as one call
			acc := slices.Clone(got)
			if !cSgemm(l, g.tA, g.tB, g.m, g.n, g.k, g.a, g.lda, g.b, g.ldb, 1, acc, g.ldc) {
				t.Fatalf("%s: the kernel could not allocate its scratch", g)
			}
			for _, w := range []int{2, 3} {
				split := slices.Clone(got)
				sgemmSplit(l, w, g.tA, g.tB, g.m, g.n, g.k, g.a, g.lda, g.b, g.ldb, 1, split, g.ldc)
				if j := firstDiff(acc, split); j >= 0 {
					t.Fatalf("%s: beta 1 split over %d goroutines c[%d] = %v, one call %v", g, w, j, split[j], acc[j])
				}
			}
		}
	})
}

// randNorm32 returns n standard normal float32s.
func randNorm32(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// firstDiff returns the first index where a and b differ bitwise, or -1.
func firstDiff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// TestSplitBlocks: the blocks cover the product, rows in multiples of
// splitUnitRows and columns in multiples of splitUnitCols (or all of n).
func TestSplitBlocks(t *testing.T) {
	for _, c := range []struct{ m, n, want, rows, cols int }{
		{1024, 512, 8, 132, 512}, // 86 row units in 8 blocks of 11
		{96, 512, 8, 12, 512},    // 8 units: one each
		{24, 2000, 8, 12, 512},   // 2 units, 4 column blocks of 500 rounded to 512
		{5, 100, 8, 12, 64},      // 1 unit, 8 column blocks of 13 rounded to 64
	} {
		r, cl := splitBlocks(c.m, c.n, c.want)
		if r != c.rows || cl != c.cols {
			t.Errorf("splitBlocks(%d, %d, %d) = %d, %d; want %d, %d", c.m, c.n, c.want, r, cl, c.rows, c.cols)
		}
	}
}

// TestSplitPlan: a product of few rows against many columns is cut into
// column blocks of all the rows (packed at once, rounded up to
// splitUnitRows), the same number per goroutine and about splitMinCols
// columns or more each; others into splitBlocks' blocks of rows.
func TestSplitPlan(t *testing.T) {
	for _, c := range []struct {
		m, n, w int
		want    splitPlanT
	}{
		{512, 6144, 2, splitPlanT{512, 1536, 516}}, // 6144/(2·1536) = 2 blocks per goroutine
		{512, 1536, 2, splitPlanT{512, 768, 516}},  // 1 block each: 768 columns
		{300, 700, 3, splitPlanT{300, 256, 300}},   // 3 blocks of 234 rounded to 256
		{1024, 4096, 2, splitPlanT{132, 4096, 0}},  // over splitMaxRows: splitBlocks(1024, 4096, 8)
		{6144, 1536, 2, splitPlanT{768, 1536, 0}},  // m ≥ n: 512 row units in 8 blocks of 64
	} {
		if got := splitPlan(c.m, c.n, c.w); got != c.want {
			t.Errorf("splitPlan(%d, %d, %d) = %+v; want %+v", c.m, c.n, c.w, got, c.want)
		}
	}
}

// TestSgemmAllocFailure: when the native kernel cannot allocate its
// scratch it writes nothing and reports it; gemm then computes the product
// with the BLAS, and sgemmSplit each block with the BLAS, so the results
// stay within the float32 bound of the float64 product.
func TestSgemmAllocFailure(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	forEachLevel(t, func(t *testing.T, l SgemmLevel) {
		setSgemmAllocFail(true)
		defer setSgemmAllocFail(false)
		for _, s := range [][3]int{{13, 33, 257}, {300, 200, 100}} {
			for _, tA := range []bool{false, true} {
				for _, tB := range []bool{false, true} {
					g := newGemmCase(rng, s[0], s[1], s[2], tA, tB, 3)
					prod, mag := g.ref()
					got := slices.Clone(g.c)
					if cSgemm(l, g.tA, g.tB, g.m, g.n, g.k, g.a, g.lda, g.b, g.ldb, 0, got, g.ldc) {
						t.Fatalf("%s: cSgemm reported success without scratch", g)
					}
					if j := firstDiff(g.c, got); j >= 0 {
						t.Fatalf("%s: the failed cSgemm wrote c[%d]", g, j)
					}
					gemm(g.tA, g.tB, g.m, g.n, g.k, g.a, g.lda, g.b, g.ldb, 0, got, g.ldc)
					g.check(t, 0, got, prod, mag)
					for _, w := range []int{1, 2} {
						split := slices.Clone(g.c)
						sgemmSplit(l, w, g.tA, g.tB, g.m, g.n, g.k, g.a, g.lda, g.b, g.ldb, 0, split, g.ldc)
						g.check(t, 0, split, prod, mag)
					}
				}
			}
		}
	})
}

// TestGemmPackElems: a product takes op(b) packed in whole column panels
// (16 floats wide at AVX2, 32 at AVX-512), so k × n rounded up to the
// panel width; nothing when it runs as plain loops or on the BLAS.
func TestGemmPackElems(t *testing.T) {
	forEachLevel(t, func(t *testing.T, l SgemmLevel) {
		nr := map[SgemmLevel]int{SgemmAVX2: 16, SgemmAVX512: 32}[l]
		if got := cSgemmNR(l); got != nr {
			t.Fatalf("panel width %d, want %d", got, nr)
		}
		for _, c := range []struct{ m, n, k, want int }{
			{64, 512, 256, 256 * 512},                       // whole panels
			{100, 33, 70, 70 * 64},                          // 33 columns: 2 panels of 32 (3 of 16 = 48)
			{16, 32, 32, 0},                                 // 16·32·32 = 2^14: plain loops
			{1, 17, 1000, 1000 * ((17 + nr - 1) / nr * nr)}, // one row, a partial panel
		} {
			want := c.want
			if c.n == 33 && nr == 16 {
				want = 70 * 48
			}
			if got := GemmPackElems(c.m, c.n, c.k); got != want {
				t.Errorf("GemmPackElems(%d, %d, %d) = %d, want %d", c.m, c.n, c.k, got, want)
			}
		}
	})
	defer SetSgemmLevel(SetSgemmLevel(SgemmGo))
	if got := GemmPackElems(64, 512, 256); got != 0 {
		t.Errorf("on the BLAS: GemmPackElems = %d, want 0", got)
	}
}
