package ref

import (
	"fmt"

	"github.com/mhcc/mhcc/ir"
)

// permutations evaluates the constant table of the n! permutation
// matrices (ir.OpPermutations): [n!, n²], row p = vec(P_p).
func permutations(v *ir.Value) (*Tensor, error) {
	n := v.Attrs.Int("n")
	if n < 1 || n > ir.MaxPermutationsN {
		return nil, fmt.Errorf("permutations: n=%d out of range [1, %d]", n, ir.MaxPermutationsN)
	}
	return &Tensor{Shape: []int{ir.Factorial(n), n * n}, Data: ir.PermutationMatrices(n)}, nil
}
