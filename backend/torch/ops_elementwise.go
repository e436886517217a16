package torch

import "github.com/mhcc/mhcc/ir"

// The elementwise ops, reductions and softmax: op_NAME of the library.
func init() {
	for _, op := range []string{ir.OpNeg, ir.OpExp, ir.OpLog, ir.OpSqrt, ir.OpSquare, ir.OpSigmoid, ir.OpTanh, ir.OpRelu,
		ir.OpAdd, ir.OpSub, ir.OpMul, ir.OpDiv,
		ir.OpSum, ir.OpMean, ir.OpMax, ir.OpSoftmax, ir.OpLogSoftmax} {
		impls.Implement(call(libName(op)), op)
	}
}
