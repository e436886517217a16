package torch

import (
	"fmt"

	"github.com/mhcc/mhcc/ir"
)

// The mixture-of-experts ops (py/ops.py); moe.load is a tensor of the
// module's dtype.
func init() {
	impls.Implement(call(libName(ir.OpMoETopK)), ir.OpMoETopK)
	impls.Implement(call(libName(ir.OpMoEExperts)), ir.OpMoEExperts)
	impls.Implement(func(_ *emitter, v *ir.Value, args []string) (string, error) {
		return fmt.Sprintf("op_moe_load(%s, experts=%d, dtype=dt)", args[0], v.Attrs.Int("experts")), nil
	}, ir.OpMoELoad)
}
