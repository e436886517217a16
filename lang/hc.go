package lang

import (
	"fmt"
	"strconv"
	"strings"
)

// This file holds the checks and resolution specific to hyper-connections:
// the variants of the `residual` statement and the `diagnostics`
// statement of `train`.

// maxPermutationStreams is the largest n that `constraint=permutations`
// accepts (5! = 120 permutation matrices; the IR's MaxPermutationsN).
const maxPermutationStreams = 5

// residualChecks reports the semantic problems of a resolved `residual
// hyper` statement: settings without effect (warnings) and too many
// streams for `constraint=permutations` (an error).
func (c *checker) residualChecks(in *inst, r Residual) {
	if r.Streams == 1 && r.Constraint == ConstraintBirkhoff && in.ok["streams"] {
		p, e := in.attrSpan("streams")
		c.diags.warnf(p, e, "`constraint=birkhoff` with `streams=1` has no effect: the only 1×1 doubly stochastic matrix is the identity").
			help("use `streams=4` for hyper-connections, or `residual plain` for the baseline")
	}
	if r.Constraint != ConstraintBirkhoff && in.ok["sinkhorn"] {
		p, e := in.attrSpan("sinkhorn")
		c.diags.warnf(p, e, "`sinkhorn` has no effect with `constraint=%s`", r.Constraint).
			help("remove it, or use `constraint=birkhoff`")
	}
	if r.Constraint == ConstraintIdentity && in.ok["dynamic"] {
		p, e := in.attrSpan("dynamic")
		c.diags.warnf(p, e, "`dynamic` has no effect with `constraint=identity`: its coefficients are fixed").
			help("remove it, or choose a learned constraint such as `constraint=birkhoff`")
	}
	if r.Constraint == ConstraintNone && r.Init == InitUniform && r.Collapse != CollapseLearned && r.Streams > 1 && in.ok["init"] {
		// The streams start equal; uniform static weights and zero dynamic
		// weights treat them alike, so every gradient is the same for each.
		p, e := in.attrSpan("init")
		c.diags.warnf(p, e, "with `constraint=none`, `init=uniform` keeps the %d streams identical for the whole run: they start equal and nothing tells them apart", r.Streams).
			help("use `init=residual`, whose one-hot reads of different home streams break the symmetry, or `collapse=learned`")
	}
	if r.Constraint == ConstraintPermutations && r.Streams > maxPermutationStreams && in.ok["constraint"] {
		p, e := in.attrSpan("streams")
		if !in.ok["streams"] {
			p, e = in.attrSpan("constraint")
		}
		count := fmt.Sprintf("%d! = %s", r.Streams, factorialString(r.Streams))
		d := c.diags.errorf(p, e, "`constraint=permutations` supports at most %d streams, but `streams=%d` would need %s permutation matrices per sublayer",
			maxPermutationStreams, r.Streams, count)
		if in.ok["streams"] {
			cp, ce := in.attrSpan("constraint")
			d.related(cp, ce, "`constraint=permutations` is set here")
		} else {
			d.help("`streams` defaults to %d", r.Streams)
		}
		d.help("use `streams=%d` or fewer, or `constraint=birkhoff`, which reaches the same doubly stochastic matrices by Sinkhorn-Knopp for any n", maxPermutationStreams)
	}
}

// factorialString is n! in decimal, or "more than 10^18" when it does not
// fit in an int64.
func factorialString(n int) string {
	if n > 20 {
		return "more than 10^18"
	}
	f := int64(1)
	for k := int64(2); k <= int64(n); k++ {
		f *= k
	}
	return strconv.FormatInt(f, 10)
}

// diagnostics resolves `diagnostics every=N` into t: the written interval,
// or the eval interval when it is not written. In the latter case the
// resolved value is added to the settings (as a default) where the
// statement stands in the schema's order, so that `mhcc explain` shows it.
func (c *checker) diagnostics(in *inst, t *Train, p *Program) {
	t.Diagnostics = HCDiagnostics{Every: t.Eval.Every, Pos: in.pos}
	if in.ok["every"] {
		t.Diagnostics.Every = int(in.int("every"))
		return
	}
	rank := map[string]int{}
	for i, s := range Schema {
		rank[s.Keyword] = i
	}
	at := len(p.Settings)
	for i, s := range p.Settings {
		kw, ok := strings.CutPrefix(s.Path, "train.")
		if !ok {
			continue
		}
		kw, _, _ = strings.Cut(kw, ".")
		if r, known := rank[kw]; known && r > rank["diagnostics"] {
			at = i
			break
		}
	}
	set := Setting{Path: "train.diagnostics.every", Value: strconv.Itoa(t.Diagnostics.Every)}
	p.Settings = append(p.Settings[:at], append([]Setting{set}, p.Settings[at:]...)...)
}
