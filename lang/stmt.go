package lang

import (
	"fmt"
	"strconv"
	"strings"
)

// This file holds the generic, table-driven part of the checker: finding a
// statement's spec, and checking its labels and attributes against it.

// specFor finds the spec of s in place here. It reports unknown
// statements, statements in the wrong place, a missing or unexpected body
// and duplicates of once-only statements, and returns nil when s should be
// skipped.
func (c *checker) specFor(s *Stmt, here place, seen map[string]*Stmt) *StatementSpec {
	kw := s.Keyword
	spec := Lookup(kw.Name)
	if spec == nil {
		allowed := keywordsIn(here.where)
		msg := fmt.Sprintf("unknown statement `%s`", kw.Name)
		if here.where != TopLevel {
			msg += " " + here.in()
		}
		if sug := suggest(kw.Name, allowed); sug != "" {
			msg += fmt.Sprintf(", did you mean `%s`?", sug)
			seen[misspelt+sug] = s // so that `missing` does not report it again
		}
		c.diags.errorf(kw.Pos, kw.End, "%s", msg).help("statements allowed here: %s", strings.Join(allowed, ", "))
		return nil
	}
	if spec.In&here.where == 0 {
		c.diags.errorf(kw.Pos, kw.End, "`%s` is not allowed %s; it belongs in %s", kw.Name, here.in(), spec.In)
		return nil
	}
	if spec.Body && s.Body == nil {
		c.diags.errorf(kw.Pos, kw.End, "`%s` needs a body `{ ... }`", kw.Name).help("for example `%s`", spec.Example)
		return nil
	}
	if !spec.Body && s.Body != nil {
		c.diags.errorf(s.Body.Open, advance(s.Body.Open, 1), "`%s` takes no `{ ... }` body", kw.Name).
			help("usage: %s", spec.Usage())
	}
	if spec.Once {
		if prev := seen[kw.Name]; prev != nil {
			c.diags.errorf(kw.Pos, kw.End, "duplicate `%s` %s", kw.Name, here.in()).
				related(prev.Keyword.Pos, prev.Keyword.End, "the first `%s` is here", kw.Name).
				help("remove one of them")
			return nil
		}
		seen[kw.Name] = s
	}
	return spec
}

// misspelt prefixes the keys of seen that record an unknown statement
// whose did-you-mean is the rest of the key.
const misspelt = "?"

// missing reports the required statements of a body that are absent, in
// one diagnostic. A statement reported as a likely misspelling (`embd` for
// `embed`) is not reported as missing too.
func (c *checker) missing(s *Stmt, here place, seen map[string]*Stmt) {
	var names, examples []string
	for _, spec := range Schema {
		if spec.Required && spec.In&here.where != 0 && seen[spec.Keyword] == nil && seen[misspelt+spec.Keyword] == nil {
			names = append(names, "`"+spec.Keyword+"`")
			examples = append(examples, "`"+spec.Example+"`")
		}
	}
	if len(names) == 0 {
		return
	}
	word := "statement"
	if len(names) > 1 {
		word += "s"
	}
	c.diags.errorf(s.Keyword.Pos, s.Keyword.End, "%s is missing the %s %s", here.name, joinAnd(names), word).
		help("add %s", joinAnd(examples))
}

func joinAnd(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// inst is a statement checked against its spec: labels and attributes
// evaluated and converted to the spec's types. Getters return the value
// written or the spec's default.
type inst struct {
	stmt   *Stmt
	spec   *StatementSpec
	kind   string // the kind label (or its default), such as `hyper` or `rms`
	pos    Pos    // the statement, or what its defaults stand in for
	labels []value
	lok    []bool
	vals   map[string]value
	keys   map[string]*Attr
	ok     map[string]bool // attribute written and valid
	// misspelt holds the attributes an unknown one was taken for
	// (`hiden` for `hidden`), which are then not reported as missing.
	misspelt map[string]bool
}

// absent returns the defaults of statement kw, not written in the file;
// pos is the statement its values are attributed to.
func (c *checker) absent(kw string, pos Pos) *inst {
	spec := Lookup(kw)
	in := &inst{spec: spec, pos: pos, vals: map[string]value{}, keys: map[string]*Attr{}, ok: map[string]bool{},
		labels: make([]value, len(spec.Labels)), lok: make([]bool, len(spec.Labels))}
	if len(spec.Labels) > 0 && spec.Labels[0].Type == TypeEnum {
		in.kind = spec.Labels[0].Default
	}
	return in
}

// instance checks s against spec.
func (c *checker) instance(s *Stmt, spec *StatementSpec, sc *scope) *inst {
	in := c.absent(spec.Keyword, s.Pos)
	in.stmt = s
	kw := s.Keyword
	for i, e := range s.Labels {
		p, end := e.Span()
		if i >= len(spec.Labels) {
			if i > len(spec.Labels) {
				break // one error for the extra labels is enough
			}
			d := c.diags.errorf(p, end, "unexpected `%s` after `%s`", shorten(exprString(e)), c.stmtText(s, i))
			if id, isIdent := e.(*Ident); isIdent && Lookup(id.Name) != nil {
				d.help("`%s` looks like a new statement: put it on its own line or after `;`", id.Name)
				return in // the rest belongs to that statement; don't pile on
			} else if len(spec.Attrs) > 0 {
				d.help("usage: %s", spec.Usage())
			} else {
				d.help("`%s` takes no further values", kw.Name)
			}
			continue
		}
		in.labels[i], in.lok[i] = c.label(e, spec.Labels[i], kw.Name, sc)
	}
	for i := len(s.Labels); i < len(spec.Labels); i++ {
		l := spec.Labels[i]
		if !l.Required {
			continue
		}
		what := "a name"
		switch l.Type {
		case TypeInt:
			what = "an integer"
		case TypeEnum:
			what = "one of " + strings.Join(quoteAll(l.Values), ", ")
		}
		c.diags.errorf(kw.Pos, kw.End, "`%s` needs %s", kw.Name, what).help("for example `%s`", spec.Example)
	}
	if len(spec.Labels) > 0 && spec.Labels[0].Type == TypeEnum && in.lok[0] {
		in.kind = in.labels[0].s
	}
	if spec.Keyword == "data" && len(s.Labels) == 0 && hasAttr(s, "file") {
		in.kind = DataFile
	}
	for _, a := range s.Attrs {
		c.attr(in, a, sc)
	}
	for _, a := range spec.Attrs {
		if a.Required && in.keys[a.Name] == nil && !in.misspelt[a.Name] && kindOK(a, in.kind) {
			if len(a.Kinds) > 0 { // required by this kind only: spec.Example is of another
				c.diags.errorf(kw.Pos, kw.End, "`%s` needs `%s=`", kindText(kw.Name, in.kind), a.Name).help("%s: %s", a.Name, a.Doc)
				continue
			}
			c.diags.errorf(kw.Pos, kw.End, "`%s` needs `%s=`", kw.Name, a.Name).
				help("for example `%s`", spec.Example).
				help("%s: %s", a.Name, a.Doc)
		}
	}
	return in
}

func quoteAll(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = "`" + x + "`"
	}
	return out
}

func hasAttr(s *Stmt, name string) bool {
	for _, a := range s.Attrs {
		if a.Key.Name == name {
			return true
		}
	}
	return false
}

// stmtText is the statement up to label i, for messages: "norm rms".
func (c *checker) stmtText(s *Stmt, i int) string {
	parts := []string{s.Keyword.Name}
	for _, l := range s.Labels[:min(i, 3)] {
		parts = append(parts, shorten(exprString(l)))
	}
	return strings.Join(parts, " ")
}

func kindOK(a AttrSpec, kind string) bool {
	if len(a.Kinds) == 0 {
		return true
	}
	for _, k := range a.Kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// label checks one label against its spec.
func (c *checker) label(e Expr, l LabelSpec, kw string, sc *scope) (value, bool) {
	p, end := e.Span()
	switch l.Type {
	case TypeName, TypeEnum:
		id, isIdent := e.(*Ident)
		if !isIdent {
			what := "a name"
			if l.Type == TypeEnum {
				what = "one of " + strings.Join(quoteAll(l.Values), ", ")
			}
			c.diags.errorf(p, end, "`%s` needs %s, found `%s`", kw, what, shorten(exprString(e)))
			return value{}, false
		}
		v := value{kind: vWord, s: id.Name, pos: p, end: end}
		if l.Type == TypeName {
			return v, true
		}
		if contains(l.Values, id.Name) {
			return v, true
		}
		msg := fmt.Sprintf("unknown `%s` kind `%s`", kw, id.Name)
		if sug := suggest(id.Name, l.Values); sug != "" {
			msg += fmt.Sprintf(", did you mean `%s`?", sug)
		}
		c.diags.errorf(p, end, "%s", msg).help("accepted: %s", strings.Join(l.Values, ", "))
		return value{}, false
	}
	v, ok := c.eval(e, sc)
	if !ok {
		return value{}, false
	}
	if kw == "repeat" && v.kind == vInt && v.i == 0 {
		c.diags.errorf(p, end, "`repeat 0` repeats nothing").help("to drop its blocks, remove the `repeat`")
		return v, false
	}
	return c.convert(v, l.Type, l.Values, l.Range, "`"+kw+"`", sc)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// attr checks one key=value against the spec and records it in in.
func (c *checker) attr(in *inst, a *Attr, sc *scope) {
	spec, kw, key := in.spec, in.stmt.Keyword.Name, a.Key
	as := spec.Attr(key.Name)
	if as == nil {
		d := c.diags.errorf(key.Pos, key.End, "unknown attribute `%s` on `%s`", key.Name, kw)
		if sug := suggest(key.Name, spec.AttrNames()); sug != "" {
			d.Message += fmt.Sprintf(", did you mean `%s`?", sug)
			if in.misspelt == nil {
				in.misspelt = map[string]bool{}
			}
			in.misspelt[sug] = true
		}
		if len(spec.Attrs) == 0 {
			d.help("`%s` takes no attributes; usage: %s", kw, spec.Usage())
		} else {
			d.help("accepted attributes: %s", strings.Join(spec.AttrNames(), ", "))
		}
		return
	}
	if prev := in.keys[key.Name]; prev != nil {
		c.diags.errorf(key.Pos, key.End, "duplicate attribute `%s` on `%s`", key.Name, kw).
			related(prev.Key.Pos, prev.Key.End, "`%s` is first set here", key.Name).
			help("remove one of them")
		return
	}
	in.keys[key.Name] = a
	if !kindOK(*as, in.kind) {
		d := c.diags.errorf(key.Pos, key.End, "attribute `%s` does not apply to `%s`", key.Name, kindText(kw, in.kind))
		switch {
		case kw == "residual":
			d.help("remove it, or drop `plain` to use hyper-connections")
		case kw == "data" && in.kind == DataFile:
			d.help("`%s` applies to `data synthetic`", key.Name)
		case kw == "data":
			d.help("`%s` applies to `data file=\"...\"`; write `data file=\"...\"` without `synthetic`", key.Name)
		case kw == "attention":
			d.help("%s", attentionKindHelp(key.Name, in.kind))
		default:
			d.help("`%s` applies to `%s`", key.Name, kindText(kw, as.Kinds[0]))
		}
		return
	}
	v, ok := c.eval(a.Value, sc)
	if !ok {
		return
	}
	if v, ok = c.convert(v, as.Type, as.Values, as.Range, "`"+key.Name+"`", sc); ok {
		in.vals[key.Name] = v
		in.ok[key.Name] = true
	}
}

func kindText(kw, kind string) string {
	if kw == "data" && kind == DataFile {
		return `data file="..."`
	}
	if kind == "" {
		return kw
	}
	return kw + " " + kind
}

// maxListLen caps the length of a list of numbers, such as `milestones`.
const maxListLen = 64

// convert checks that v has type t (and lies in rng or values) and
// returns it in canonical form: TypeFloat values are vFloat, a TypeNormal
// value is the vFloat standard deviation.
func (c *checker) convert(v value, t Type, values []string, rng Range, what string, sc *scope) (value, bool) {
	bad := func(format string, args ...any) *Diagnostic {
		return c.diags.errorf(v.pos, v.end, "%s must be %s, found %s", what, fmt.Sprintf(format, args...), describeValue(v))
	}
	inRange := func(x value) (value, bool) {
		f, _ := x.num()
		if !rng.Contains(f) {
			c.diags.errorf(x.pos, x.end, "%s must be %s, found %s", what, rng, x)
			return x, false
		}
		return x, true
	}
	if v.kind == vWord && (t == TypeInt || t == TypeFloat || t == TypeFloatPair || t == TypeFloatList || t == TypeNormal) {
		d := c.undefined(v, sc)
		d.Help = append([]string{fmt.Sprintf("%s must be %s", what, t)}, d.Help...)
		return v, false
	}
	switch t {
	case TypeInt:
		if v.kind != vInt {
			bad("an integer")
			return v, false
		}
		return inRange(v)
	case TypeFloat:
		f, isNum := v.num()
		if !isNum {
			bad("a number")
			return v, false
		}
		v.kind, v.f = vFloat, f
		return inRange(v)
	case TypeBool:
		if v.kind != vBool {
			bad("`true` or `false`")
			return v, false
		}
		return v, true
	case TypeString:
		if v.kind != vString {
			d := bad("a string")
			if v.kind == vWord {
				d.help("write it in double quotes: %s", strconv.Quote(v.s))
			}
			return v, false
		}
		return v, true
	case TypeEnum:
		if v.kind == vWord && contains(values, v.s) {
			return v, true
		}
		if v.kind == vWord {
			msg := fmt.Sprintf("unknown value `%s` for %s", shorten(v.s), what)
			if sug := suggest(v.s, values); sug != "" {
				msg += fmt.Sprintf(", did you mean `%s`?", sug)
			}
			c.diags.errorf(v.pos, v.end, "%s", msg).help("accepted values: %s", strings.Join(values, ", "))
			return v, false
		}
		d := bad("one of %s", strings.Join(quoteAll(values), ", "))
		if v.kind == vString && contains(values, v.s) {
			d.help("write it without quotes: `%s`", v.s)
		}
		return v, false
	case TypeFloatPair, TypeFloatList:
		switch {
		case t == TypeFloatPair && (v.kind != vList || len(v.list) != 2):
			bad("a list of two numbers").help("for example `[0.9, 0.95]`")
			return v, false
		case t == TypeFloatList && v.kind != vList:
			d := bad("a list of numbers")
			if _, isNum := v.num(); isNum {
				d.help("write it in brackets: `[%s]`", v)
			}
			return v, false
		case t == TypeFloatList && len(v.list) == 0:
			c.diags.errorf(v.pos, v.end, "%s must hold at least one number", what)
			return v, false
		case len(v.list) > maxListLen:
			c.diags.errorf(v.pos, v.end, "%s holds %d values; the limit is %d", what, len(v.list), maxListLen)
			return v, false
		}
		ok := true
		for i, x := range v.list {
			if x.kind == vWord {
				c.undefined(x, sc)
				ok = false
				continue
			}
			f, isNum := x.num()
			if !isNum {
				c.diags.errorf(x.pos, x.end, "%s must hold numbers, found %s", what, describeValue(x))
				ok = false
				continue
			}
			x.kind, x.f = vFloat, f
			if x, ok2 := inRange(x); ok2 {
				v.list[i] = x
			} else {
				ok = false
			}
		}
		return v, ok
	case TypeNormal:
		if v.kind != vCall || v.s != "normal" || len(v.list) != 1 {
			bad("`normal(STD)`").help("for example `normal(0.02)`")
			return v, false
		}
		x := v.list[0]
		if x.kind == vWord {
			c.undefined(x, sc)
			return v, false
		}
		f, isNum := x.num()
		if !isNum {
			c.diags.errorf(x.pos, x.end, "the standard deviation in %s must be a number, found %s", what, describeValue(x))
			return v, false
		}
		x.kind, x.f = vFloat, f
		if _, ok := inRange(x); !ok {
			return v, false
		}
		v.f = f
		return v, true
	}
	return v, false
}

// Getters. Each returns the written value, or the spec's default.

func (in *inst) val(name string) value {
	if v, ok := in.vals[name]; ok && in.ok[name] {
		return v
	}
	if a := in.spec.Attr(name); a != nil {
		return parseDefault(a.Type, a.Default)
	}
	return value{}
}

func (in *inst) int(name string) int64 { return in.val(name).i }
func (in *inst) str(name string) string {
	return in.val(name).s
}
func (in *inst) bool(name string) bool     { return in.val(name).b }
func (in *inst) float(name string) float64 { return in.val(name).f }
func (in *inst) normal(name string) float64 {
	return in.val(name).f
}

// floats returns a TypeFloatList attribute (or its default).
func (in *inst) floats(name string) []float64 {
	var out []float64
	for _, x := range in.val(name).list {
		out = append(out, x.f)
	}
	return out
}

func (in *inst) pair(name string) (float64, float64) {
	v := in.val(name)
	if len(v.list) != 2 {
		return 0, 0
	}
	return v.list[0].f, v.list[1].f
}

// labelOK reports whether label i was written and valid.
func (in *inst) labelOK(i int) bool { return i < len(in.lok) && in.lok[i] }

// labelInt returns integer label i, or its default.
func (in *inst) labelInt(i int) int64 {
	if in.labelOK(i) {
		return in.labels[i].i
	}
	if i < len(in.spec.Labels) {
		return parseDefault(TypeInt, in.spec.Labels[i].Default).i
	}
	return 0
}

// label returns word label i, or its default.
func (in *inst) label(i int) string {
	if in.labelOK(i) {
		return in.labels[i].s
	}
	if i < len(in.spec.Labels) {
		return in.spec.Labels[i].Default
	}
	return ""
}

// name returns name label i ("" when missing).
func (in *inst) name(i int) string { return in.label(i) }

// attrSpan returns the range of attribute name (key to value), or the
// statement keyword when the attribute is not written.
func (in *inst) attrSpan(name string) (Pos, Pos) {
	if a := in.keys[name]; a != nil {
		return a.Span()
	}
	if in.stmt != nil {
		return in.stmt.Keyword.Pos, in.stmt.Keyword.End
	}
	return in.pos, Pos{}
}

// parseDefault converts a schema default, written in the language, to a
// value of type t. An empty default is the zero value.
func parseDefault(t Type, s string) value {
	switch t {
	case TypeInt:
		i, _ := strconv.ParseInt(s, 10, 64)
		return value{kind: vInt, i: i}
	case TypeFloat:
		f, _ := strconv.ParseFloat(s, 64)
		return value{kind: vFloat, f: f}
	case TypeBool:
		return value{kind: vBool, b: s == "true"}
	case TypeEnum, TypeName:
		return value{kind: vWord, s: s}
	case TypeString:
		return value{kind: vString, s: s}
	case TypeFloatPair, TypeFloatList:
		v := value{kind: vList}
		for _, part := range strings.Split(strings.Trim(s, "[]"), ",") {
			f, _ := strconv.ParseFloat(strings.TrimSpace(part), 64)
			v.list = append(v.list, value{kind: vFloat, f: f})
		}
		return v
	case TypeNormal:
		f, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(s, "normal("), ")"), 64)
		return value{kind: vCall, s: "normal", f: f}
	}
	return value{}
}
