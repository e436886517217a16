package torch

import (
	"strings"

	"github.com/mhcc/mhcc/ir"
)

// The fused normalisation, activation, loss and hyper-connection ops
// (sinkhorn is a torch.autograd.Function with the CPU kernel's recomputing
// backward; the others use PyTorch's autograd).
func init() {
	for _, op := range []string{ir.OpRMSNorm, ir.OpLayerNorm, ir.OpGELU, ir.OpSiLU, ir.OpCrossEntropy,
		ir.OpSinkhorn, ir.OpHCCoeffs, ir.OpHCRead, ir.OpHCWrite} {
		impls.Implement(call(libName(op)), op)
	}
}

// libName is the op library's function of an op: op_ and the op's name
// with dots as underscores (matmul.concat → op_matmul_concat).
func libName(op string) string { return "op_" + strings.ReplaceAll(op, ".", "_") }
