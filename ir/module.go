package ir

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Version is the IR text format version written in the header.
const Version = 1

// Module is one compiled program: an ordered SSA list of values (every
// argument is defined before its use) and the named outputs.
type Module struct {
	// Source is the name of the program's source file (base name only, so
	// that printed IR never contains absolute paths).
	Source string
	// Symbols lists the symbolic dimensions used by the module, e.g. B, T.
	Symbols []string
	// Values is the body, in definition order.
	Values []*Value
	// Outputs are the module results, e.g. "loss".
	Outputs []Output
	// RecomputeSegment, when > 0, asks the backend not to keep the
	// hyper-connection stream tensors between the forward and the backward
	// pass but to recompute them from a stored one every RecomputeSegment
	// sublayers (`residual ... recompute=true`; printed as the header line
	// `recompute streams segment=N`). It changes memory, never values.
	RecomputeSegment int
}

// Output names one module result.
type Output struct {
	Name  string
	Value *Value
}

// Value is one SSA value: the result of applying Op to Args.
type Value struct {
	Op    string
	Args  []*Value
	Attrs Attrs
	Type  Type
	Pos   Pos
}

// Attr is one named attribute of a value. Val is one of: int, float64,
// bool, string, []int, Shape, Init.
type Attr struct {
	Key string
	Val any
}

// Attrs is an ordered attribute list; order is part of the printed form.
type Attrs []Attr

// Get returns the attribute value for key, or nil.
func (as Attrs) Get(key string) any {
	for _, a := range as {
		if a.Key == key {
			return a.Val
		}
	}
	return nil
}

// Int returns an int attribute (0 if absent).
func (as Attrs) Int(key string) int { v, _ := as.Get(key).(int); return v }

// Float returns a float attribute (0 if absent).
func (as Attrs) Float(key string) float64 { v, _ := as.Get(key).(float64); return v }

// Bool returns a bool attribute (false if absent).
func (as Attrs) Bool(key string) bool { v, _ := as.Get(key).(bool); return v }

// String returns a string attribute ("" if absent).
func (as Attrs) String(key string) string { v, _ := as.Get(key).(string); return v }

// Ints returns an []int attribute (nil if absent).
func (as Attrs) Ints(key string) []int { v, _ := as.Get(key).([]int); return v }

// Shape returns a Shape attribute (nil if absent).
func (as Attrs) Shape(key string) Shape { v, _ := as.Get(key).(Shape); return v }

// Init returns an Init attribute (zero Init if absent).
func (as Attrs) Init(key string) Init { v, _ := as.Get(key).(Init); return v }

// Init describes how a parameter is initialised. Kinds:
//
//	normal(std)        i.i.d. N(0, std²)
//	zeros, ones        constant 0 or 1
//	fill(v)            constant v
//	hc_bias(n, home)   mHC coefficient bias, layout [pre n | post n | res n²]:
//	                   pre = +3 on stream home and −3 elsewhere, post = 0,
//	                   res = 6·I − 3 (row-major)
//	hc_perm_bias(n, home)
//	                   the same for constraint=permutations, layout
//	                   [pre n | post n | res n!]: pre and post as hc_bias,
//	                   res = ln(99·(n!−1)) for the identity permutation
//	                   (index 0) and 0 for the others, so that the identity
//	                   has softmax weight 0.99 (res = 0 when n = 1)
//	one_hot(i)         1 at flat index i, 0 elsewhere
//	identity           the identity matrix: a square [n, n] shape, 1 on
//	                   the diagonal and 0 elsewhere
type Init struct {
	Kind string
	Args []float64
}

// String returns the IR spelling, e.g. "normal(0.02)".
func (in Init) String() string {
	if len(in.Args) == 0 {
		return in.Kind
	}
	parts := make([]string, len(in.Args))
	for i, a := range in.Args {
		parts[i] = strconv.FormatFloat(a, 'g', -1, 64)
	}
	return in.Kind + "(" + strings.Join(parts, ",") + ")"
}

// Param returns the parameter name of a param value ("" otherwise).
func (v *Value) Param() string {
	if v.Op != OpParam {
		return ""
	}
	return v.Attrs.String("name")
}

// Params returns the module's parameter values in definition order.
func (m *Module) Params() []*Value {
	var ps []*Value
	for _, v := range m.Values {
		if v.Op == OpParam {
			ps = append(ps, v)
		}
	}
	return ps
}

// Output returns the output value with the given name, or nil.
func (m *Module) Output(name string) *Value {
	for _, o := range m.Outputs {
		if o.Name == name {
			return o.Value
		}
	}
	return nil
}

// OpCounts returns how many values use each op.
func (m *Module) OpCounts() map[string]int {
	c := map[string]int{}
	for _, v := range m.Values {
		c[v.Op]++
	}
	return c
}

// String prints the module in its text form.
func (m *Module) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mhcc.ir v%d\n", Version)
	fmt.Fprintf(&b, "source %s\n", strconv.Quote(m.Source))
	if len(m.Symbols) > 0 {
		fmt.Fprintf(&b, "symbols %s\n", strings.Join(m.Symbols, " "))
	}
	if m.RecomputeSegment > 0 {
		fmt.Fprintf(&b, "recompute streams segment=%d\n", m.RecomputeSegment)
	}
	ids := make(map[*Value]int, len(m.Values))
	for i, v := range m.Values {
		ids[v] = i
		fmt.Fprintf(&b, "%%%d = %s", i, v.Op)
		for j, a := range v.Args {
			if j == 0 {
				b.WriteString(" ")
			} else {
				b.WriteString(", ")
			}
			if id, ok := ids[a]; ok {
				fmt.Fprintf(&b, "%%%d", id)
			} else {
				b.WriteString("%?")
			}
		}
		for _, a := range v.Attrs {
			fmt.Fprintf(&b, " %s=%s", a.Key, formatAttr(a.Val))
		}
		fmt.Fprintf(&b, " : %s @%s\n", v.Type, v.Pos)
	}
	for _, o := range m.Outputs {
		fmt.Fprintf(&b, "output %s = %%%d\n", o.Name, ids[o.Value])
	}
	return b.String()
}

func formatAttr(v any) string {
	switch x := v.(type) {
	case int:
		return strconv.Itoa(x)
	case float64:
		return formatFloat(x)
	case bool:
		return strconv.FormatBool(x)
	case string:
		return strconv.Quote(x)
	case []int:
		// Integer lists print in parentheses, like a Python tuple, so that
		// they never read as a constant Shape, which prints in brackets.
		parts := make([]string, len(x))
		for i, n := range x {
			parts[i] = strconv.Itoa(n)
		}
		return "(" + strings.Join(parts, ",") + ")"
	case Shape:
		return x.String()
	case Init:
		return x.String()
	}
	return fmt.Sprintf("?%T", v)
}

// attrTypeSupported reports whether formatAttr prints v (the Go types an
// attribute value may have), without formatting it.
func attrTypeSupported(v any) bool {
	switch v.(type) {
	case int, float64, bool, string, []int, Shape, Init:
		return true
	}
	return false
}

// formatFloat prints a float so that it always reads back as a float
// (with a '.' or an exponent) and round-trips exactly.
func formatFloat(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eENI") { // NaN and ±Inf read back as floats too
		s += ".0"
	}
	return s
}

// Uses returns, for every value, the values that use it as an argument.
func (m *Module) Uses() map[*Value][]*Value {
	u := map[*Value][]*Value{}
	for _, v := range m.Values {
		for _, a := range v.Args {
			u[a] = append(u[a], v)
		}
	}
	return u
}

// ParamNames returns the sorted parameter names.
func (m *Module) ParamNames() []string {
	var names []string
	for _, p := range m.Params() {
		names = append(names, p.Param())
	}
	sort.Strings(names)
	return names
}
