package compiler

import (
	"fmt"
	"math"
	"strings"

	"github.com/mhcc/mhcc/ir"
)

// The -O1 cleanup passes. None of them changes what the module computes
// (fold evaluates constant scalar arithmetic in float64, which a float32
// backend would have rounded differently in the last bit).

// cse merges values that compute the same op on the same arguments with
// the same attributes and type; the first one (in module order) stays, with
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
		for _, a := range v.Args {
			fmt.Fprintf(&b, " %d", id[e.resolve(a)])
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

// fold evaluates elementwise ops whose arguments are all scalar constants
// and replaces them with a const.
func fold(m *ir.Module) (bool, Counts) {
	e := newEdit()
	folded := 0
	for _, v := range m.Values {
		if !foldable(v.Op) || v.Type.Shape.Rank() != 0 || v.Type.DType != ir.F32 {
			continue
		}
		xs := make([]float64, len(v.Args))
		ok := true
		for i, a := range v.Args {
			xs[i], ok = constValue(e.resolve(a))
			if !ok {
				break
			}
		}
		if !ok {
			continue
		}
		c := &ir.Value{Op: ir.OpConst, Attrs: ir.Attrs{{Key: "value", Val: evalScalar(v.Op, xs)}},
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

func foldable(op string) bool {
	switch op {
	case ir.OpNeg, ir.OpExp, ir.OpLog, ir.OpSqrt, ir.OpSquare, ir.OpSigmoid, ir.OpTanh, ir.OpRelu,
		ir.OpAdd, ir.OpSub, ir.OpMul, ir.OpDiv:
		return true
	}
	return false
}

// evalScalar computes a foldable op on scalars, per ir/ops.go.
func evalScalar(op string, x []float64) float64 {
	switch op {
	case ir.OpNeg:
		return -x[0]
	case ir.OpExp:
		return math.Exp(x[0])
	case ir.OpLog:
		return math.Log(x[0])
	case ir.OpSqrt:
		return math.Sqrt(x[0])
	case ir.OpSquare:
		return x[0] * x[0]
	case ir.OpSigmoid:
		if x[0] >= 0 {
			return 1 / (1 + math.Exp(-x[0]))
		}
		ex := math.Exp(x[0])
		return ex / (1 + ex)
	case ir.OpTanh:
		return math.Tanh(x[0])
	case ir.OpRelu:
		if x[0] > 0 || math.IsNaN(x[0]) {
			return x[0]
		}
		return 0
	case ir.OpAdd:
		return x[0] + x[1]
	case ir.OpSub:
		return x[0] - x[1]
	case ir.OpMul:
		return x[0] * x[1]
	case ir.OpDiv:
		return x[0] / x[1]
	}
	panic("compiler: evalScalar of " + op)
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
