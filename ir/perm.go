package ir

// MaxPermutationsN is the largest n for which the permutations op is
// defined: 5! = 120 matrices of 5×5. (6! = 720 would make the mixing
// coefficients larger than the stream itself for any practical width.)
const MaxPermutationsN = 5

// Permutations returns the n! permutations of 0..n−1 in lexicographic
// order: the first is the identity, the last the reversal. Row p of the
// permutations op is the permutation matrix of Permutations(n)[p] (see
// OpPermutations). It returns nil for n < 1.
func Permutations(n int) [][]int {
	if n < 1 {
		return nil
	}
	cur := make([]int, n)
	for i := range cur {
		cur[i] = i
	}
	var out [][]int
	for {
		out = append(out, append([]int(nil), cur...))
		// Next permutation in lexicographic order.
		i := n - 2
		for i >= 0 && cur[i] > cur[i+1] {
			i--
		}
		if i < 0 {
			return out
		}
		j := n - 1
		for cur[j] < cur[i] {
			j--
		}
		cur[i], cur[j] = cur[j], cur[i]
		for a, b := i+1, n-1; a < b; a, b = a+1, b-1 {
			cur[a], cur[b] = cur[b], cur[a]
		}
	}
}

// PermutationMatrices returns the value of the permutations op for n: an
// [n!, n²] row-major table whose row p is vec(P_p), the n×n matrix with
// P_p[i, π_p(i)] = 1 and zeros elsewhere, π_p = Permutations(n)[p].
func PermutationMatrices(n int) []float64 {
	perms := Permutations(n)
	out := make([]float64, len(perms)*n*n)
	for p, pi := range perms {
		for i, j := range pi {
			out[p*n*n+i*n+j] = 1
		}
	}
	return out
}

// Factorial returns n! for 0 ≤ n ≤ 20 (and 0 otherwise).
func Factorial(n int) int {
	if n < 0 || n > 20 {
		return 0
	}
	f := 1
	for k := 2; k <= n; k++ {
		f *= k
	}
	return f
}
