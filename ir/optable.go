package ir

import (
	"fmt"
	"strings"
)

// The op table. Every op of the IR, primitive or fused, is one OpDef in
// Ops, defined once in the file of its family (ops_*.go). The entry is
// everything the compiler knows about the op: its operands and attributes,
// its type rule, its FLOPs rule, whether its operands commute, the scalar
// function of an elementwise op, and, for a fused op, the primitive
// decomposition it stands for. The verifier, the parser, the builder, the
// passes and the analyses read the table; no other code lists ops by hand.
// Backends register an implementation per entry (backend/...), and one
// conformance test holds every backend against the table.

// ArgKind is the element type an operand accepts.
type ArgKind int

const (
	// ArgF32 accepts f32 operands only.
	ArgF32 ArgKind = iota
	// ArgI32 accepts i32 operands only (token ids, targets).
	ArgI32
	// ArgAny accepts either; layout ops (reshape, transpose, slice,
	// broadcast) keep the operand's element type.
	ArgAny
)

// String returns "f32", "i32" or "f32|i32".
func (k ArgKind) String() string {
	switch k {
	case ArgF32:
		return "f32"
	case ArgI32:
		return "i32"
	}
	return "f32|i32"
}

func (k ArgKind) accepts(d DType) bool {
	return k == ArgAny || k == ArgF32 && d == F32 || k == ArgI32 && d == I32
}

// ArgDef is one operand of an op.
type ArgDef struct {
	Name string
	Kind ArgKind
}

// AttrKind is the Go type of an attribute value.
type AttrKind int

// The attribute kinds and the Go type each one holds.
const (
	AttrInt    AttrKind = iota // int
	AttrFloat                  // float64
	AttrBool                   // bool
	AttrString                 // string
	AttrInts                   // []int
	AttrShape                  // Shape
	AttrInit                   // Init
)

// String returns the kind's name as the docs spell it.
func (k AttrKind) String() string {
	return [...]string{"int", "float", "bool", "string", "ints", "shape", "init"}[k]
}

func (k AttrKind) holds(v any) bool {
	switch v.(type) {
	case int:
		return k == AttrInt
	case float64:
		return k == AttrFloat
	case bool:
		return k == AttrBool
	case string:
		return k == AttrString
	case []int:
		return k == AttrInts
	case Shape:
		return k == AttrShape
	case Init:
		return k == AttrInit
	}
	return false
}

// AttrDef is one attribute of an op.
type AttrDef struct {
	Key      string
	Kind     AttrKind
	Optional bool
	Doc      string
}

// MembersAttr is the attribute every fused value made by a fusion pass
// carries: how many computing values of the primitive form it replaced
// (constants, params and inputs are not counted). It records the rewrite
// and has no effect on the semantics; backends ignore it.
const MembersAttr = "members"

// FLOPsRule returns the forward FLOPs of one value from the resolved
// shapes of its operands and of its result (one multiply-add is 2 FLOPs).
type FLOPsRule func(in [][]int, out []int, attrs Attrs) int64

// OpDef is one entry of the op table.
type OpDef struct {
	// Name is the op's IR spelling.
	Name string
	// Family is the op's family (set by the table: the file that defines
	// it, ir/ops_*.go), e.g. "elementwise".
	Family string
	// Doc is the op's meaning in one line.
	Doc string
	// Args are the operands in order. With Variadic the last one repeats
	// (at least once).
	Args     []ArgDef
	Variadic bool
	// Attrs is the attribute schema: every attribute the op accepts. A
	// fused op also accepts MembersAttr (added by the table).
	Attrs []AttrDef
	// Type is the type rule: the result type of the op applied to args
	// with attrs, or why the combination is ill-typed. The table has
	// already checked the arity, the operands' element types and the
	// attributes' presence and kinds.
	Type func(args []*Value, attrs Attrs) (Type, error)
	// FLOPs is the FLOPs rule (conventions in docs/ir.md). A fused op
	// counts exactly what its decomposition counts (checked by the tests).
	FLOPs FLOPsRule
	// Commutative marks a two-operand op whose operands may be swapped:
	// fusion patterns match both orders and cse merges them.
	Commutative bool
	// Scalar is the function an elementwise primitive applies to each
	// element (after broadcasting); nil for other ops. Constant folding
	// and the reference interpreter evaluate elementwise ops with it.
	Scalar func(x ...float64) float64
	// Fused ops are created by fusion passes at -O2, never by lowering.
	Fused bool
	// Decompose appends a fused op's primitive form to b: the op's result
	// is the concatenation, along the last axis, of the parts it returns
	// (one part for most ops). Lowering emits fused computations through
	// it (so -O0 is exactly this form), the reference interpreter
	// evaluates fused ops with it, and the tests hold every backend's
	// kernel and every fusion rule against it.
	Decompose func(b *Builder, args []*Value, attrs Attrs) []*Value
	// Activations, for a fused op, counts the elements of the
	// intermediate values of its decomposition that its kernels keep for
	// the backward: activations of the model hidden inside the op, which
	// an unfused form holds as IR values (moe.experts: x·W1ᵀ and x·W3ᵀ of
	// every routed row, as a dense FFN's x·W1ᵀ is a value; the rest of
	// its hidden values are recomputed from them). compiler.Analyze counts
	// them with the module's values. nil: none.
	Activations ActivationsRule
	// NoGrad marks ops whose result never carries a gradient to anything
	// (leaves without trainable values: input, const, permutations).
	NoGrad bool
	// ForwardOnly marks ops without a derivative, used only by modules
	// that are evaluated forward (decoding with a KV cache): backends need
	// no backward for them and refuse to differentiate a module that uses
	// one.
	ForwardOnly bool
}

// Ops is the op table in a stable order (the order of the family files).
var Ops []*OpDef

var opIndex = map[string]*OpDef{}

// define adds a family's entries to the table; the families' init
// functions call it. It panics on an inconsistent entry, so a broken
// table stops every binary at start-up rather than mis-compiling.
func define(family string, defs ...*OpDef) {
	for _, d := range defs {
		d.Family = family
		if d.Fused {
			d.Attrs = append(d.Attrs, AttrDef{Key: MembersAttr, Kind: AttrInt, Optional: true,
				Doc: "how many primitive values the fusion replaced (no effect on the semantics)"})
		}
		if err := d.check(); err != nil {
			panic("ir: op table: " + err.Error())
		}
		if _, dup := opIndex[d.Name]; dup {
			panic("ir: op table: op " + d.Name + " is defined twice")
		}
		opIndex[d.Name] = d
		Ops = append(Ops, d)
	}
}

// check is the table's own consistency check.
func (d *OpDef) check() error {
	switch {
	case d.Name == "" || d.Doc == "":
		return fmt.Errorf("op %q needs a name and a doc", d.Name)
	case d.Type == nil:
		return fmt.Errorf("op %s has no type rule", d.Name)
	case d.FLOPs == nil:
		return fmt.Errorf("op %s has no FLOPs rule", d.Name)
	case d.Fused != (d.Decompose != nil):
		return fmt.Errorf("op %s: a fused op needs a decomposition, and only a fused op has one", d.Name)
	case d.Commutative && (len(d.Args) != 2 || d.Variadic || d.Args[0].Kind != d.Args[1].Kind):
		return fmt.Errorf("op %s: only an op of two operands of one kind can commute", d.Name)
	case d.Scalar != nil && (d.Fused || d.Variadic || len(d.Args) < 1 || len(d.Args) > 2):
		return fmt.Errorf("op %s: a scalar function belongs to a primitive elementwise op of one or two operands", d.Name)
	case d.Variadic && len(d.Args) == 0:
		return fmt.Errorf("op %s: a variadic op needs an operand to repeat", d.Name)
	}
	seen := map[string]bool{}
	for _, a := range d.Attrs {
		if a.Key == "" || seen[a.Key] {
			return fmt.Errorf("op %s: attribute %q is empty or listed twice", d.Name, a.Key)
		}
		seen[a.Key] = true
	}
	return nil
}

// LookupOp returns the table entry of a named op.
func LookupOp(name string) (*OpDef, bool) {
	d, ok := opIndex[name]
	return d, ok
}

// IsFused reports whether op is a fused op of the table.
func IsFused(op string) bool {
	d, ok := opIndex[op]
	return ok && d.Fused
}

// OpNames returns the names of every op in table order.
func OpNames() []string {
	names := make([]string, len(Ops))
	for i, d := range Ops {
		names[i] = d.Name
	}
	return names
}

// Arity describes the operand count: "2", or "≥ 2" for a variadic op.
func (d *OpDef) Arity() string {
	if d.Variadic {
		return fmt.Sprintf("≥ %d", len(d.Args))
	}
	return fmt.Sprint(len(d.Args))
}

// CheckArity returns an error unless the op takes n operands.
func (d *OpDef) CheckArity(n int) error {
	if n == len(d.Args) || d.Variadic && n > len(d.Args) {
		return nil
	}
	return fmt.Errorf("%s takes %s arguments, got %d", d.Name, d.Arity(), n)
}

// Arg returns the definition of operand i (the repeated last one for a
// variadic op).
func (d *OpDef) Arg(i int) ArgDef {
	if i >= len(d.Args) {
		return d.Args[len(d.Args)-1]
	}
	return d.Args[i]
}

// Attr returns the definition of an attribute.
func (d *OpDef) Attr(key string) (AttrDef, bool) {
	for _, a := range d.Attrs {
		if a.Key == key {
			return a, true
		}
	}
	return AttrDef{}, false
}

// CheckAttrs returns an error unless attrs holds every required attribute
// of the op with the right kind and nothing the op does not accept.
func (d *OpDef) CheckAttrs(attrs Attrs) error {
	for _, a := range attrs {
		def, ok := d.Attr(a.Key)
		if !ok {
			return fmt.Errorf("%s has no attribute %s (attributes: %s)", d.Name, a.Key, d.attrList())
		}
		if !def.Kind.holds(a.Val) {
			return fmt.Errorf("%s: attribute %s must be %s, got %s", d.Name, a.Key, articled(def.Kind), describeAttr(a.Val))
		}
	}
	for _, def := range d.Attrs {
		if !def.Optional && attrs.Get(def.Key) == nil {
			return fmt.Errorf("%s needs the attribute %s (%s)", d.Name, def.Key, def.Kind)
		}
	}
	return nil
}

func (d *OpDef) attrList() string {
	if len(d.Attrs) == 0 {
		return "none"
	}
	keys := make([]string, len(d.Attrs))
	for i, a := range d.Attrs {
		keys[i] = a.Key
	}
	return strings.Join(keys, ", ")
}

func articled(k AttrKind) string {
	if k == AttrInt || k == AttrInts || k == AttrInit {
		return "an " + k.String()
	}
	return "a " + k.String()
}

func describeAttr(v any) string {
	switch v.(type) {
	case int:
		return "an int " + formatAttr(v)
	case float64:
		return "a float " + formatAttr(v)
	case bool:
		return "a bool " + formatAttr(v)
	case string:
		return "a string " + formatAttr(v)
	case []int:
		return "an int list " + formatAttr(v)
	case Shape:
		return "a shape " + formatAttr(v)
	case Init:
		return "an init " + formatAttr(v)
	}
	return fmt.Sprintf("a %T", v)
}

// InferType computes the result type of op applied to args with attrs, or
// explains why the combination is ill-typed: the table's checks (arity,
// operand element types, attributes) first, then the op's type rule.
// Params and inputs carry their type as given and are not inferred.
func InferType(op string, args []*Value, attrs Attrs) (Type, error) {
	d, ok := LookupOp(op)
	if !ok {
		return Type{}, fmt.Errorf("unknown op %q", op)
	}
	if err := d.CheckArity(len(args)); err != nil {
		return Type{}, err
	}
	for i, a := range args {
		if a == nil {
			return Type{}, fmt.Errorf("%s: argument %d is undefined", op, i)
		}
		if k := d.Arg(i).Kind; !k.accepts(a.Type.DType) {
			return Type{}, fmt.Errorf("%s: argument %d (%s) must be %s, got %s", op, i, d.Arg(i).Name, k, a.Type)
		}
	}
	if err := d.CheckAttrs(attrs); err != nil {
		return Type{}, err
	}
	return d.Type(args, attrs)
}

// ValueFLOPs returns the forward FLOPs of v under the symbol bindings,
// from its op's FLOPs rule.
func ValueFLOPs(v *Value, binds map[string]int) (int64, error) {
	d, ok := LookupOp(v.Op)
	if !ok {
		return 0, fmt.Errorf("no FLOPs rule: unknown op %q", v.Op)
	}
	in, out, err := resolvedShapes(v, binds)
	if err != nil {
		return 0, err
	}
	return d.FLOPs(in, out, v.Attrs), nil
}

// resolvedShapes returns the shapes of v's operands and of v with the
// symbolic dimensions resolved by binds.
func resolvedShapes(v *Value, binds map[string]int) (in [][]int, out []int, err error) {
	if out, err = v.Type.Shape.Resolve(binds); err != nil {
		return nil, nil, err
	}
	in = make([][]int, len(v.Args))
	for i, a := range v.Args {
		if in[i], err = a.Type.Shape.Resolve(binds); err != nil {
			return nil, nil, err
		}
	}
	return in, out, nil
}

// ActivationsRule is OpDef.Activations: element counts from the resolved
// shapes of the operands and the result, like a FLOPs rule.
type ActivationsRule func(in [][]int, out []int, attrs Attrs) int64

// ValueActivations returns the elements of the hidden activations the op
// of v keeps for its backward (OpDef.Activations; 0 for most ops), with
// the symbolic dimensions resolved by binds.
func ValueActivations(v *Value, binds map[string]int) (int64, error) {
	d, ok := LookupOp(v.Op)
	if !ok {
		return 0, fmt.Errorf("unknown op %q", v.Op)
	}
	if d.Activations == nil {
		return 0, nil
	}
	in, out, err := resolvedShapes(v, binds)
	if err != nil {
		return 0, err
	}
	return d.Activations(in, out, v.Attrs), nil
}

// Decompose appends the primitive form of the fused op to b and returns
// its parts (see OpDef.Decompose); the attribute MembersAttr is ignored.
// It fails for an op that is not fused or an ill-typed application.
func Decompose(b *Builder, op string, attrs Attrs, args ...*Value) ([]*Value, error) {
	d, ok := LookupOp(op)
	if !ok || !d.Fused {
		return nil, fmt.Errorf("%q is not a fused op", op)
	}
	if _, err := InferType(op, args, attrs); err != nil {
		return nil, err
	}
	parts := d.Decompose(b, args, attrs)
	if err := b.Err(); err != nil {
		return nil, err
	}
	return parts, nil
}

// Expand is Decompose for lowering code, which uses the builder's sticky
// error: it returns the single part of a one-part op (use Decompose for
// hc.coeffs and matmul.concat).
func (b *Builder) Expand(op string, attrs Attrs, args ...*Value) *Value {
	if b.err != nil {
		return b.placeholder(op, attrs, args)
	}
	parts, err := Decompose(b, op, attrs, args...)
	if err == nil && len(parts) != 1 {
		err = fmt.Errorf("%s decomposes into %d parts; use Decompose", op, len(parts))
	}
	if err != nil {
		if b.err == nil {
			b.err = fmt.Errorf("%s: %w", b.pos, err)
		}
		return b.placeholder(op, attrs, args)
	}
	return parts[0]
}

// ExpandParts is Expand for an op of several parts.
func (b *Builder) ExpandParts(op string, attrs Attrs, args ...*Value) []*Value {
	if b.err != nil {
		return nil
	}
	parts, err := Decompose(b, op, attrs, args...)
	if err != nil {
		b.err = fmt.Errorf("%s: %w", b.pos, err)
		return nil
	}
	return parts
}

// ---------------------------------------------------------------- helpers for the families

// f32 is the operand definition of a float tensor.
func f32(name string) ArgDef { return ArgDef{name, ArgF32} }

func attr(key string, kind AttrKind, doc string) AttrDef {
	return AttrDef{Key: key, Kind: kind, Doc: doc}
}

func optAttr(key string, kind AttrKind, doc string) AttrDef {
	return AttrDef{Key: key, Kind: kind, Optional: true, Doc: doc}
}

// numel is the element count of a resolved shape.
func numel(s []int) int64 {
	n := int64(1)
	for _, d := range s {
		n *= int64(d)
	}
	return n
}

// zeroFLOPs is the rule of data movement and leaves.
func zeroFLOPs([][]int, []int, Attrs) int64 { return 0 }

// perOutput counts k FLOPs per result element.
func perOutput(k int64) FLOPsRule {
	return func(_ [][]int, out []int, _ Attrs) int64 { return k * numel(out) }
}

// last returns the last dimension of s (the zero Dim for a scalar).
func last(s Shape) Dim {
	if len(s) == 0 {
		return Dim{}
	}
	return s[len(s)-1]
}

// lastInt returns the last resolved dimension (1 for a scalar).
func lastInt(s []int) int64 {
	if len(s) == 0 {
		return 1
	}
	return int64(s[len(s)-1])
}

// lead returns s without its last k dimensions.
func lead(s Shape, k int) Shape { return s[:len(s)-k].Clone() }

// sameType is the type rule of ops whose result has the type of operand 0.
func sameType(args []*Value, _ Attrs) (Type, error) {
	return Type{DType: args[0].Type.DType, Shape: args[0].Type.Shape.Clone()}, nil
}

// allAxes lists 0..r−1.
func allAxes(r int) []int {
	axes := make([]int, r)
	for i := range axes {
		axes[i] = i
	}
	return axes
}
