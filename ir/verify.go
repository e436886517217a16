package ir

import "fmt"

// VerifyError is the first inconsistency Verify found. Value is the value
// at fault (nil for a module-level error) and Index its place in
// Module.Values (the %N of the printed form); Output is the index of the
// offending output, or −1.
type VerifyError struct {
	Index  int
	Value  *Value
	Output int
	Msg    string
}

// Error names the value as it is printed, with its source position.
func (e *VerifyError) Error() string {
	switch {
	case e.Value != nil:
		return fmt.Sprintf("%%%d = %s @%s: %s", e.Index, e.Value.Op, e.Value.Pos, e.Msg)
	case e.Output >= 0:
		return fmt.Sprintf("output %d: %s", e.Output, e.Msg)
	}
	return e.Msg
}

// Verify checks the module's invariants and returns the first violation
// as a *VerifyError:
//
//   - every op is known, has its arity and the attributes of its op
//     table entry (required ones present, each of its kind, no others);
//   - every argument is a value of the module defined before its use (so
//     there is no cycle), and no value is listed twice;
//   - the type of every computed value equals what InferType derives from
//     its arguments and attributes;
//   - params have a unique non-empty name and a constant f32 shape;
//     inputs have a unique non-empty name;
//   - every symbolic dimension is declared in Symbols;
//   - outputs have unique non-empty names and are values of the module.
func Verify(m *Module) error {
	if m == nil {
		return &VerifyError{Output: -1, Msg: "nil module"}
	}
	syms := map[string]bool{}
	for _, s := range m.Symbols {
		if !isSymbol(s) {
			return &VerifyError{Output: -1, Msg: fmt.Sprintf("bad symbol name %q", s)}
		}
		if syms[s] {
			return &VerifyError{Output: -1, Msg: fmt.Sprintf("symbol %s declared twice", s)}
		}
		syms[s] = true
	}
	if m.RecomputeSegment < 0 {
		return &VerifyError{Output: -1, Msg: fmt.Sprintf("negative recompute segment %d", m.RecomputeSegment)}
	}
	defined := make(map[*Value]int, len(m.Values))
	params := map[string]int{}
	inputs := map[string]int{}
	for i, v := range m.Values {
		fail := func(format string, args ...any) error {
			return &VerifyError{Index: i, Value: v, Output: -1, Msg: fmt.Sprintf(format, args...)}
		}
		if v == nil {
			return &VerifyError{Index: i, Output: -1, Msg: fmt.Sprintf("%%%d is nil", i)}
		}
		if j, ok := defined[v]; ok {
			return fail("the same value is also listed as %%%d", j)
		}
		info, ok := LookupOp(v.Op)
		if !ok {
			return fail("unknown op %q", v.Op)
		}
		if err := info.CheckArity(len(v.Args)); err != nil {
			return fail("%v", err)
		}
		for j, a := range v.Args {
			if _, ok := defined[a]; !ok {
				return fail("argument %d is not defined before its use", j)
			}
		}
		for _, d := range v.Type.Shape {
			if d.IsSym() && !syms[d.Sym] {
				return fail("undeclared symbol %s in type %s", d.Sym, v.Type)
			}
			if !d.IsSym() && d.N < 0 {
				return fail("negative dimension in type %s", v.Type)
			}
		}
		for j, a := range v.Attrs {
			for _, b := range v.Attrs[:j] { // a handful of attributes: no map
				if b.Key == a.Key {
					return fail("duplicate attribute %s", a.Key)
				}
			}
			if !attrTypeSupported(a.Val) {
				return fail("attribute %s has unsupported Go type %T", a.Key, a.Val)
			}
		}
		if err := info.CheckAttrs(v.Attrs); err != nil {
			return fail("%v", err)
		}
		switch v.Op {
		case OpParam:
			name := v.Attrs.String("name")
			if name == "" {
				return fail("param without a name")
			}
			if j, ok := params[name]; ok {
				return fail("param %q is already declared as %%%d", name, j)
			}
			params[name] = i
			if v.Type.DType != F32 {
				return fail("param %q must be f32, got %s", name, v.Type)
			}
			if _, ok := v.Type.Shape.Size(); !ok {
				return fail("param %q must have a constant shape, got %s", name, v.Type)
			}
		case OpInput:
			name := v.Attrs.String("name")
			if name == "" {
				return fail("input without a name")
			}
			if j, ok := inputs[name]; ok {
				return fail("input %q is already declared as %%%d", name, j)
			}
			inputs[name] = i
		default:
			t, err := InferType(v.Op, v.Args, v.Attrs)
			if err != nil {
				return fail("%v", err)
			}
			if t.DType != v.Type.DType || !t.Shape.Equal(v.Type.Shape) {
				return fail("recorded type %s but the arguments give %s", v.Type, t)
			}
		}
		defined[v] = i
	}
	names := map[string]bool{}
	for i, o := range m.Outputs {
		fail := func(format string, args ...any) error {
			return &VerifyError{Output: i, Msg: fmt.Sprintf(format, args...)}
		}
		if o.Name == "" {
			return fail("output without a name")
		}
		if names[o.Name] {
			return fail("duplicate output %q", o.Name)
		}
		names[o.Name] = true
		if _, ok := defined[o.Value]; !ok {
			return fail("output %q is not a value of the module", o.Name)
		}
	}
	return nil
}
