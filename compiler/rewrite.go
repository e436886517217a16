package compiler

import (
	"fmt"

	"github.com/mhcc/mhcc/ir"
)

// Helpers shared by the passes: use counts, replacement of values, and a
// stable re-ordering that keeps the module in SSA order after a rewrite.

// useInfo is the use structure of a module at one moment: how often each
// value is used (as an argument, once per occurrence, or as an output).
type useInfo struct {
	count map[*ir.Value]int
}

func uses(m *ir.Module) *useInfo {
	u := &useInfo{count: make(map[*ir.Value]int, len(m.Values))}
	for _, v := range m.Values {
		for _, a := range v.Args {
			u.count[a]++
		}
	}
	for _, o := range m.Outputs {
		u.count[o.Value]++
	}
	return u
}

// edit collects a rewrite: values replaced by others, values deleted,
// and new values inserted after an anchor value.
type edit struct {
	repl   map[*ir.Value]*ir.Value
	drop   map[*ir.Value]bool
	insert map[*ir.Value][]*ir.Value
}

func newEdit() *edit {
	return &edit{repl: map[*ir.Value]*ir.Value{}, drop: map[*ir.Value]bool{}, insert: map[*ir.Value][]*ir.Value{}}
}

func (e *edit) empty() bool { return len(e.repl) == 0 && len(e.drop) == 0 && len(e.insert) == 0 }

// claimed reports whether any of vs is already replaced or dropped.
func (e *edit) claimed(vs ...*ir.Value) bool {
	for _, v := range vs {
		if e.drop[v] {
			return true
		}
		if _, ok := e.repl[v]; ok {
			return true
		}
	}
	return false
}

// resolve follows replacements to the final value.
func (e *edit) resolve(v *ir.Value) *ir.Value {
	for i := 0; ; i++ {
		r, ok := e.repl[v]
		if !ok {
			return v
		}
		if i > len(e.repl) {
			panic("compiler: cyclic replacement")
		}
		v = r
	}
}

// apply rewrites m: every use of a replaced value is redirected, replaced
// and dropped values are removed, inserted values are placed right after
// their anchor (or where the anchor was), and the list is re-ordered
// stably so that every argument precedes its uses.
func (e *edit) apply(m *ir.Module) {
	if e.empty() {
		return
	}
	out := make([]*ir.Value, 0, len(m.Values))
	for _, v := range m.Values {
		_, replaced := e.repl[v]
		if !replaced && !e.drop[v] {
			out = append(out, v)
		}
		for _, n := range e.insert[v] {
			if !e.drop[n] { // a Chain rule consumed it
				out = append(out, n)
			}
		}
	}
	for _, v := range out {
		copied := false
		for i, a := range v.Args {
			if r := e.resolve(a); r != a {
				if !copied { // copy before writing: an Args slice may be shared
					v.Args = append([]*ir.Value(nil), v.Args...)
					copied = true
				}
				v.Args[i] = r
			}
		}
	}
	for i := range m.Outputs {
		m.Outputs[i].Value = e.resolve(m.Outputs[i].Value)
	}
	m.Values = out
	topoSort(m)
}

// topoSort re-orders m.Values so that every argument precedes its uses,
// keeping the existing order wherever it is already valid (a value moves
// only when one of its users comes earlier). Values reachable only through
// arguments but missing from the list are added.
func topoSort(m *ir.Module) {
	const (
		visiting = 1
		done     = 2
	)
	state := make(map[*ir.Value]int, len(m.Values))
	out := make([]*ir.Value, 0, len(m.Values))
	var visit func(v *ir.Value)
	visit = func(v *ir.Value) {
		switch state[v] {
		case done:
			return
		case visiting:
			panic(fmt.Sprintf("compiler: cycle through %s", v.Op))
		}
		state[v] = visiting
		for _, a := range v.Args {
			visit(a)
		}
		state[v] = done
		out = append(out, v)
	}
	for _, v := range m.Values {
		visit(v)
	}
	m.Values = out
}

// removeDead deletes computed values (not params or inputs) that no output
// depends on, and returns how many it removed.
func removeDead(m *ir.Module) int {
	live := make(map[*ir.Value]bool, len(m.Values))
	var mark func(v *ir.Value)
	mark = func(v *ir.Value) {
		if live[v] {
			return
		}
		live[v] = true
		for _, a := range v.Args {
			mark(a)
		}
	}
	for _, o := range m.Outputs {
		mark(o.Value)
	}
	out := m.Values[:0]
	removed := 0
	for _, v := range m.Values {
		if live[v] || v.Op == ir.OpParam || v.Op == ir.OpInput {
			out = append(out, v)
		} else {
			removed++
		}
	}
	for i := len(out); i < len(m.Values); i++ {
		m.Values[i] = nil
	}
	m.Values = out
	return removed
}

// constValue returns the value of a const op.
func constValue(v *ir.Value) (float64, bool) {
	if v == nil || v.Op != ir.OpConst {
		return 0, false
	}
	f, ok := v.Attrs.Get("value").(float64)
	return f, ok
}

// isConst reports whether v is the scalar constant c.
func isConst(v *ir.Value, c float64) bool {
	f, ok := constValue(v)
	return ok && f == c
}

// axesAre reports whether a reduction's axes attribute is exactly want.
func axesAre(v *ir.Value, want ...int) bool {
	got := v.Attrs.Ints("axes")
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// lastDim returns the last dimension of v's type.
func lastDim(v *ir.Value) ir.Dim {
	s := v.Type.Shape
	if len(s) == 0 {
		return ir.Dim{}
	}
	return s[len(s)-1]
}

// sliceLast builds slice(x, last axis, start, end).
func sliceLast(x *ir.Value, start, end int, pos ir.Pos) *ir.Value {
	ax := x.Type.Shape.Rank() - 1
	attrs := ir.Attrs{{Key: "axis", Val: ax}, {Key: "start", Val: start}, {Key: "end", Val: end}}
	t, err := ir.InferType(ir.OpSlice, []*ir.Value{x}, attrs)
	if err != nil {
		return nil
	}
	return &ir.Value{Op: ir.OpSlice, Args: []*ir.Value{x}, Attrs: attrs, Type: t, Pos: pos}
}
