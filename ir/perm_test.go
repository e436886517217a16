package ir

import "testing"

func TestPermutationsLexicographic(t *testing.T) {
	for n := 1; n <= MaxPermutationsN; n++ {
		ps := Permutations(n)
		if len(ps) != Factorial(n) {
			t.Fatalf("n=%d: %d permutations, want %d", n, len(ps), Factorial(n))
		}
		for i, j := range ps[0] {
			if i != j {
				t.Fatalf("n=%d: first permutation %v is not the identity", n, ps[0])
			}
		}
		seen := map[string]bool{}
		for k, p := range ps {
			key := ""
			used := make([]bool, n)
			for _, x := range p {
				if used[x] {
					t.Fatalf("n=%d: %v is not a permutation", n, p)
				}
				used[x] = true
				key += string(rune('0' + x))
			}
			if seen[key] {
				t.Fatalf("n=%d: %v twice", n, p)
			}
			seen[key] = true
			if k > 0 {
				prev := ps[k-1]
				less := false
				for i := range p {
					if prev[i] != p[i] {
						less = prev[i] < p[i]
						break
					}
				}
				if !less {
					t.Fatalf("n=%d: %v does not follow %v lexicographically", n, p, prev)
				}
			}
		}
	}
	if Permutations(0) != nil {
		t.Error("Permutations(0) should be nil")
	}
}

func TestPermutationMatricesAndType(t *testing.T) {
	const n = 3
	P := PermutationMatrices(n)
	if len(P) != 6*9 {
		t.Fatalf("len %d", len(P))
	}
	// Row 1 is the permutation (0 2 1): P[0,0] = P[1,2] = P[2,1] = 1.
	want := []float64{1, 0, 0, 0, 0, 1, 0, 1, 0}
	for k, w := range want {
		if P[9+k] != w {
			t.Fatalf("row 1 = %v, want %v", P[9:18], want)
		}
	}
	b := NewBuilder("t.mhc", "B", "T")
	v := b.Permutations(4)
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	if !v.Type.Shape.Equal(Dims(24, 16)) {
		t.Fatalf("type %s", v.Type)
	}
	b.Output("p", v)
	m, err := Parse(b.M.String())
	if err != nil {
		t.Fatal(err)
	}
	if m.String() != b.M.String() {
		t.Fatalf("round trip:\n%s\n%s", m, b.M)
	}
	b.Permutations(MaxPermutationsN + 1)
	if b.Err() == nil {
		t.Error("permutations n=6 should be rejected")
	}
}
