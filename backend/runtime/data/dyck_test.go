package data

import (
	"math"
	"testing"
)

// TestDyckSequencesAreWellFormed: every window is a prefix of a Dyck
// word: a closing bracket closes the innermost open one, nothing closes
// at depth 0, nothing opens at the maximum depth, and targets are the
// next tokens.
func TestDyckSequencesAreWellFormed(t *testing.T) {
	d := &Dyck{vocab: 16, types: 4, maxDepth: 3, open: 0.6, name: "dyck-test"}
	const B, T = 64, 40
	tok, tgt := make([]int, B*T), make([]int, B*T)
	d.Batch(Train, NewRand(5, 5), B, T, tok, tgt)
	capped, closes := 0, 0
	for b := 0; b < B; b++ {
		s := append(append([]int(nil), tok[b*T:(b+1)*T]...), tgt[(b+1)*T-1])
		for i := 0; i+1 < T; i++ {
			if tgt[b*T+i] != s[i+1] {
				t.Fatal("targets are not the next tokens")
			}
		}
		var stack []int
		for _, x := range s {
			switch {
			case x < 0 || x >= 2*d.types:
				t.Fatalf("token %d out of range", x)
			case x < d.types:
				if len(stack) == d.maxDepth {
					t.Fatalf("opened beyond depth %d: %v", d.maxDepth, s)
				}
				stack = append(stack, x)
			default:
				if len(stack) == 0 || stack[len(stack)-1] != x-d.types {
					t.Fatalf("%d does not close the innermost bracket: %v", x, s)
				}
				if len(stack) == d.maxDepth {
					capped++
				}
				stack = stack[:len(stack)-1]
				closes++
			}
		}
	}
	if capped == 0 || closes == 0 {
		t.Errorf("the test sequences never reach the maximum depth (%d) or never close (%d)", capped, closes)
	}
}

// TestDyckLossFloor checks the exact floor against simulation: the mean
// of −log P(token | prefix) under the generating rules over many sampled
// windows estimates the expected entropy; it must agree with LossFloor
// within 4 standard errors, for a depth cap that binds and one that does
// not.
func TestDyckLossFloor(t *testing.T) {
	for _, d := range []*Dyck{
		{vocab: 16, types: 4, maxDepth: 3, open: 0.6, name: "capped"},
		{vocab: 256, types: 8, maxDepth: DyckMaxDepth, open: DyckOpen, name: "default"},
	} {
		const B, T = 4000, 24
		tok, tgt := make([]int, B*T), make([]int, B*T)
		d.Batch(Train, NewRand(9, 9), B, T, tok, tgt)
		var sum, sumSq float64
		for b := 0; b < B; b++ {
			depth := 1 // tok[b*T] opens a bracket
			var w float64
			for j := 0; j < T; j++ {
				x := tgt[b*T+j]
				var p float64
				switch {
				case depth == 0:
					p = 1 / float64(d.types)
				case depth == d.maxDepth:
					p = 1
				case x < d.types:
					p = d.open / float64(d.types)
				default:
					p = 1 - d.open
				}
				w -= math.Log(p)
				if x < d.types {
					depth++
				} else {
					depth--
				}
			}
			w /= T
			sum += w
			sumSq += w * w
		}
		mean := sum / B
		se := math.Sqrt((sumSq/B - mean*mean) / B)
		if floor := d.LossFloor(T); math.Abs(floor-mean) > 4*se {
			t.Errorf("%s: LossFloor(%d) = %.5f, simulation %.5f ± %.5f", d.name, T, floor, mean, se)
		}
	}
	d, _ := NewDyck(256)
	// At depth 0 only the type is random: log 8; the first target is
	// drawn at depth 1: H(0.5) + 0.5·log 8 nats.
	want := math.Log(2) + 0.5*math.Log(8)
	if got := d.LossFloor(1); math.Abs(got-want) > 1e-12 {
		t.Errorf("LossFloor(1) = %v, want %v", got, want)
	}
}
