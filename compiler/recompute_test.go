package compiler

import "testing"

func TestRecomputeSegment(t *testing.T) {
	// Brute force over every s: the kept count of the chosen segment is
	// the minimum, and no smaller s reaches it.
	for L := 1; L <= 80; L++ {
		s := RecomputeSegment(L)
		if s < 2 {
			t.Fatalf("L=%d: segment %d < 2", L, s)
		}
		kept := RecomputeKept(L, s)
		for o := 2; o <= L; o++ {
			if k := RecomputeKept(L, o); k < kept || k == kept && o < s {
				t.Errorf("L=%d: segment %d keeps %d, but %d keeps %d", L, s, kept, o, k)
			}
		}
		if kept > L-1 {
			t.Errorf("L=%d: recomputation keeps %d > %d tensors", L, kept, L-1)
		}
	}
	// Spot values, counted by hand: L=8, s=3 stores X_3, X_6 and needs two
	// shared buffers (segments {1,2}, {4,5}, {7}) → 4 of 7. L=16, s=4: X_4,
	// X_8, X_12 + 3 buffers = 6 of 15. L=60 (30 layers), s=8: 7 + 7 = 14, and s=6 (9 + 5) ties it.
	for _, c := range []struct{ L, s, kept int }{{8, 3, 4}, {16, 4, 6}, {60, 8, 14}, {2, 2, 1}, {1, 2, 0}} {
		if got := RecomputeKept(c.L, c.s); got != c.kept {
			t.Errorf("RecomputeKept(%d, %d) = %d, want %d", c.L, c.s, got, c.kept)
		}
	}
	for _, c := range []struct{ L, s int }{{8, 2}, {16, 4}, {60, 6}} {
		if got := RecomputeSegment(c.L); got != c.s {
			t.Errorf("RecomputeSegment(%d) = %d, want %d", c.L, got, c.s)
		}
	}
}
