package compiler

import (
	"fmt"

	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// RecomputeSegment returns the segment length that `residual ...
// recompute=true` uses for a model of L hyper-connected sublayers.
//
// The sublayers write the stream tensors X_1 … X_L (X_0, the replicated
// embedding, and X_L, which the collapse reads, are always kept). With
// segment S, X_l is stored when S divides l; the others live in S−1
// buffers shared by all segments, written in the forward pass and
// refilled for one segment at a time in the backward pass. That keeps
// ⌊(L−1)/S⌋ + min(S−1, number not stored) of the L−1 inner tensors. The
// result is the S with the fewest kept tensors (about √L), the smallest
// such S on a tie (fewer tensors to recompute). It is at least 2.
func RecomputeSegment(L int) int {
	best, bestKept := 2, -1
	for s := 2; s <= max(L, 2); s++ {
		if kept := RecomputeKept(L, s); bestKept < 0 || kept < bestKept {
			best, bestKept = s, kept
		}
	}
	return best
}

// RecomputeKept returns how many of the inner stream tensors X_1 … X_{L−1}
// occupy memory at once with segment length s (see RecomputeSegment):
// L−1 without recomputation.
func RecomputeKept(L, s int) int {
	if L < 2 {
		return 0
	}
	if s < 2 {
		return L - 1
	}
	stored := (L - 1) / s
	return stored + min(s-1, L-1-stored)
}

// ModuleDiagnostics returns the warnings about a compiled module that only
// the compiler can give: `recompute=true` without the fused hyper-connection
// ops that implement it (-O0, or --passes without fuse-hc-write), or with
// too few sublayers to save any memory.
func ModuleDiagnostics(p *lang.Program, m *ir.Module) lang.Diagnostics {
	if p == nil || m == nil || !p.Model.Residual.Recompute {
		return nil
	}
	res := p.Model.Residual
	var ds lang.Diagnostics
	L := len(p.Model.Blocks)
	fused := false
	for _, v := range m.Values {
		if v.Op == ir.OpHCWrite {
			fused = true
			break
		}
	}
	switch {
	case !fused:
		ds = append(ds, lang.Diagnostic{
			Severity: lang.Warning, Pos: res.Pos,
			Message: "`recompute=true` has no effect on this build: the stream tensors are recomputed by the fused hyper-connection ops, which this optimisation level does not create",
			Help:    []string{"build at -O2 (the default), or keep fuse-hc-write in --passes"},
		})
	case RecomputeKept(L, m.RecomputeSegment) >= L-1:
		ds = append(ds, lang.Diagnostic{
			Severity: lang.Warning, Pos: res.Pos,
			Message: fmt.Sprintf("`recompute=true` saves no memory with %d hyper-connected sublayers: it needs at least 4", L),
			Help:    []string{"remove it, or use it on a deeper model"},
		})
	}
	return ds
}
