package compiler

import (
	"github.com/mhcc/mhcc/ir"
)

// Rule is one rewrite rule: patterns and a small builder. The driver
// (Rewrite) owns everything else: finding matches, the check that every
// intermediate is private, replacing the roots, keeping source positions,
// removing what the rewrite left dead, and the statistics.
type Rule struct {
	// Name identifies the rule in messages and tests.
	Name string
	// Roots are the patterns whose top values the rewrite replaces. With
	// several roots the fused value is the concatenation of the roots
	// along the last axis, in this order, and each root is replaced by its
	// slice of it (hc.coeffs: pre, post, res). Roots after the first are
	// searched among the values of their op with the bindings so far.
	Roots []*Pat
	// Group, when set, makes the first root a group: every value matching
	// it with the same binding of the variable Group (in module order)
	// joins the match (at least two), and each is a root (matmul.concat:
	// all products of one x).
	Group string
	// Check, when set, is a final condition on the whole match.
	Check func(m *Match) bool
	// Build returns the fused value (Match.Fuse), or nil to leave the
	// match alone.
	Build func(m *Match) *ir.Value
	// Stat names the count the driver adds 1 to per application ("fused").
	Stat string
	// Chain lets the rule match on top of the rewrites of the same sweep:
	// its patterns see a value this sweep replaced as its replacement, so
	// that an unrolled loop (Sinkhorn's rounds) fuses in one sweep rather
	// than one iteration per sweep. A replacement it consumes is dropped
	// in turn.
	Chain bool
}

// Rewrite applies rules to m until none applies and returns whether it
// changed m and the statistics. In each sweep every value, in module
// order, is tried as the first root of every rule, in rule order; a value
// claimed by one match is not part of another in the same sweep.
//
// A match applies only when every member (a value an op node of the
// patterns matched) that is not a root has no use outside the match:
// otherwise fusing would compute it twice. The fused value takes the
// source position of the first root and the attribute members, the
// number of primitive values it stands for (a fused member counts its own
// members). It is placed after the last member; dead leaves (a constant
// only the pattern used) are removed.
func Rewrite(m *ir.Module, rules []*Rule) (bool, Counts) {
	var c Counts
	changed := false
	for sweep(m, rules, &c) {
		changed = true
	}
	return changed, c
}

type driver struct {
	m     *ir.Module
	u     *useInfo
	e     *edit
	idx   map[*ir.Value]int
	byOp  map[string][]*ir.Value
	stats *Counts
}

// sweep tries every value of m once as the first root of each rule and
// applies the matches; it reports whether there were any.
func sweep(m *ir.Module, rules []*Rule, c *Counts) bool {
	var d *driver // made at the first value that may match: most sweeps find none
	applied := false
	for _, v := range m.Values {
		for _, r := range rules {
			var resolve func(*ir.Value) *ir.Value
			if r.Chain && d != nil {
				resolve = d.e.resolve
			}
			if v.Op != r.Roots[0].op || !mayMatch(r.Roots[0], v, prefilterDepth, resolve) {
				continue
			}
			if d == nil {
				d = newDriver(m, c)
			}
			if d.e.claimed(v) {
				continue
			}
			if d.try(r, v) {
				applied = true
				break
			}
		}
	}
	if !applied {
		return false // nothing to apply, and nothing made dead
	}
	d.e.apply(m)
	removeDead(m)
	return true
}

// newDriver indexes m for one sweep.
func newDriver(m *ir.Module, c *Counts) *driver {
	return &driver{m: m, u: uses(m), e: newEdit(), stats: c}
}

// pos is v's index in the module (indexed on first use: only rules with
// several roots or a group need it).
func (d *driver) pos(v *ir.Value) int {
	if d.idx == nil {
		d.idx = make(map[*ir.Value]int, len(d.m.Values))
		for i, v := range d.m.Values {
			d.idx[v] = i
		}
	}
	return d.idx[v]
}

// valuesOf lists the values of op in module order (indexed on first use:
// only rules with several roots or a group search by op).
func (d *driver) valuesOf(op string) []*ir.Value {
	if d.byOp == nil {
		d.byOp = map[string][]*ir.Value{}
		for _, v := range d.m.Values {
			d.byOp[v.Op] = append(d.byOp[v.Op], v)
		}
	}
	return d.byOp[op]
}

// try matches rule r with its first root at v and applies the match.
func (d *driver) try(r *Rule, v *ir.Value) bool {
	mt := newMatch()
	if r.Chain {
		mt.resolve = d.e.resolve
	}
	var plan *rewritePlan
	// finish decides on a complete match: true stops the search.
	finish := func() bool {
		if r.Check != nil && !r.Check(mt) || !d.private(mt) {
			return false
		}
		saved := append(Counts(nil), mt.counts...)
		if fused := r.Build(mt); fused != nil {
			if plan = d.plan(mt, fused); plan != nil {
				return true
			}
		}
		mt.counts = saved
		return false
	}
	if r.Group != "" {
		if !d.matchGroup(r, v, mt) || !finish() {
			return false
		}
	} else {
		var roots []*ir.Value
		var matchRoot func(i int) bool
		matchRoot = func(i int) bool {
			if i == len(r.Roots) {
				mt.roots = roots
				return finish()
			}
			p := r.Roots[i]
			cands := []*ir.Value{v}
			if i > 0 {
				cands = d.valuesOf(p.op)
			}
			for _, c := range cands {
				if d.e.claimed(c) || i > 0 && !mayMatch(p, c, prefilterDepth, mt.resolve) {
					continue
				}
				roots = append(roots, c)
				if mt.match(p, c, func() bool { return matchRoot(i + 1) }) {
					return true
				}
				roots = roots[:len(roots)-1]
			}
			return false
		}
		if !matchRoot(0) {
			return false
		}
	}
	d.apply(r, mt, plan)
	return true
}

// matchGroup matches the first root at v and every later value matching
// it with the same binding of r.Group; mt.roots lists them all.
func (d *driver) matchGroup(r *Rule, v *ir.Value, mt *Match) bool {
	p := r.Roots[0]
	if !mt.match(p, v, func() bool { return true }) {
		return false
	}
	key := mt.V(r.Group)
	mt.roots = []*ir.Value{v}
	depth := varDepth(p, r.Group)
	for _, c := range d.valuesOf(p.op) {
		if d.pos(c) <= d.pos(v) || d.e.claimed(c) || !reaches(c, key, depth) {
			continue
		}
		inst := newMatch()
		inst.bindVal(r.Group, key)
		if inst.match(p, c, func() bool { return true }) {
			mt.group = append(mt.group, inst)
			mt.roots = append(mt.roots, c)
			mt.members = append(mt.members, inst.members...)
		}
	}
	return len(mt.roots) >= 2
}

// private reports whether every member that is not a root is used only
// by members, and no member is claimed by an earlier match of the sweep.
func (d *driver) private(mt *Match) bool {
	isRoot := map[*ir.Value]bool{}
	for _, r := range mt.roots {
		isRoot[r] = true
	}
	inside := map[*ir.Value]int{} // uses by members
	for _, v := range mt.members {
		for _, a := range v.Args {
			inside[d.e.resolve(a)]++ // a Chain rule's member may stand for a replaced value
		}
	}
	for _, v := range mt.members {
		if d.e.claimed(v) {
			return false
		}
		if !isRoot[v] && d.u.count[v] != inside[v] {
			return false
		}
	}
	return true
}

// rewritePlan is what a match changes: the new values and, for each
// root, its replacement.
type rewritePlan struct {
	news []*ir.Value
	repl map[*ir.Value]*ir.Value
}

// plan completes the fused value (attribute members) and makes the
// replacements of the roots, or returns nil when the types disagree.
func (d *driver) plan(mt *Match, fused *ir.Value) *rewritePlan {
	n := 0
	for _, v := range mt.members {
		if k, ok := v.Attrs.Get(ir.MembersAttr).(int); ok && ir.IsFused(v.Op) {
			n += k
		} else {
			n++
		}
	}
	fused.Attrs = append(fused.Attrs, ir.Attr{Key: ir.MembersAttr, Val: n})
	p := &rewritePlan{news: []*ir.Value{fused}, repl: map[*ir.Value]*ir.Value{}}
	if len(mt.roots) == 1 {
		if !sameType(fused.Type, mt.roots[0].Type) {
			return nil
		}
		p.repl[mt.roots[0]] = fused
		return p
	}
	off := 0
	for _, root := range mt.roots {
		w := lastDim(root)
		if w.IsSym() {
			return nil
		}
		s := sliceLast(fused, off, off+w.N, root.Pos)
		if s == nil || !sameType(s.Type, root.Type) {
			return nil
		}
		off += w.N
		p.repl[root] = s
		p.news = append(p.news, s)
	}
	if lastDim(fused) != ir.D(off) {
		return nil
	}
	return p
}

// apply records a planned rewrite in the sweep's edit: the members go,
// the new values come after the last of them.
func (d *driver) apply(r *Rule, mt *Match, p *rewritePlan) {
	// the new values come after the last member: with one root, the root
	// (every member is an operand of an operand ... of it, and the module
	// is in topological order)
	anchor := mt.roots[0]
	for _, v := range mt.members {
		if len(mt.roots) > 1 && d.pos(v) > d.pos(anchor) {
			anchor = v
		}
		d.e.drop[v] = true
	}
	for old, nv := range p.repl {
		d.e.repl[old] = nv
		d.u.count[nv] += d.u.count[old] // what a Chain rule's privacy check sees
	}
	d.e.insert[anchor] = append(d.e.insert[anchor], p.news...)
	if r.Stat != "" {
		d.stats.Add(r.Stat, 1)
	}
	for _, c := range mt.counts {
		d.stats.Add(c.Name, c.N)
	}
}

func sameType(a, b ir.Type) bool { return a.DType == b.DType && a.Shape.Equal(b.Shape) }
