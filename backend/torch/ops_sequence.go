package torch

import "github.com/mhcc/mhcc/ir"

// The sequence ops: the causal mask, RoPE, attention and the decoding ops
// (attention.cached is forward only: the worker runs it without a
// gradient, like every backend).
func init() {
	for _, op := range []string{ir.OpCausalMask, ir.OpRope, ir.OpAttention, ir.OpRopeAt, ir.OpAttentionCached} {
		impls.Implement(call(libName(op)), op)
	}
}
