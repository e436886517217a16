package gorgonia

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/mhcc/mhcc/ir"
)

// permutations lowers ir.OpPermutations: a constant [n!, n²] tensor node
// holding the permutation matrices (no kernel runs; no gradient reaches
// it, as it is not a parameter).
func (b *builder) permutations(v *ir.Value, e *entry) error {
	n := v.Attrs.Int("n")
	if n < 1 || n > ir.MaxPermutationsN {
		return fmt.Errorf("permutations: n=%d out of range [1, %d]", n, ir.MaxPermutationsN)
	}
	data := ir.PermutationMatrices(n)
	if len(data) != prod(e.shape) {
		return fmt.Errorf("permutations: %d values for shape %v", len(data), e.shape)
	}
	s := gshape(e.shape)
	b.nconst++
	e.node = b.leaf(b.dt, s, fmt.Sprintf("permutations%d_%d", n, b.nconst), func() *tensor.Dense {
		t := tensor.New(tensor.Of(b.dt), tensor.WithShape(s...))
		switch d := t.Data().(type) {
		case []float32:
			for i, x := range data {
				d[i] = float32(x)
			}
		case []float64:
			copy(d, data)
		}
		return t
	})
	return nil
}
