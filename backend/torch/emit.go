package torch

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/mhcc/mhcc/backend"
	"github.com/mhcc/mhcc/ir"
)

// impl writes the Python expression that computes value v from the Python
// names of its operands (args): a call of the op's function in the op
// library (py/ops.py).
type impl func(e *emitter, v *ir.Value, args []string) (string, error)

// impls is the torch backend's op table: one impl per op of ir.Ops,
// registered by the op-family files (ops_*.go).
var impls backend.Table[impl]

// call is the impl of an op whose library function takes the operands,
// then the op's attributes as keyword arguments of the same names (the
// attribute members, which only records a fusion, is left out; an
// optional attribute only when present).
func call(fn string) impl {
	return func(e *emitter, v *ir.Value, args []string) (string, error) {
		parts := append([]string(nil), args...)
		for _, a := range v.Attrs {
			if a.Key == ir.MembersAttr {
				continue
			}
			s, err := e.literal(a.Val)
			if err != nil {
				return "", fmt.Errorf("%s: attribute %s: %w", v.Op, a.Key, err)
			}
			parts = append(parts, a.Key+"="+s)
		}
		return fn + "(" + strings.Join(parts, ", ") + ")", nil
	}
}

// emitter turns one module into the Python source of an nn.Module class.
type emitter struct {
	m     *ir.Module
	names map[*ir.Value]string
	src   []string // the lines of the .mhc source, for comments
}

// ClassOptions name the emitted class and give the program text the
// comments quote.
type ClassOptions struct {
	// Name is the class name.
	Name string
	// Model is the model's name (the class attribute MODEL).
	Model string
	// Source is the .mhc text whose lines the comments quote (optional).
	Source []byte
	// IRSHA256 is recorded as the class attribute IR_SHA256.
	IRSHA256 string
}

var (
	identRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	valueName = regexp.MustCompile(`^v[0-9]+$`) // the names of computed values
)

// pyKeywords are the Python words a name may not be.
var pyKeywords = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`False None True and as assert async await break class continue def del elif else
		except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield
		self dt dev torch nn F math`) {
		pyKeywords[k] = true
	}
}

// Class returns the Python source of the nn.Module class computing m: its
// PARAMS table (name, shape, init, decay), its UNTRAINED parameters, its
// INPUTS and OUTPUTS, and
// compute(inputs...) with one line per IR value, each a call into the op
// library. Every op must be implemented (Support).
func Class(m *ir.Module, opts ClassOptions) (string, error) {
	e := &emitter{m: m, names: map[*ir.Value]string{}}
	if len(opts.Source) > 0 {
		e.src = strings.Split(string(opts.Source), "\n")
	}
	var b bytes.Buffer
	name := opts.Name
	if name == "" {
		name = "Model"
	}
	fmt.Fprintf(&b, "class %s(nn.Module):\n", name)
	fmt.Fprintf(&b, "    \"\"\"The module compiled by mhcc from %s: compute() returns its outputs %s.\"\"\"\n\n",
		pyString(m.Source), outputNames(m))
	fmt.Fprintf(&b, "    MODEL = %s\n    IR_SHA256 = %s\n", pyString(opts.Model), pyString(opts.IRSHA256))
	b.WriteString("    # (name = checkpoint tensor name, shape, init, AdamW weight decay)\n    PARAMS = [\n")
	for _, p := range m.Params() {
		shape, err := e.shape(p.Type.Shape)
		if err != nil {
			return "", fmt.Errorf("param %s: %w", p.Param(), err)
		}
		in := p.Attrs.Init("init")
		init := []string{pyString(in.Kind)}
		for _, a := range in.Args {
			init = append(init, pyFloat(a))
		}
		fmt.Fprintf(&b, "        (%s, %s, (%s,), %s),\n", pyString(p.Param()), shape, strings.Join(init, ", "), pyBool(p.Attrs.Bool("decay")))
	}
	b.WriteString("    ]\n")
	var untrained []string
	for _, p := range m.Params() {
		if !ir.ParamTrainable(p) {
			untrained = append(untrained, pyString(p.Param()))
		}
	}
	b.WriteString("    # parameters no gradient or optimizer updates (trainable=false): the training loop sets them\n")
	fmt.Fprintf(&b, "    UNTRAINED = [%s]\n", strings.Join(untrained, ", "))
	b.WriteString("    # (name, element type, shape)\n    INPUTS = [\n")
	var inputs []*ir.Value
	used := map[string]bool{}
	for _, v := range m.Values {
		if v.Op != ir.OpInput {
			continue
		}
		inputs = append(inputs, v)
		n := pyIdent(v.Attrs.String("name"), used)
		e.names[v] = n
		syms := make([]string, len(v.Type.Shape))
		for i, d := range v.Type.Shape {
			syms[i] = pyString(d.String())
		}
		fmt.Fprintf(&b, "        (%s, %s, (%s)),\n", pyString(v.Attrs.String("name")), pyString(v.Type.DType.String()), tupleBody(syms))
	}
	b.WriteString("    ]\n")
	fmt.Fprintf(&b, "    OUTPUTS = %s\n\n", outputNames(m))
	b.WriteString("    def __init__(self):\n        super().__init__()\n        make_params(self, self.PARAMS)\n\n")

	// compute: symbols from the inputs' shapes, the rest as keywords
	var args []string
	for _, v := range inputs {
		args = append(args, e.names[v])
	}
	symbolAt := map[string]string{}
	for _, v := range inputs {
		for i, d := range v.Type.Shape {
			if d.IsSym() && symbolAt[d.Sym] == "" {
				symbolAt[d.Sym] = fmt.Sprintf("%s.shape[%d]", e.names[v], i)
			}
		}
	}
	var kw []string
	for _, s := range m.Symbols {
		if symbolAt[s] == "" {
			kw = append(kw, s)
		}
	}
	sig := append([]string{"self"}, args...)
	if len(kw) > 0 {
		sig = append(append(sig, "*"), kw...)
	}
	fmt.Fprintf(&b, "    def compute(%s):\n", strings.Join(sig, ", "))
	for _, s := range m.Symbols {
		if at := symbolAt[s]; at != "" {
			fmt.Fprintf(&b, "        %s = %s\n", s, at)
		}
	}
	fmt.Fprintf(&b, "        dt, dev = %s\n", e.dtypeDevice(inputs))
	line := -1
	for i, v := range m.Values {
		switch v.Op {
		case ir.OpInput:
			continue
		case ir.OpParam:
			e.names[v] = paramRef(v.Param())
			continue
		}
		if v.Pos.Line != line && v.Pos.Line > 0 {
			line = v.Pos.Line
			fmt.Fprintf(&b, "        # %s\n", e.sourceLine(v.Pos))
		}
		f, ok := impls.Lookup(v.Op)
		if !ok {
			_, reason := impls.Support(v.Op)
			if reason == "" {
				reason = "not implemented"
			}
			return "", fmt.Errorf("the torch backend cannot emit %s (%s): %s", v.Op, v.Pos, reason)
		}
		opArgs := make([]string, len(v.Args))
		for j, a := range v.Args {
			n, ok := e.names[a]
			if !ok {
				return "", fmt.Errorf("value %%%d (%s) uses a value defined after it", i, v.Op)
			}
			opArgs[j] = n
		}
		expr, err := f(e, v, opArgs)
		if err != nil {
			return "", err
		}
		n := fmt.Sprintf("v%d", i)
		e.names[v] = n
		fmt.Fprintf(&b, "        %s = %s\n", n, expr)
	}
	var outs []string
	for _, o := range m.Outputs {
		outs = append(outs, fmt.Sprintf("%s: %s", pyString(o.Name), e.names[o.Value]))
	}
	fmt.Fprintf(&b, "        return {%s}\n", strings.Join(outs, ", "))
	if m.Output("loss") != nil && len(kw) == 0 {
		fmt.Fprintf(&b, "\n    def forward(%s, outputs=False):\n"+
			"        \"\"\"The output loss; with outputs=True every output (compute's dict).\"\"\"\n"+
			"        out = self.compute(%s)\n        return out if outputs else out[\"loss\"]\n",
			strings.Join(append([]string{"self"}, args...), ", "), strings.Join(args, ", "))
	}
	return b.String(), nil
}

// dtypeDevice is the expression of the float dtype and the device the
// module computes in: those of its first parameter, else of its first
// float input.
func (e *emitter) dtypeDevice(inputs []*ir.Value) string {
	if ps := e.m.Params(); len(ps) > 0 {
		r := paramRef(ps[0].Param())
		return r + ".dtype, " + r + ".device"
	}
	for _, v := range inputs {
		if v.Type.DType == ir.F32 {
			return e.names[v] + ".dtype, " + e.names[v] + ".device"
		}
	}
	if len(inputs) > 0 {
		return "torch.get_default_dtype(), " + e.names[inputs[0]] + ".device"
	}
	return "torch.get_default_dtype(), torch.device(\"cpu\")"
}

func (e *emitter) sourceLine(p ir.Pos) string {
	s := fmt.Sprintf("%s:%d", e.m.Source, p.Line)
	if p.Line-1 < len(e.src) {
		if t := strings.TrimSpace(e.src[p.Line-1]); t != "" {
			s += ": " + t
		}
	}
	return s
}

// paramRef is the Python expression of a parameter: an attribute path
// (self.blocks[0].attn.wq), or get_parameter for a name that is not one.
func paramRef(name string) string {
	var b strings.Builder
	b.WriteString("self")
	for _, part := range strings.Split(name, ".") {
		switch {
		case isDigits(part):
			fmt.Fprintf(&b, "[%s]", part)
		case identRE.MatchString(part) && !pyKeywords[part] && !moduleAttrs[part]:
			b.WriteString("." + part)
		default:
			return "self.get_parameter(" + pyString(name) + ")"
		}
	}
	return b.String()
}

// moduleAttrs are names nn.Module itself uses, which a submodule or
// parameter cannot take as an attribute.
var moduleAttrs = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`training forward compute eval train to cuda cpu float double half type apply modules
		children parameters buffers named_parameters state_dict load_state_dict zero_grad register_buffer
		register_parameter add_module get_parameter get_submodule requires_grad_ extra_repr dump_patches PARAMS INPUTS
		OUTPUTS UNTRAINED MODEL IR_SHA256 T_destination`) {
		moduleAttrs[k] = true
	}
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// pyIdent makes a Python identifier of an input name, unique among used.
func pyIdent(name string, used map[string]bool) string {
	var b strings.Builder
	for i, c := range name {
		switch {
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	for s == "" || pyKeywords[s] || used[s] || valueName.MatchString(s) || len(s) == 1 && s[0] >= 'A' && s[0] <= 'Z' {
		s += "_"
	}
	used[s] = true
	return s
}

// literal spells an attribute value in Python.
func (e *emitter) literal(v any) (string, error) {
	switch x := v.(type) {
	case int:
		return strconv.Itoa(x), nil
	case float64:
		return pyFloat(x), nil
	case bool:
		return pyBool(x), nil
	case string:
		return pyString(x), nil
	case []int:
		parts := make([]string, len(x))
		for i, n := range x {
			parts[i] = strconv.Itoa(n)
		}
		return "(" + tupleBody(parts) + ")", nil
	case ir.Shape:
		return e.shape(x)
	}
	return "", fmt.Errorf("no Python spelling for %T", v)
}

// shape spells a shape as a tuple; symbols are the compute() locals of
// the same name.
func (e *emitter) shape(s ir.Shape) (string, error) {
	parts := make([]string, len(s))
	for i, d := range s {
		if d.IsSym() && !identRE.MatchString(d.Sym) {
			return "", fmt.Errorf("symbol %q is not a Python name", d.Sym)
		}
		parts[i] = d.String()
	}
	return "(" + tupleBody(parts) + ")", nil
}

func tupleBody(parts []string) string {
	if len(parts) == 1 {
		return parts[0] + ","
	}
	return strings.Join(parts, ", ")
}

func outputNames(m *ir.Module) string {
	names := make([]string, len(m.Outputs))
	for i, o := range m.Outputs {
		names[i] = pyString(o.Name)
	}
	return "[" + strings.Join(names, ", ") + "]"
}

func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return `float("nan")`
	case math.IsInf(f, 1):
		return `float("inf")`
	case math.IsInf(f, -1):
		return `float("-inf")`
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// pyString is a Python string literal (JSON's escapes are Python's).
func pyString(s string) string { return strconv.Quote(s) }
