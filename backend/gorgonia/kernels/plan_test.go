package kernels

import (
	"runtime"
	"testing"
)

// TestParallelRows: walks large enough for parRows to split them across
// CPUs give the elements a serial index computation gives: the head split
// of attention (a [B,T,H,E] → [B,H,T,E] transpose by StridedCopy) and a
// bias add broadcast over rows (BinFwd), with whole and uneven splits.
func TestParallelRows(t *testing.T) {
	old := runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 3)) // uneven split of the outer dimension
	defer runtime.GOMAXPROCS(old)
	for _, nb := range []int{8, 7} {
		B, T, H, E := nb, 128, 8, 64
		src := make([]float32, B*T*H*E)
		for i := range src {
			src[i] = float32(i)
		}
		dst := make([]float32, len(src))
		p := NewPlan([]int{B, H, T, E}, [][]int{{H * T * E, T * E, E, 1}, {T * H * E, E, H * E, 1}})
		if p.size() < parallelRowsMin {
			t.Fatalf("walk of %d elements is below parRows' %d", p.size(), parallelRowsMin)
		}
		StridedCopy(p, src, dst)
		for b := range B {
			for h := range H {
				for tt := range T {
					for e := range E {
						if got, want := dst[((b*H+h)*T+tt)*E+e], src[((b*T+tt)*H+h)*E+e]; got != want {
							t.Fatalf("B=%d: dst[%d,%d,%d,%d] = %v, want %v", B, b, h, tt, e, got, want)
						}
					}
				}
			}
		}
		rows, c := nb*128+3, 512
		a, bias, y := make([]float32, rows*c), make([]float32, c), make([]float32, rows*c)
		for i := range a {
			a[i] = float32(i%1000) * 0.5
		}
		for j := range bias {
			bias[j] = float32(j) * 0.25
		}
		BinFwd(BinAdd, NewPlan([]int{rows, c}, [][]int{{c, 1}, {c, 1}, {0, 1}}), a, bias, y)
		for i := range y {
			if want := a[i] + bias[i%c]; y[i] != want {
				t.Fatalf("bias add: y[%d] = %v, want %v", i, y[i], want)
			}
		}
	}
}
