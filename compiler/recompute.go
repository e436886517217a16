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

// ModuleDiagnostics returns the warnings about a module compiled with
// opts that only the compiler can give: `recompute=true` where it cannot
// save memory. A backend recomputes only the stream tensors that the
// stream-chain analysis (ir.AnalyzeStreams) finds, which RecomputableStreams
// counts with the same function.
func ModuleDiagnostics(p *lang.Program, m *ir.Module, opts Options) lang.Diagnostics {
	if p == nil || m == nil || !p.Model.Residual.Recompute {
		return nil
	}
	res := p.Model.Residual
	warn := func(msg, help string) lang.Diagnostics {
		return lang.Diagnostics{{Severity: lang.Warning, Pos: res.Pos, Message: msg, Help: []string{help}}}
	}
	fusing := false
	if pl, err := opts.Pipeline(); err == nil {
		for _, ps := range pl {
			fusing = fusing || ps.Name == "fuse-hc-write"
		}
	}
	L := len(p.Model.Blocks)
	inner, ok := RecomputableStreams(m)
	switch {
	case !fusing:
		return warn("`recompute=true` has no effect on this build: the stream tensors are recomputed by the fused hyper-connection ops, which this optimisation level does not create",
			"build at -O2 (the default), or keep fuse-hc-write in --passes")
	case inner == 0:
		return warn("`recompute=true` has no effect here: no fused `hc.write` op writes the stream tensors (with `constraint=identity` the stream updates stay plain additions)",
			"remove it")
	case ok == 0:
		return warn(fmt.Sprintf("`recompute=true` has no effect with `constraint=%s` on this build: its stream tensors are also read by ops that cannot read a recomputed tensor", res.Constraint),
			"keep the fusion passes of -O2 (fuse-hc-coeffs, fuse-hc-read, fuse-hc-write, fuse-rmsnorm)")
	case RecomputeKept(L, m.RecomputeSegment) >= L-1:
		return warn(fmt.Sprintf("`recompute=true` saves no memory with %d hyper-connected sublayers: it needs at least 4", L),
			"remove it, or use it on a deeper model")
	}
	return nil
}

// RecomputableStreams counts the inner stream tensors of m (the outputs of
// all but the last hc.write) and how many of them a backend can recompute:
// those the stream-chain analysis (ir.AnalyzeStreams, which the backend
// plans with too) places after the first tensor of a chain.
func RecomputableStreams(m *ir.Module) (inner, recomputable int) {
	for _, v := range m.Values {
		if v.Op == ir.OpHCWrite {
			inner++
		}
	}
	inner = max(inner-1, 0)
	for _, t := range ir.AnalyzeStreams(m, nil).Tensors {
		if t.Pos > 0 {
			recomputable++
		}
	}
	return inner, recomputable
}
