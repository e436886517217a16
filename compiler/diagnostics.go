package compiler

import (
	"fmt"

	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// The kinds of coefficient outputs of LowerDiagnostics.
const (
	HCPre  = "pre"  // H_pre f32[B,T,n]
	HCPost = "post" // H_post f32[B,T,n]
	HCRes  = "res"  // H_res f32[B,T,n,n], row i producing stream i
)

// HCOutput names the output of LowerDiagnostics holding coefficient kind
// (HCPre, HCPost or HCRes) of hyper-connected sublayer k: "hc.K.KIND".
func HCOutput(k int, kind string) string { return fmt.Sprintf("hc.%d.%s", k, kind) }

// LowerDiagnostics lowers p like Lower (no passes run) and adds, for every
// sublayer k whose coefficients are learned (every constraint but
// identity), the outputs HCOutput(k, HCPre) f32[B,T,n], HCOutput(k,
// HCPost) f32[B,T,n] and HCOutput(k, HCRes) f32[B,T,n,n]: the values the
// sublayer reads, writes and mixes with (for dynamic=false, the static
// values broadcast over the tokens). Parameter names and shapes are those
// of the training module, so a graph of it can share the training graph's
// parameters. A plain residual and constraint=identity have no such
// outputs: their coefficients are fixed.
func LowerDiagnostics(p *lang.Program) (*ir.Module, error) {
	l, err := lower(p)
	if err != nil {
		return nil, err
	}
	for k, co := range l.coeffs {
		l.b.Output(HCOutput(k, HCPre), co.pre)
		l.b.Output(HCOutput(k, HCPost), co.post)
		l.b.Output(HCOutput(k, HCRes), co.res)
	}
	if err := ir.Verify(l.b.M); err != nil {
		return nil, fmt.Errorf("internal compiler error while lowering the diagnostics of %s: %w", p.File, err)
	}
	return l.b.M, nil
}
