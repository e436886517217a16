package compiler

import "github.com/mhcc/mhcc/ir"

// prefilterDepth bounds how deep mayMatch looks: deep enough to reject
// almost every value that is not the root of a fusion (a multiply that is
// not the end of a norm), shallow enough that commutative nodes, each
// tried in both operand orders, keep the walk small.
const prefilterDepth = 4

// mayMatch is a necessary condition for pattern p to match v: the ops,
// operand counts and constants of the pattern's op nodes down to depth
// levels agree with v's (in either operand order at a commutative node).
// It binds nothing and allocates nothing, so the driver calls it before
// starting the backtracking search of a match, which most values of a
// large module would fail (Match.match decides). For a Chain rule resolve
// maps each operand to its replacement, as the match will (nil: none).
func mayMatch(p *Pat, v *ir.Value, depth int, resolve func(*ir.Value) *ir.Value) bool {
	if v == nil {
		return false
	}
	switch p.kind {
	case patVar:
		return true
	case patConst, patConstIs:
		c, ok := constValue(v)
		return ok && (p.kind == patConst || c == p.value)
	case patMaybe:
		return mayMatchOp(p, v, depth, resolve) || mayMatch(p.args[p.through], v, depth, resolve)
	}
	return mayMatchOp(p, v, depth, resolve)
}

// mayMatchOp is mayMatch for an op node (or the present form of a Maybe).
func mayMatchOp(p *Pat, v *ir.Value, depth int, resolve func(*ir.Value) *ir.Value) bool {
	if v.Op != p.op || len(v.Args) != len(p.args) {
		return false
	}
	if depth == 0 {
		return true
	}
	arg := func(i int) *ir.Value {
		if resolve != nil {
			return resolve(v.Args[i])
		}
		return v.Args[i]
	}
	inOrder := true
	for i, a := range p.args {
		if !mayMatch(a, arg(i), depth-1, resolve) {
			inOrder = false
			break
		}
	}
	if inOrder {
		return true
	}
	if def, ok := ir.LookupOp(p.op); ok && def.Commutative && len(p.args) == 2 {
		return mayMatch(p.args[0], arg(1), depth-1, resolve) && mayMatch(p.args[1], arg(0), depth-1, resolve)
	}
	return false
}

// varDepth is the deepest level at which pattern p has the variable name
// (p itself is level 0), or -1 when it has none.
func varDepth(p *Pat, name string) int {
	if p.kind == patVar {
		if p.name == name {
			return 0
		}
		return -1
	}
	deepest := -1
	for _, a := range p.args {
		if d := varDepth(a, name); d >= 0 && d+1 > deepest {
			deepest = d + 1
		}
	}
	return deepest
}

// reaches reports whether target is v or an operand of v, of its
// operands, ... down to depth levels: a necessary condition for a pattern
// whose variable sits at most depth levels deep to bind it to target.
func reaches(v, target *ir.Value, depth int) bool {
	if v == target {
		return true
	}
	if depth == 0 {
		return false
	}
	for _, a := range v.Args {
		if reaches(a, target, depth-1) {
			return true
		}
	}
	return false
}
