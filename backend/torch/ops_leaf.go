package torch

import (
	"fmt"

	"github.com/mhcc/mhcc/ir"
)

// The leaves: params and inputs are names (compute's arguments and the
// module's parameters), so their impls are never called for an
// expression; const and permutations are tensors of the module's dtype.
func init() {
	name := func(*emitter, *ir.Value, []string) (string, error) {
		return "", fmt.Errorf("params and inputs are names, not expressions")
	}
	impls.Implement(name, ir.OpParam, ir.OpInput)
	impls.Implement(func(_ *emitter, v *ir.Value, _ []string) (string, error) {
		return fmt.Sprintf("op_const(%s, dt, dev)", pyFloat(v.Attrs.Float("value"))), nil
	}, ir.OpConst)
	impls.Implement(func(_ *emitter, v *ir.Value, _ []string) (string, error) {
		return fmt.Sprintf("op_permutations(%d, dt, dev)", v.Attrs.Int("n")), nil
	}, ir.OpPermutations)
}
