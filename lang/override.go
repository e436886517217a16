package lang

import (
	"fmt"
	"strings"
)

// This file applies `--set PATH=VALUE` overrides. An override is turned
// into source: its value is parsed with the language's own grammar and
// put into the file's syntax tree (replacing the attribute or label, or
// adding the statement), and then the ordinary checker runs. So an
// override is type- and range-checked exactly like a value in the file,
// may use the file's `let` names (`--set model.embed.dim=2*d`), and its
// diagnostics are the checker's own, positioned at the flag:
//
//	--set train.optimizer.lrr=1: error: unknown attribute `lrr` on `optimizer`, did you mean `lr`?
//
// Paths:
//
//	model.name                 the model's name
//	model.KEYWORD              the first label of a model statement: model.vocab, model.residual, model.head
//	model.KEYWORD.ATTR         an attribute: model.residual.streams, model.embed.dim, model.norm.eps
//	model.NAME                 the value of a model-level `let NAME = ...`
//	train.KEYWORD[.ATTR]       the same for train: train.batch, train.optimizer.lr, train.schedule
//	train.NAME                 the value of a train-level `let`
//
// Statements inside blocks cannot be set (they are templates, repeated);
// put the value in a model-level `let` and set that instead. Overrides
// apply in order, so a later one wins. Setting a statement's kind
// (`model.residual=plain`, `train.data=synthetic`) drops the attributes
// written in the file that do not apply to the new kind.

// Options configure LoadWith and CheckWith.
type Options struct {
	// Set holds `PATH=VALUE` overrides, as given to `--set`, applied in
	// order.
	Set []string
	// Names, when set, names each override of Set in diagnostics (the
	// file of its position) instead of "--set PATH=VALUE": the flag the
	// user wrote, such as "--steps 0" for the override train.steps=0. A
	// name must start with "--"; an empty one keeps the default.
	Names []string
}

// setPrefix starts the file name of every position inside an override.
const setPrefix = "--set "

// overridePos is the position of override i: the flag itself, named as
// opts.Names says or "--set PATH=VALUE". It has no line, so diagnostics
// print it without a snippet.
func overridePos(raw string, i int, opts Options) Pos {
	if i < len(opts.Names) && strings.HasPrefix(opts.Names[i], "--") {
		return Pos{File: opts.Names[i]}
	}
	return Pos{File: setPrefix + raw}
}

// IsOverride reports whether p is the position of a `--set` override
// rather than of a place in a file.
func (p Pos) IsOverride() bool { return p.Line == 0 && strings.HasPrefix(p.File, "--") }

// LoadWith is Load with options: it parses src, applies the overrides in
// opts and checks the result.
func LoadWith(filename string, src []byte, opts Options) (*Program, Diagnostics) {
	f, diags := Parse(filename, src)
	if diags.HasErrors() || f == nil {
		return nil, diags
	}
	p, more := CheckWith(f, opts)
	diags = append(diags, more...)
	diags.Sort()
	if diags.HasErrors() {
		return nil, diags
	}
	return p, diags
}

// CheckWith is Check with options. f itself is not modified: overrides
// are applied to a copy of the statements they touch.
func CheckWith(f *File, opts Options) (*Program, Diagnostics) {
	if f == nil {
		return nil, Diagnostics{{Severity: Error, Message: "no file to check"}}
	}
	c := &checker{file: f.Name}
	if len(opts.Set) > 0 {
		f = c.applyOverrides(f, opts)
	}
	p := c.check(f)
	c.diags.list.Sort()
	if c.diags.list.HasErrors() {
		return nil, c.diags.list
	}
	return p, c.diags.list
}

// applyOverrides returns a copy of f with the overrides put in. Problems
// with the flags themselves (not PATH=VALUE, an unknown path, a value that
// does not parse) are reported here; the checker reports the rest.
func (c *checker) applyOverrides(f *File, opts Options) *File {
	g := *f
	g.Stmts = append([]*Stmt(nil), f.Stmts...)
	var model, train *Stmt
	for i, s := range g.Stmts {
		if s.Body == nil || s.Let != nil {
			continue
		}
		switch {
		case s.Keyword.Name == "model" && model == nil:
			model = cloneTop(s)
			g.Stmts[i] = model
		case s.Keyword.Name == "train" && train == nil:
			train = cloneTop(s)
			g.Stmts[i] = train
		}
	}
	for i, raw := range opts.Set {
		pos := overridePos(raw, i, opts)
		path, val, ok := strings.Cut(raw, "=")
		path, val = strings.TrimSpace(path), strings.TrimSpace(val)
		if !ok {
			c.diags.errorf(pos, Pos{}, "expected PATH=VALUE").
				help("for example `--set train.optimizer.lr=1e-3` or `--set model.residual.streams=1`")
			continue
		}
		parts := strings.Split(path, ".")
		if path == "" || contains(parts, "") {
			c.diags.errorf(pos, Pos{}, "malformed path `%s`", path).
				help("paths are dot-separated names such as `train.optimizer.lr`; `mhcc explain` lists them all")
			continue
		}
		if len(parts) == 1 {
			c.diags.errorf(pos, Pos{}, "path `%s` names no setting", path).
				help("name one, such as `model.residual.streams` or `train.optimizer.lr`; `mhcc explain FILE` lists them all")
			continue
		}
		if val == "" {
			c.diags.errorf(pos, Pos{}, "no value after `=`").help("for example `--set %s=...`; `mhcc explain` shows the current value", path)
			continue
		}
		var body *Stmt
		switch parts[0] {
		case "model":
			body = model
		case "train":
			if train == nil && model != nil {
				// No train block in the file: add an empty one, placed
				// where an absent train block's defaults point (the model).
				train = &Stmt{Keyword: Ident{Name: "train", Pos: model.Pos, End: model.Keyword.End}, Pos: model.Pos, Body: &Body{}}
				g.Stmts = append(g.Stmts, train)
			}
			body = train
		default:
			msg := fmt.Sprintf("unknown path `%s`: paths start with `model.` or `train.`", path)
			if sug := suggest(parts[0], []string{"model", "train"}); sug != "" {
				msg += fmt.Sprintf(", did you mean `%s`?", strings.Join(append([]string{sug}, parts[1:]...), "."))
			}
			c.diags.errorf(pos, Pos{}, "%s", msg).help("`mhcc explain FILE` lists every path with its value")
			continue
		}
		if body == nil {
			continue // no model block: the checker says so
		}
		c.override(body, parts, val, pos)
	}
	return &g
}

// cloneTop copies a top-level statement, its body and the statements
// directly in it, so that overrides can edit them.
func cloneTop(s *Stmt) *Stmt {
	t := cloneStmt(s)
	b := *s.Body
	b.Stmts = make([]*Stmt, len(s.Body.Stmts))
	for i, x := range s.Body.Stmts {
		b.Stmts[i] = cloneStmt(x)
	}
	t.Body = &b
	return t
}

func cloneStmt(s *Stmt) *Stmt {
	t := *s
	t.Labels = append([]Expr(nil), s.Labels...)
	t.Attrs = append([]*Attr(nil), s.Attrs...)
	if s.Let != nil {
		l := *s.Let
		t.Let = &l
	}
	return &t
}

// override applies one override to top, the `model` or `train` statement.
func (c *checker) override(top *Stmt, parts []string, val string, pos Pos) {
	where, what := InModel, "model"
	if top.Keyword.Name == "train" {
		where, what = InTrain, "train"
	}
	path := strings.Join(parts, ".")
	body := top.Body
	kw := parts[1]
	if what == "model" && kw == "name" && len(parts) == 2 {
		if e, ok := c.overrideValue(val, TypeName, pos); ok {
			top.Labels = replaceFirst(top.Labels, e)
		}
		return
	}
	spec := Lookup(kw)
	inBlocks := spec != nil && (kw == "block" || kw == "repeat" || kw == "layer" || spec.In&(InModel|InTrain) == 0)
	if kw == "blocks" || (where == InModel && inBlocks) {
		c.diags.errorf(pos, Pos{}, "`--set` cannot change the statements inside blocks").
			help("blocks are templates, repeated by `repeat`; give the value a name in the model, such as `let heads = 4` with `attention heads=heads`, and set it with `--set model.heads=8`")
		return
	}
	if spec == nil || kw == "let" || spec.Body || inBlocks {
		if let := findLet(body, kw); let != nil && len(parts) == 2 {
			if e, ok := c.overrideValue(val, -1, pos); ok {
				let.Let.Value = e
			}
			return
		}
		c.unknownPath(body, where, what, path, parts, pos)
		return
	}
	if spec.In&where == 0 {
		other := "model"
		if where == InModel {
			other = "train"
		}
		c.diags.errorf(pos, Pos{}, "`%s` is not a `%s` setting, did you mean `%s`?", kw, what, other+"."+strings.Join(parts[1:], ".")).
			help("`%s` belongs in %s; `mhcc explain FILE` lists every path with its value", kw, spec.In)
		return
	}
	if len(parts) > 3 {
		c.diags.errorf(pos, Pos{}, "path `%s` is too long: a setting is `%s.%s` or `%s.%s.ATTRIBUTE`", path, what, kw, what, kw).
			help("usage: %s", spec.Usage())
		return
	}
	st := findStmt(body, kw)
	if len(parts) == 2 { // the statement's first label
		if len(spec.Labels) == 0 {
			c.diags.errorf(pos, Pos{}, "`%s` has no value of its own; set one of its attributes", path).
				help("for example %s", joinOr(prefixAll("`--set "+path+".", spec.AttrNames(), "=...`")))
			return
		}
		l := spec.Labels[0]
		e, ok := c.overrideValue(val, l.Type, pos)
		if !ok {
			return
		}
		if st == nil {
			st = addStmt(body, kw, top.Pos, pos)
		}
		st.Labels = replaceFirst(st.Labels, e)
		if id, isIdent := e.(*Ident); isIdent && l.Type == TypeEnum {
			// A new kind drops the file's attributes that do not apply to it.
			kept := st.Attrs[:0:0]
			for _, a := range st.Attrs {
				if as := spec.Attr(a.Key.Name); a.Key.Pos.IsOverride() || as == nil || kindOK(*as, id.Name) {
					kept = append(kept, a)
				}
			}
			st.Attrs = kept
		}
		return
	}
	name := parts[2]
	t := Type(-1)
	if as := spec.Attr(name); as != nil {
		t = as.Type
	}
	e, ok := c.overrideValue(val, t, pos)
	if !ok {
		return
	}
	if st == nil {
		st = addStmt(body, kw, top.Pos, pos)
	}
	if kw == "data" && name == "file" {
		// `data file="..."` has no kind label: setting the file switches
		// the data to it, dropping the file's `synthetic` settings.
		if len(st.Labels) > 0 && !labelIsOverride(st.Labels[0]) {
			st.Labels = nil
		}
		kept := st.Attrs[:0:0]
		for _, a := range st.Attrs {
			if as := spec.Attr(a.Key.Name); a.Key.Pos.IsOverride() || as == nil || kindOK(*as, DataFile) {
				kept = append(kept, a)
			}
		}
		st.Attrs = kept
	}
	a := &Attr{Key: Ident{Name: name, Pos: pos}, Value: e}
	for i, x := range st.Attrs {
		if x.Key.Name == name {
			st.Attrs[i] = a
			return
		}
	}
	st.Attrs = append(st.Attrs, a)
}

// unknownPath reports a path whose second part names no statement or let.
func (c *checker) unknownPath(body *Body, where Where, what, path string, parts []string, pos Pos) {
	var names []string
	for _, s := range Schema {
		if s.In&where != 0 && !s.Body && s.Keyword != "let" {
			names = append(names, s.Keyword)
		}
	}
	for _, s := range body.Stmts {
		if s.Let != nil {
			names = append(names, s.Let.Name.Name)
		}
	}
	msg := fmt.Sprintf("unknown setting `%s.%s`", what, parts[1])
	if sug := suggest(parts[1], names); sug != "" {
		msg += fmt.Sprintf(", did you mean `%s`?", strings.Join(append([]string{what, sug}, parts[2:]...), "."))
	}
	c.diags.errorf(pos, Pos{}, "%s", msg).
		help("settings in `%s`: %s (and `let` names of the %s block)", what, strings.Join(names, ", "), what).
		help("`mhcc explain FILE` lists every path with its value")
}

func labelIsOverride(e Expr) bool {
	p, _ := e.Span()
	return p.IsOverride()
}

func prefixAll(pre string, xs []string, post string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = pre + x + post
	}
	return out
}

func replaceFirst(xs []Expr, e Expr) []Expr {
	if len(xs) == 0 {
		return []Expr{e}
	}
	xs[0] = e
	return xs
}

// findStmt returns the first statement kw directly in body.
func findStmt(body *Body, kw string) *Stmt {
	for _, s := range body.Stmts {
		if s.Let == nil && s.Keyword.Name == kw {
			return s
		}
	}
	return nil
}

// findLet returns the `let NAME` directly in body.
func findLet(body *Body, name string) *Stmt {
	for _, s := range body.Stmts {
		if s.Let != nil && s.Let.Name.Name == name {
			return s
		}
	}
	return nil
}

// addStmt appends a new statement kw to body. Its keyword is positioned
// at the override (for messages); the statement itself at the enclosing
// block (for the positions the program records, like an absent statement).
func addStmt(body *Body, kw string, at, pos Pos) *Stmt {
	s := &Stmt{Keyword: Ident{Name: kw, Pos: pos}, Pos: at, End: at}
	body.Stmts = append(body.Stmts, s)
	return s
}

// overrideValue parses an override's value as an expression of the
// language, positioned at the flag. t is the expected type when known (-1
// otherwise): for a string, an unquoted value is taken as the string
// itself, so `--set train.data.file=input.txt` works without shell quoting.
func (c *checker) overrideValue(val string, t Type, pos Pos) (Expr, bool) {
	if t == TypeString && !strings.HasPrefix(val, `"`) {
		return &StringLit{Value: val, Pos: pos}, true
	}
	const pre = "x a="
	f, diags := Parse(pos.File, []byte(pre+val))
	if diags.HasErrors() || f == nil {
		msg := "malformed value"
		if len(diags) > 0 {
			msg = diags[0].Message
		}
		c.diags.errorf(pos, Pos{}, "cannot read the value `%s`: %s", shorten(val), msg).
			help("write the value as in an .mhc file, such as `1e-3`, `4`, `birkhoff`, `[0.9, 0.95]` or `normal(0.02)`")
		return nil, false
	}
	if len(f.Stmts) != 1 || len(f.Stmts[0].Attrs) != 1 || len(f.Stmts[0].Labels) != 0 || f.Stmts[0].Body != nil {
		c.diags.errorf(pos, Pos{}, "the value `%s` is not a single value", shorten(val)).
			help("write one value, such as `1e-3`, `birkhoff` or `[0.9, 0.95]`; quote the flag for the shell if it has spaces")
		return nil, false
	}
	e := f.Stmts[0].Attrs[0].Value
	relocate(e, pos)
	return e, true
}

// relocate moves every position in e to pos.
func relocate(e Expr, pos Pos) {
	switch e := e.(type) {
	case *Ident:
		e.Pos, e.End = pos, Pos{}
	case *IntLit:
		e.Pos, e.End = pos, Pos{}
	case *FloatLit:
		e.Pos, e.End = pos, Pos{}
	case *StringLit:
		e.Pos, e.End = pos, Pos{}
	case *ListExpr:
		e.Pos, e.End = pos, Pos{}
		for _, x := range e.Elems {
			relocate(x, pos)
		}
	case *CallExpr:
		e.Func.Pos, e.Func.End, e.End = pos, Pos{}, Pos{}
		for _, x := range e.Args {
			relocate(x, pos)
		}
	case *BinaryExpr:
		e.OpPos = pos
		relocate(e.X, pos)
		relocate(e.Y, pos)
	case *UnaryExpr:
		e.Pos = pos
		relocate(e.X, pos)
	case *ParenExpr:
		e.Pos, e.End = pos, Pos{}
		relocate(e.X, pos)
	}
}
