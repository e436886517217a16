package compiler

import (
	"fmt"

	"github.com/mhcc/mhcc/ir"
)

// Patterns over IR values, for the fusion rules (fusions.go) and the one
// driver that applies them (rewrite.go). A pattern is a tree of op nodes
// with variables at the leaves, written in Go:
//
//	x := Var("x")
//	Op(ir.OpMul, Op(ir.OpDiv, x, Op(ir.OpSqrt, ...)), Var("g"))
//
// Matching is a backtracking search: a variable binds the first value it
// meets and must meet the same value again; an op node matches a value of
// that op whose operands match the node's operands, in either order when
// the op table marks the op commutative; predicates (If) run on a node
// once its operands matched; a node named with As is matched once and
// must be the same value wherever the name occurs again (a shared
// intermediate). Op nodes are the rewrite's members; variables and
// constants are its leaves.

// Pat is one node of a pattern.
type Pat struct {
	kind    patKind
	op      string
	name    string // variable, constant or As name
	args    []*Pat
	preds   []func(v *ir.Value, m *Match) bool
	value   float64 // constIs
	through int     // maybe: the operand that stands for the node when it is absent
}

type patKind int

const (
	patOp patKind = iota
	patVar
	patConst   // any const, its value bound to name
	patConstIs // the const with exactly value
	patMaybe   // op node or, absent, its operand through; name is a flag
)

// Op matches a value of op whose operands match args.
func Op(op string, args ...*Pat) *Pat { return &Pat{kind: patOp, op: op, args: args} }

// Var matches any value and binds it to name.
func Var(name string) *Pat { return &Pat{kind: patVar, name: name} }

// Const matches a scalar const and binds its value to name (Match.Float).
func Const(name string) *Pat { return &Pat{kind: patConst, name: name} }

// ConstIs matches the scalar const c.
func ConstIs(c float64) *Pat { return &Pat{kind: patConstIs, value: c} }

// Maybe matches p, setting the flag name, or, when the value is not p's
// op, p's operand number through in its place (an optional op such as a
// mask or a scale).
func Maybe(name string, p *Pat, through int) *Pat {
	return &Pat{kind: patMaybe, name: name, op: p.op, args: p.args, preds: p.preds, through: through}
}

// As names an op node: the value it matches is bound to name, and every
// other node named so must be the same value.
func (p *Pat) As(name string) *Pat { p.name = name; return p }

// If adds a predicate the matched value must satisfy; it runs after the
// node's operands matched, so it may read their bindings.
func (p *Pat) If(f func(v *ir.Value, m *Match) bool) *Pat {
	p.preds = append(p.preds, f)
	return p
}

// Match is the state of one match: the bindings, the matched op values
// (members) and statistics the rule's builder adds.
type Match struct {
	vals    map[string]*ir.Value
	floats  map[string]float64
	ints    map[string]int
	flags   map[string]bool
	members []*ir.Value // op values in match order, each once
	roots   []*ir.Value
	inMatch map[*ir.Value]bool
	trail   []func()
	counts  Counts
	// group: the other instances of a group rule (Rule.Group), in order.
	group []*Match
	// resolve, when set, maps an operand to the value that replaces it
	// (Rule.Chain).
	resolve func(*ir.Value) *ir.Value
}

// newMatch starts a match; its maps are made on their first binding
// (reading a nil map finds nothing), since most matches fail early.
func newMatch() *Match { return &Match{} }

// lazy returns the map *mp, making it first when it is nil.
func lazy[K comparable, V any](mp *map[K]V) map[K]V {
	if *mp == nil {
		*mp = map[K]V{}
	}
	return *mp
}

// V returns the value bound to name.
func (m *Match) V(name string) *ir.Value { return m.vals[name] }

// Float returns the constant bound to name.
func (m *Match) Float(name string) float64 { return m.floats[name] }

// Int returns the integer bound with BindInt.
func (m *Match) Int(name string) int { return m.ints[name] }

// Flag reports whether the optional node of a Maybe named name was there.
func (m *Match) Flag(name string) bool { return m.flags[name] }

// Group returns the instances of a group rule, this one first.
func (m *Match) Group() []*Match { return append([]*Match{m}, m.group...) }

// Count adds to a statistic of the pass.
func (m *Match) Count(name string, n int) { m.counts.Add(name, n) }

// BindInt binds an integer to name, or checks it equals the one bound; a
// predicate uses it to relate attributes of different nodes.
func (m *Match) BindInt(name string, n int) bool {
	if old, ok := m.ints[name]; ok {
		return old == n
	}
	lazy(&m.ints)[name] = n
	m.trail = append(m.trail, func() { delete(m.ints, name) })
	return true
}

func (m *Match) mark() int { return len(m.trail) }

func (m *Match) undo(mark int) {
	for len(m.trail) > mark {
		m.trail[len(m.trail)-1]()
		m.trail = m.trail[:len(m.trail)-1]
	}
}

func (m *Match) bindVal(name string, v *ir.Value) {
	lazy(&m.vals)[name] = v
	m.trail = append(m.trail, func() { delete(m.vals, name) })
}

func (m *Match) addMember(v *ir.Value) {
	m.members = append(m.members, v)
	lazy(&m.inMatch)[v] = true
	m.trail = append(m.trail, func() {
		m.members = m.members[:len(m.members)-1]
		delete(m.inMatch, v)
	})
}

// match matches p against v and, on success, calls k; it returns k's
// answer, undoing its own bindings when the answer is false so that the
// caller can try something else.
func (m *Match) match(p *Pat, v *ir.Value, k func() bool) bool {
	if v == nil {
		return false
	}
	switch p.kind {
	case patVar:
		if old, ok := m.vals[p.name]; ok {
			return old == v && k()
		}
		mark := m.mark()
		m.bindVal(p.name, v)
		if k() {
			return true
		}
		m.undo(mark)
		return false
	case patConst, patConstIs:
		c, ok := constValue(v)
		if !ok || p.kind == patConstIs && c != p.value {
			return false
		}
		if p.kind == patConst {
			if old, bound := m.floats[p.name]; bound {
				return old == c && k()
			}
			mark := m.mark()
			lazy(&m.floats)[p.name] = c
			m.trail = append(m.trail, func() { delete(m.floats, p.name) })
			if k() {
				return true
			}
			m.undo(mark)
			return false
		}
		return k()
	case patMaybe:
		mark := m.mark()
		lazy(&m.flags)[p.name] = true
		m.trail = append(m.trail, func() { delete(m.flags, p.name) })
		if m.matchOp(p, v, k) {
			return true
		}
		m.undo(mark)
		return m.match(p.args[p.through], v, k)
	}
	return m.matchOp(p, v, k)
}

// matchOp matches an op node (also the present form of a Maybe).
func (m *Match) matchOp(p *Pat, v *ir.Value, k func() bool) bool {
	if p.name != "" && p.kind == patOp {
		if old, ok := m.vals[p.name]; ok {
			return old == v && k()
		}
	}
	if v.Op != p.op || len(v.Args) != len(p.args) || m.inMatch[v] {
		return false
	}
	orders := [][]int{identityOrder(len(p.args))}
	if def, ok := ir.LookupOp(p.op); ok && def.Commutative {
		orders = append(orders, []int{1, 0})
	}
	for _, ord := range orders {
		mark := m.mark()
		m.addMember(v)
		if p.name != "" && p.kind == patOp {
			m.bindVal(p.name, v)
		}
		done := func() bool {
			for _, f := range p.preds {
				if !f(v, m) {
					return false
				}
			}
			return k()
		}
		if m.matchArgs(p.args, v.Args, ord, 0, done) {
			return true
		}
		m.undo(mark)
	}
	return false
}

func (m *Match) matchArgs(ps []*Pat, vs []*ir.Value, ord []int, i int, k func() bool) bool {
	if i == len(ps) {
		return k()
	}
	a := vs[ord[i]]
	if m.resolve != nil {
		a = m.resolve(a)
	}
	return m.match(ps[i], a, func() bool { return m.matchArgs(ps, vs, ord, i+1, k) })
}

func identityOrder(n int) []int {
	o := make([]int, n)
	for i := range o {
		o[i] = i
	}
	return o
}

// Fuse builds the fused value that replaces the match: op applied to
// args with attrs, at the source position of the first root. The driver
// adds the attribute members and checks the type. It returns nil when
// the op rejects the operands (the rule then does not apply).
func (m *Match) Fuse(op string, attrs ir.Attrs, args ...*ir.Value) *ir.Value {
	t, err := ir.InferType(op, args, attrs)
	if err != nil {
		return nil
	}
	return &ir.Value{Op: op, Args: args, Attrs: attrs, Type: t, Pos: m.roots[0].Pos}
}

// ---------------------------------------------------------------- predicates

// lastAxis: a reduction over exactly the last axis.
func lastAxis(v *ir.Value, _ *Match) bool { return axesAre(v, v.Type.Shape.Rank()-1) }

// noTransB: a matmul without trans_b.
func noTransB(v *ir.Value, _ *Match) bool { return !v.Attrs.Bool("trans_b") }

// reduces returns the predicate "a reduction over exactly the axes
// rank−k for each k in fromEnd" (so reduces(2, 1) is the last two axes).
func reduces(fromEnd ...int) func(v *ir.Value, _ *Match) bool {
	return func(v *ir.Value, _ *Match) bool {
		r := v.Type.Shape.Rank()
		want := make([]int, len(fromEnd))
		for i, k := range fromEnd {
			want[i] = r - k
			if want[i] < 0 {
				return false
			}
		}
		return axesAre(v, want...)
	}
}

// sliceOf returns the predicate "a slice along axis (−1: the last) from
// start to end", where start and end are computed from the match when the
// predicate runs (so they may depend on integers bound earlier).
func sliceOf(axis int, bounds func(v *ir.Value, m *Match) (start, end int, ok bool)) func(v *ir.Value, m *Match) bool {
	return func(v *ir.Value, m *Match) bool {
		ax := axis
		if ax < 0 {
			ax += v.Type.Shape.Rank()
		}
		start, end, ok := bounds(v, m)
		return ok && v.Attrs.Int("axis") == ax && v.Attrs.Int("start") == start && v.Attrs.Int("end") == end
	}
}

func (p *Pat) String() string {
	switch p.kind {
	case patVar:
		return p.name
	case patConst:
		return "const:" + p.name
	case patConstIs:
		return fmt.Sprint(p.value)
	}
	s := p.op + "("
	for i, a := range p.args {
		if i > 0 {
			s += ", "
		}
		s += a.String()
	}
	return s + ")"
}
