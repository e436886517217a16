package compiler

import (
	"fmt"
	"strings"

	"github.com/mhcc/mhcc/ir"
)

// The -O1 cleanup passes. None of them changes what the module computes
// (fold evaluates constant scalar arithmetic in float64, which a float32
// backend would have rounded differently in the last bit).

// cse merges values that compute the same op on the same arguments with
// the same attributes and type (in either order for an op the table marks
// commutative); the first one (in module order) stays, with
// its source position. Params and inputs are never merged.
func cse(m *ir.Module) (bool, Counts) {
	e := newEdit()
	id := make(map[*ir.Value]int, len(m.Values))
	seen := map[string]*ir.Value{}
	merged := 0
	var b strings.Builder
	for i, v := range m.Values {
		id[v] = i
		if v.Op == ir.OpParam || v.Op == ir.OpInput {
			continue
		}
		b.Reset()
		b.WriteString(v.Op)
		args := make([]int, len(v.Args))
		for i, a := range v.Args {
			args[i] = id[e.resolve(a)]
		}
		if def, _ := ir.LookupOp(v.Op); def != nil && def.Commutative && args[0] > args[1] {
			args[0], args[1] = args[1], args[0] // a+b and b+a are one value
		}
		for _, a := range args {
			fmt.Fprintf(&b, " %d", a)
		}
		for _, at := range v.Attrs {
			fmt.Fprintf(&b, " %s=%T:%v", at.Key, at.Val, at.Val)
		}
		b.WriteString(" : " + v.Type.String())
		key := b.String()
		if first, ok := seen[key]; ok {
			e.repl[v] = first
			merged++
			continue
		}
		seen[key] = v
	}
	e.apply(m)
	var c Counts
	c.Add("merged", merged)
	return merged > 0, c
}

// dce deletes computed values that no output depends on. Params and inputs
// are the module's interface (checkpoint tensors and fed data) and stay.
func dce(m *ir.Module) (bool, Counts) {
	n := removeDead(m)
	var c Counts
	c.Add("removed", n)
	return n > 0, c
}

// fold evaluates elementwise ops (those with a scalar function in the op
// table) whose arguments are all scalar constants and replaces them with a
// const.
func fold(m *ir.Module) (bool, Counts) {
	e := newEdit()
	folded := 0
	for _, v := range m.Values {
		def, ok := ir.LookupOp(v.Op)
		if !ok || def.Scalar == nil || v.Type.Shape.Rank() != 0 || v.Type.DType != ir.F32 {
			continue
		}
		xs := make([]float64, len(v.Args))
		for i, a := range v.Args {
			xs[i], ok = constValue(e.resolve(a))
			if !ok {
				break
			}
		}
		if !ok {
			continue
		}
		c := &ir.Value{Op: ir.OpConst, Attrs: ir.Attrs{{Key: "value", Val: def.Scalar(xs...)}},
			Type: ir.Type{DType: ir.F32}, Pos: v.Pos}
		e.repl[v] = c
		e.insert[v] = []*ir.Value{c}
		folded++
	}
	e.apply(m)
	var c Counts
	c.Add("folded", folded)
	return folded > 0, c
}

// canonicalize applies local simplifications until none applies:
//
//	reshape(x) to x's own shape, broadcast(x) to x's own shape,
//	transpose(x) by the identity, slice(x) of a whole axis      → x
//	reshape(reshape(x))                                          → reshape(x)
//	transpose(transpose(x, p), q)                                → transpose(x, p∘q)
//	neg(neg(x))                                                  → x
//	x·1, 1·x, x/1, x+0, 0+x, x−0 (when the type of x is the result's) → x
func canonicalize(m *ir.Module) (bool, Counts) {
	var identity, reshapes, transposes, negs, algebra int
	for {
		e := newEdit()
		changed := false
		for _, v := range m.Values {
			if len(v.Args) == 0 {
				continue
			}
			args := make([]*ir.Value, len(v.Args))
			for i, a := range v.Args {
				args[i] = e.resolve(a)
			}
			x := args[0]
			sameType := func(a *ir.Value) bool {
				return a.Type.DType == v.Type.DType && a.Type.Shape.Equal(v.Type.Shape)
			}
			switch v.Op {
			case ir.OpReshape:
				if sameType(x) {
					e.repl[v] = x
					identity++
				} else if x.Op == ir.OpReshape {
					v.Args = []*ir.Value{x.Args[0]}
					reshapes++
					changed = true
				}
			case ir.OpBroadcast:
				if sameType(x) {
					e.repl[v] = x
					identity++
				}
			case ir.OpTranspose:
				perm := v.Attrs.Ints("perm")
				isID := true
				for i, p := range perm {
					isID = isID && p == i
				}
				switch {
				case isID:
					e.repl[v] = x
					identity++
				case x.Op == ir.OpTranspose:
					inner := x.Attrs.Ints("perm")
					comp := make([]int, len(perm))
					for i, p := range perm {
						comp[i] = inner[p]
					}
					v.Args = []*ir.Value{x.Args[0]}
					v.Attrs = ir.Attrs{{Key: "perm", Val: comp}}
					transposes++
					changed = true
				}
			case ir.OpSlice:
				ax := v.Attrs.Int("axis")
				if sameType(x) && v.Attrs.Int("start") == 0 && x.Type.Shape[ax] == ir.D(v.Attrs.Int("end")) {
					e.repl[v] = x
					identity++
				}
			case ir.OpNeg:
				if x.Op == ir.OpNeg {
					e.repl[v] = x.Args[0]
					negs++
				}
			case ir.OpMul, ir.OpAdd:
				unit := 1.0
				if v.Op == ir.OpAdd {
					unit = 0
				}
				switch {
				case isConst(args[1], unit) && sameType(args[0]):
					e.repl[v] = args[0]
					algebra++
				case isConst(args[0], unit) && sameType(args[1]):
					e.repl[v] = args[1]
					algebra++
				}
			case ir.OpDiv, ir.OpSub:
				unit := 1.0
				if v.Op == ir.OpSub {
					unit = 0
				}
				if isConst(args[1], unit) && sameType(args[0]) {
					e.repl[v] = args[0]
					algebra++
				}
			}
		}
		if e.empty() && !changed {
			break
		}
		e.apply(m)
	}
	var c Counts
	c.Add("identity", identity)
	c.Add("reshape-reshape", reshapes)
	c.Add("transpose-transpose", transposes)
	c.Add("neg-neg", negs)
	c.Add("algebraic", algebra)
	return identity+reshapes+transposes+negs+algebra > 0, c
}
