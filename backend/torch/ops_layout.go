package torch

import "github.com/mhcc/mhcc/ir"

// Layout, products and index ops.
func init() {
	for _, op := range []string{ir.OpReshape, ir.OpTranspose, ir.OpSlice, ir.OpBroadcast, ir.OpConcat,
		ir.OpMatmul, ir.OpMatmulConcat, ir.OpGather, ir.OpPick} {
		impls.Implement(call(libName(op)), op)
	}
}
