package lang

import (
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strconv"
	"strings"
)

// This file evaluates expressions: `let` names, integer (and float)
// arithmetic for sizes, lists and calls.

type valueKind int

const (
	vInt valueKind = iota
	vFloat
	vString
	vBool
	vWord // a bare identifier that is not a `let` name: an enum word, or an undefined name
	vList
	vCall
)

// value is an evaluated expression. pos/end span the expression that
// produced it (for a `let` name, the use, not the definition).
type value struct {
	kind     valueKind
	i        int64
	f        float64
	s        string // string, word, call name
	b        bool
	list     []value // list elements, call arguments
	pos, end Pos
}

// num returns the value as a float64 and whether it is numeric.
func (v value) num() (float64, bool) {
	switch v.kind {
	case vInt:
		return float64(v.i), true
	case vFloat:
		return v.f, true
	}
	return 0, false
}

// String formats the value as it would be written in the language.
func (v value) String() string {
	switch v.kind {
	case vInt:
		return strconv.FormatInt(v.i, 10)
	case vFloat:
		return formatFloat(v.f)
	case vString:
		return strconv.Quote(v.s)
	case vBool:
		return strconv.FormatBool(v.b)
	case vWord:
		return v.s
	case vList, vCall:
		parts := make([]string, len(v.list))
		for i, x := range v.list {
			parts[i] = x.String()
		}
		if v.kind == vCall {
			return v.s + "(" + strings.Join(parts, ", ") + ")"
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return "?"
}

// describeValue names a value for "found ..." in messages.
func describeValue(v value) string {
	switch v.kind {
	case vString:
		return "string " + shorten(v.String())
	case vList:
		return "list `" + shorten(v.String()) + "`"
	}
	return "`" + shorten(v.String()) + "`"
}

// formatFloat prints a float the shortest way that reads back exactly,
// with a short exponent: 1e-6, 0.02, 10000.
func formatFloat(x float64) string {
	if x == math.Trunc(x) && math.Abs(x) < 1e15 {
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	s := strconv.FormatFloat(x, 'g', -1, 64)
	if i := strings.IndexByte(s, 'e'); i >= 0 {
		mant, exp := s[:i], s[i+1:]
		sign := ""
		if exp[0] == '-' {
			sign = "-"
		}
		exp = strings.TrimLeft(exp, "+-0")
		if exp == "" {
			exp = "0"
		}
		s = mant + "e" + sign + exp
	}
	return s
}

// binding is a `let` name.
type binding struct {
	val      value
	pos, end Pos // the name in the let statement
}

// scope holds the `let` names of one body; lookups walk outwards.
type scope struct {
	parent *scope
	names  map[string]*binding
}

func newScope(parent *scope) *scope {
	return &scope{parent: parent, names: map[string]*binding{}}
}

func (s *scope) lookup(name string) *binding {
	for ; s != nil; s = s.parent {
		if b, ok := s.names[name]; ok {
			return b
		}
	}
	return nil
}

// visible lists every name in scope, sorted.
func (s *scope) visible() []string {
	seen := map[string]bool{}
	for ; s != nil; s = s.parent {
		for n := range s.names {
			seen[n] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// eval evaluates e in sc. On error it reports a diagnostic and returns
// ok=false; callers then skip the value silently.
func (c *checker) eval(e Expr, sc *scope) (value, bool) {
	pos, end := e.Span()
	v := value{pos: pos, end: end}
	switch e := e.(type) {
	case *Ident:
		switch e.Name {
		case "true", "false":
			v.kind, v.b = vBool, e.Name == "true"
			return v, true
		}
		if b := sc.lookup(e.Name); b != nil {
			if b.val.kind == vWord && b.val.s == poisoned {
				return v, false
			}
			v = b.val
			v.pos, v.end = pos, end
			return v, true
		}
		v.kind, v.s = vWord, e.Name
		return v, true
	case *IntLit:
		i, ok := parseInt(e.Text)
		if !ok {
			c.diags.errorf(pos, end, "integer `%s` is too large", shorten(e.Text)).help("the largest integer is %d", int64(math.MaxInt64))
			return v, false
		}
		v.kind, v.i = vInt, i
		return v, true
	case *FloatLit:
		f, err := strconv.ParseFloat(e.Text, 64)
		if err != nil || math.IsInf(f, 0) {
			c.diags.errorf(pos, end, "number `%s` is out of range", shorten(e.Text))
			return v, false
		}
		v.kind, v.f = vFloat, f
		return v, true
	case *StringLit:
		v.kind, v.s = vString, e.Value
		return v, true
	case *ListExpr, *CallExpr:
		elems, name := []Expr(nil), ""
		v.kind = vList
		if call, isCall := e.(*CallExpr); isCall {
			elems, name, v.kind = call.Args, call.Func.Name, vCall
		} else {
			elems = e.(*ListExpr).Elems
		}
		v.s = name
		ok := true
		for _, x := range elems {
			xv, xok := c.eval(x, sc)
			ok = ok && xok
			v.list = append(v.list, xv)
		}
		return v, ok
	case *ParenExpr:
		x, ok := c.eval(e.X, sc)
		x.pos, x.end = pos, end
		return x, ok
	case *UnaryExpr:
		x, ok := c.eval(e.X, sc)
		if !ok {
			return v, false
		}
		switch x.kind {
		case vInt:
			v.kind, v.i = vInt, -x.i
		case vFloat:
			v.kind, v.f = vFloat, -x.f
		case vWord:
			c.undefined(x, sc)
			return v, false
		default:
			c.diags.errorf(pos, end, "cannot negate %s", describeValue(x)).help("`-` applies to numbers only")
			return v, false
		}
		return v, true
	case *BinaryExpr:
		return c.binary(e, sc)
	}
	c.diags.errorf(pos, end, "unsupported expression")
	return v, false
}

func (c *checker) binary(e *BinaryExpr, sc *scope) (value, bool) {
	pos, end := e.Span()
	v := value{pos: pos, end: end}
	x, xok := c.eval(e.X, sc)
	y, yok := c.eval(e.Y, sc)
	if !xok || !yok {
		return v, false
	}
	for _, o := range []value{x, y} {
		if o.kind == vWord {
			c.undefined(o, sc)
			return v, false
		}
		if _, isNum := o.num(); !isNum {
			c.diags.errorf(o.pos, o.end, "`%s` needs numbers, found %s", e.Op, describeValue(o)).
				help("arithmetic works on integers and numbers only")
			return v, false
		}
	}
	text := fmt.Sprintf("%s %s %s", x, e.Op, y)
	if x.kind == vInt && y.kind == vInt {
		var r int64
		overflow := false
		switch e.Op {
		case "+":
			r = x.i + y.i
			overflow = (x.i > 0 && y.i > 0 && r < 0) || (x.i < 0 && y.i < 0 && r >= 0)
		case "-":
			r = x.i - y.i
			overflow = (x.i >= 0 && y.i < 0 && r < 0) || (x.i < 0 && y.i > 0 && r >= 0)
		case "*":
			hi, lo := bits.Mul64(uint64(abs64(x.i)), uint64(abs64(y.i)))
			overflow = hi != 0 || lo > math.MaxInt64 || x.i == math.MinInt64 || y.i == math.MinInt64
			r = x.i * y.i
		case "/":
			if y.i == 0 {
				c.diags.errorf(y.pos, y.end, "division by zero in `%s`", text)
				return v, false
			}
			if x.i%y.i != 0 {
				c.diags.errorf(pos, end, "`%s` is not a whole number: it leaves a remainder of %d", text, x.i%y.i).
					help("sizes must divide exactly; pick values where %d is a multiple of %d", x.i, y.i)
				return v, false
			}
			if x.i == math.MinInt64 && y.i == -1 {
				overflow = true
			}
			r = x.i / y.i
		}
		if overflow {
			c.diags.errorf(pos, end, "integer overflow in `%s`", text)
			return v, false
		}
		v.kind, v.i = vInt, r
		return v, true
	}
	a, _ := x.num()
	b, _ := y.num()
	var r float64
	switch e.Op {
	case "+":
		r = a + b
	case "-":
		r = a - b
	case "*":
		r = a * b
	case "/":
		if b == 0 {
			c.diags.errorf(y.pos, y.end, "division by zero in `%s`", text)
			return v, false
		}
		r = a / b
	}
	if math.IsInf(r, 0) || math.IsNaN(r) {
		c.diags.errorf(pos, end, "`%s` is out of range", text)
		return v, false
	}
	v.kind, v.f = vFloat, r
	return v, true
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// undefined reports a bare word used where a value is needed.
func (c *checker) undefined(v value, sc *scope) *Diagnostic {
	d := c.diags.errorf(v.pos, v.end, "undefined name `%s`", v.s)
	names := sc.visible()
	if s := suggest(v.s, names); s != "" {
		d.Message += fmt.Sprintf(", did you mean `%s`?", s)
	} else if len(names) > 0 {
		d.help("names defined here: %s", strings.Join(names, ", "))
	} else {
		d.help("define it first with `let %s = ...`", v.s)
	}
	return d
}

// exprString prints an expression in canonical form.
func exprString(e Expr) string {
	switch e := e.(type) {
	case *Ident:
		return e.Name
	case *IntLit:
		return e.Text
	case *FloatLit:
		return e.Text
	case *StringLit:
		return strconv.Quote(e.Value)
	case *ListExpr:
		return "[" + exprList(e.Elems) + "]"
	case *CallExpr:
		return e.Func.Name + "(" + exprList(e.Args) + ")"
	case *ParenExpr:
		return "(" + exprString(e.X) + ")"
	case *UnaryExpr:
		return e.Op + exprString(e.X)
	case *BinaryExpr:
		return exprString(e.X) + " " + e.Op + " " + exprString(e.Y)
	}
	return "?"
}

func exprList(es []Expr) string {
	parts := make([]string, len(es))
	for i, x := range es {
		parts[i] = exprString(x)
	}
	return strings.Join(parts, ", ")
}
