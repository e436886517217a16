package lang

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// This file is the checker: it validates a parsed file against the
// schema, evaluates lets and arithmetic, applies defaults, unrolls
// `repeat` and produces the resolved Program. Generic, table-driven checks
// live in stmt.go; this file holds the per-statement meaning.

// maxBlocks bounds the unrolled model.
const maxBlocks = 10000

// Load parses and checks an .mhc file. The checker runs only when parsing
// succeeded. The Program is nil when there are errors; warnings come with
// a valid Program.
func Load(filename string, src []byte) (*Program, Diagnostics) {
	return LoadWith(filename, src, Options{})
}

// Check validates a parsed file and resolves it into a Program: every
// `let` and expression evaluated, every default applied, every `repeat`
// unrolled and every Pos filled. It returns all the problems it finds,
// sorted by position; the Program is nil when any of them is an error.
func Check(f *File) (*Program, Diagnostics) {
	return CheckWith(f, Options{})
}

type checker struct {
	file  string
	diags diagList
	// blockSettings collects the settings of the unrolled blocks.
	blockSettings []Setting
	// lets collects the value of every `let` that evaluated (Lets).
	lets []LetValue
}

// place is the body a statement stands in.
type place struct {
	where Where
	name  string // for messages: "`model tiny`", "`train`", "the top level"
}

// in is "in `model tiny`" or "at the top level".
func (p place) in() string {
	if p.where == TopLevel {
		return "at " + p.name
	}
	return "in " + p.name
}

func (c *checker) check(f *File) *Program {
	p := &Program{File: f.Name}
	top := newScope(nil)
	here := place{TopLevel, "the top level"}
	seen := map[string]*Stmt{}
	var model, train *Stmt
	var trainScope *scope
	errs := c.diags.errors
	for _, s := range f.Stmts {
		spec := c.specFor(s, here, seen)
		if spec == nil {
			continue
		}
		switch s.Keyword.Name {
		case "let":
			c.let(s, top)
		case "model":
			if model == nil {
				model = s
				c.model(s, top, p)
			}
		case "train":
			if train == nil {
				train, trainScope = s, top
			}
		}
	}
	if model == nil && c.diags.errors > errs {
		return p // an unknown statement at the top level is likely the model
	}
	if model == nil {
		start := Pos{File: f.Name, Line: 1, Col: 1}
		c.diags.errorf(start, Pos{}, "no `model` block in the file").
			help("every .mhc file describes one model: `model NAME { vocab 256; context 128; embed dim=128; ... }`")
		return p
	}
	// train is checked after the model so its defaults can point at it.
	if train != nil {
		c.train(train, trainScope, p)
	} else {
		c.train(&Stmt{Keyword: Ident{Name: "train", Pos: model.Pos, End: model.Keyword.End}, Pos: model.Pos, Body: &Body{}}, top, p)
	}
	return p
}

// let checks `let NAME = expr` and defines NAME in sc.
func (c *checker) let(s *Stmt, sc *scope) {
	name := s.Let.Name
	if name.Name == "true" || name.Name == "false" {
		c.diags.errorf(name.Pos, name.End, "cannot redefine `%s`", name.Name).help("choose another name")
		return
	}
	if prev := sc.lookup(name.Name); prev != nil {
		c.diags.errorf(name.Pos, name.End, "`%s` is already defined", name.Name).
			related(prev.pos, prev.end, "`%s` is first defined here", name.Name).
			help("choose another name, or change the first definition")
		return
	}
	v, ok := c.eval(s.Let.Value, sc)
	if ok && v.kind == vWord { // a let holds a number, string, bool or list
		if isEnumWord(v.s) {
			c.diags.errorf(v.pos, v.end, "`let` cannot hold the keyword value `%s`", v.s).
				help("a `let` holds a number, a string, `true`/`false` or a list; write `%s` where it is used", v.s)
		} else {
			c.undefined(v, sc)
		}
		ok = false
	}
	if !ok {
		c.poison(sc, name) // later uses report nothing more
		return
	}
	sc.names[name.Name] = &binding{val: v, pos: name.Pos, end: name.End}
	c.lets = append(c.lets, LetValue{Name: name.Name, Value: letText(v), Pos: name.Pos})
}

// poison defines a name whose value had an error, so that its uses report
// nothing more.
func (c *checker) poison(sc *scope, name Ident) {
	sc.names[name.Name] = &binding{val: value{kind: vWord, s: poisoned}, pos: name.Pos, end: name.End}
}

// poisoned marks a let whose value had an error.
const poisoned = "\x00poisoned"

// item is one element of a model or repeat body before unrolling: a
// block or a nested repeat.
type item struct {
	block  *blockT
	repeat *repeatT
}

type blockT struct {
	b    Block
	attn *inst // the `attention` statement, for the semantic checks
	// settings are the block's settings, with paths relative to the block.
	settings []Setting
}

type repeatT struct {
	n     int
	items []item
}

func (c *checker) model(s *Stmt, parent *scope, p *Program) {
	m := &p.Model
	in := c.instance(s, Lookup("model"), parent)
	m.Name = in.name(0)
	var lets []Setting
	if in.labelOK(0) {
		name := written("model.name", m.Name, in.labels[0].pos)
		name.Neutral = true
		lets = append(lets, name)
	}
	m.Pos = s.Pos
	sc := newScope(parent)
	here := place{InModel, fmt.Sprintf("`model %s`", m.Name)}
	seen := map[string]*Stmt{}
	stmts := map[string]*inst{}
	var items []item
	var lastBlock, finalNorm *Stmt
	hasBlocks := false
	for _, st := range s.Body.Stmts {
		spec := c.specFor(st, here, seen)
		if spec == nil {
			continue
		}
		switch kw := st.Keyword.Name; kw {
		case "let":
			c.let(st, sc)
			if set, ok := letSetting("model", st, sc); ok {
				set.Neutral = true // its value is in the settings that use it
				lets = append(lets, set)
			}
		case "repeat", "layer", "block":
			hasBlocks = true
			lastBlock = st
			if it, ok := c.item(st, spec, sc); ok {
				items = append(items, it)
			}
		default:
			if kw == "norm" {
				finalNorm = st
			}
			stmts[kw] = c.instance(st, spec, sc)
		}
	}
	if finalNorm != nil && lastBlock != nil && lastBlock.Pos.Offset > finalNorm.Pos.Offset && !finalNorm.Keyword.Pos.IsOverride() {
		c.diags.errorf(finalNorm.Keyword.Pos, finalNorm.Keyword.End, "the final `norm` must come after the blocks").
			related(lastBlock.Keyword.Pos, lastBlock.Keyword.End, "`%s` comes after it", c.stmtText(lastBlock, min(1, len(lastBlock.Labels)))).
			help("move it after the last `block` or `repeat`")
	}
	c.missing(s, here, seen)

	get := func(kw string) *inst {
		if x := stmts[kw]; x != nil {
			return x
		}
		return c.absent(kw, s.Pos)
	}
	if x := stmts["vocab"]; x != nil {
		m.Vocab = int(x.labelInt(0))
	}
	if x := stmts["context"]; x != nil {
		m.Context = int(x.labelInt(0))
	}
	embed := stmts["embed"]
	if embed != nil {
		m.Embed = Embed{Dim: int(embed.int("dim")), InitStd: embed.normal("init"), Pos: embed.stmt.Pos}
	}
	m.Residual = c.residual(stmts["residual"], s.Pos)
	fn := get("norm")
	m.FinalNorm = Norm{Kind: fn.kind, Eps: fn.float("eps"), Pos: fn.pos}
	h := get("head")
	m.Head = Head{Tied: h.label(0) != "untied", Pos: h.pos}
	if !m.Head.Tied {
		m.Head.InitStd = m.Embed.InitStd
		if h.ok["init"] {
			m.Head.InitStd = h.normal("init")
		}
	}

	if !hasBlocks {
		c.diags.errorf(s.Keyword.Pos, s.Keyword.End, "model `%s` has no blocks", m.Name).
			help("add at least one block, e.g. `block attn { norm rms; attention heads=4 }`")
	}
	if n := countBlocks(items); n > maxBlocks {
		c.diags.errorf(s.Keyword.Pos, s.Keyword.End, "model `%s` unrolls to %s blocks; the limit is %d", m.Name, countString(n), maxBlocks).
			help("reduce the `repeat` counts")
		return
	}
	if embed != nil && embed.ok["dim"] {
		dimPos, dimEnd := embed.attrSpan("dim")
		c.blockChecks(items, m.Embed.Dim, dimPos, dimEnd)
	}
	c.unroll(m, items, -1)

	// The settings: name and lets, then the statements in table order with
	// the blocks where `block` stands.
	p.Settings = append(p.Settings, lets...)
	for i := range Schema {
		spec := &Schema[i]
		switch {
		case spec.Keyword == "block":
			p.Settings = append(p.Settings, c.blockSettings...)
		case spec.In&InModel == 0 || spec.Body || spec.Keyword == "let":
		case spec.Keyword == "residual" && stmts["residual"] == nil:
			p.Settings = append(p.Settings, Setting{Path: "model.residual", Value: ResidualPlain})
		default:
			p.Settings = append(p.Settings, settingsOf("model."+spec.Keyword, get(spec.Keyword))...)
		}
	}
	if !m.Head.Tied && !h.ok["init"] { // the computed default: the embedding's init
		p.Settings = append(p.Settings, Setting{Path: "model.head.init", Value: valueText(TypeNormal, value{f: m.Head.InitStd}), Neutral: true})
	}
}

func countString(n int) string {
	if n == maxInt {
		return "too many"
	}
	return fmt.Sprint(n)
}

const maxInt = int(^uint(0) >> 1)

// countBlocks counts the unrolled blocks, saturating at maxInt.
func countBlocks(items []item) int {
	n := 0
	for _, it := range items {
		k := 1
		if it.repeat != nil {
			sub := countBlocks(it.repeat.items)
			if sub != 0 && it.repeat.n > maxInt/sub {
				return maxInt
			}
			k = it.repeat.n * sub
		}
		if n > maxInt-k {
			return maxInt
		}
		n += k
	}
	return n
}

// item checks a `block`, `repeat` or `layer` statement and returns its
// template; a `layer` is a repeat of one iteration whose body holds
// blocks only.
func (c *checker) item(st *Stmt, spec *StatementSpec, sc *scope) (item, bool) {
	kw := st.Keyword.Name
	if kw == "block" {
		b := c.block(st, spec, sc)
		return item{block: b}, b != nil
	}
	in := c.instance(st, spec, sc)
	r := &repeatT{n: 1}
	here := place{InLayer, "`layer`"}
	ok := true
	if kw == "repeat" {
		r.n, here, ok = int(in.labelInt(0)), place{InRepeat, "`repeat`"}, in.labelOK(0)
		if !ok {
			r.n = 0
		}
	}
	inner := newScope(sc)
	seen := map[string]*Stmt{}
	var run map[string]*Stmt // block names in the current layer
	hasBlocks := false
	for _, x := range st.Body.Stmts {
		xs := c.specFor(x, here, seen)
		if xs == nil {
			continue
		}
		switch x.Keyword.Name {
		case "let":
			c.let(x, inner)
		case "repeat", "layer", "block":
			hasBlocks = true
			it, ok := c.item(x, xs, inner)
			if !ok {
				continue
			}
			if it.repeat != nil {
				run = nil
			} else {
				if run == nil {
					run = map[string]*Stmt{}
				}
				name := it.block.b.Name
				if prev := run[name]; prev != nil && name != "" {
					p, e := x.Labels[0].Span()
					pp, pe := prev.Labels[0].Span()
					c.diags.errorf(p, e, "two blocks named `%s` in the same layer", name).
						related(pp, pe, "the other `%s` is here", name).
						help("rename one of them; the blocks of a layer need distinct names")
				}
				run[name] = x
			}
			r.items = append(r.items, it)
		}
	}
	if !hasBlocks {
		c.diags.warnf(st.Keyword.Pos, st.Keyword.End, "`%s` has no blocks", kw).help("add a `block` to its body, or remove it")
	}
	return item{repeat: r}, ok
}

// block checks `block NAME { ... }` and returns its template.
func (c *checker) block(st *Stmt, spec *StatementSpec, sc *scope) *blockT {
	in := c.instance(st, spec, sc)
	t := &blockT{b: Block{Name: in.name(0), Pos: st.Pos}}
	inner := newScope(sc)
	here := place{InBlock, fmt.Sprintf("`block %s`", t.b.Name)}
	seen := map[string]*Stmt{}
	var norm, layerInst *inst
	var layer *Stmt
	errs := c.diags.errors
	for _, x := range st.Body.Stmts {
		xs := c.specFor(x, here, seen)
		if xs == nil {
			continue
		}
		switch kw := x.Keyword.Name; kw {
		case "let":
			c.let(x, inner)
		case "norm":
			norm = c.instance(x, xs, inner)
		case "attention", "mlp", "moe":
			xi := c.instance(x, xs, inner)
			if layer != nil {
				c.diags.errorf(x.Keyword.Pos, x.Keyword.End, "block `%s` has both `%s` and `%s`", t.b.Name, layer.Keyword.Name, kw).
					related(layer.Keyword.Pos, layer.Keyword.End, "`%s` is here", layer.Keyword.Name).
					help("a block holds one layer; split it into two blocks")
				continue
			}
			layer, layerInst = x, xi
			switch kw {
			case "attention":
				t.attn = xi
				t.b.Attention = &Attention{Kind: xi.kind, Heads: int(xi.int("heads")), KVHeads: int(xi.int("kv_heads")), HeadDim: int(xi.int("head_dim")),
					QKNorm: xi.bool("qk_norm"), Rope: xi.bool("rope"), RopeBase: xi.float("rope_base"), Pos: x.Pos}
				if t.b.Attention.MLA() {
					t.b.Attention.KVRank, t.b.Attention.QRank, t.b.Attention.RopeDim = int(xi.int("kv_rank")), int(xi.int("q_rank")), int(xi.int("rope_dim"))
				}
			case "mlp":
				t.b.MLP = &MLP{Hidden: int(xi.int("hidden")), Act: xi.str("act"), Pos: x.Pos}
			default:
				t.b.MoE = c.moe(xi) // moe.go
			}
		}
	}
	if layer == nil && c.diags.errors == errs {
		c.diags.errorf(st.Keyword.Pos, st.Keyword.End, "block `%s` has no `attention`, `mlp` or `moe`", t.b.Name).
			help("add `attention heads=4`, `mlp hidden=512` or `moe experts=8 active=2 hidden=128` to the block")
	}
	if norm == nil {
		norm = c.absent("norm", st.Pos)
	}
	t.b.Norm = Norm{Kind: norm.kind, Eps: norm.float("eps"), Pos: norm.pos}
	t.settings = settingsOf("norm", norm)
	if layerInst != nil {
		t.settings = append(t.settings, settingsOf(layerInst.spec.Keyword, layerInst)...)
	}
	return t
}

// blockChecks runs the checks that need the model width, once per block
// statement.
func (c *checker) blockChecks(items []item, dim int, dimPos, dimEnd Pos) {
	for _, it := range items {
		if it.repeat != nil {
			c.blockChecks(it.repeat.items, dim, dimPos, dimEnd)
			continue
		}
		a, in := it.block.b.Attention, it.block.attn
		if a == nil || in == nil || !in.ok["heads"] || dim <= 0 {
			continue
		}
		c.attentionChecks(a, in, dim, dimPos, dimEnd)
		// explain shows the resolved defaults (0 stands for heads, dim / heads
		// and head_dim / 2)
		for i, set := range it.block.settings {
			switch {
			case set.Source != FromDefault:
			case set.Path == "attention.kv_heads":
				it.block.settings[i].Value = strconv.Itoa(a.KVHeads)
			case set.Path == "attention.head_dim" && a.HeadDim > 0:
				it.block.settings[i].Value = strconv.Itoa(a.HeadDim)
			case set.Path == "attention.rope_dim" && a.RopeDim > 0:
				it.block.settings[i].Value = strconv.Itoa(a.RopeDim)
			}
		}
	}
}

// attentionChecks checks an attention statement's head counts and widths
// against the model width and resolves KVHeads and HeadDim (and, for
// MLA, RopeDim: mla.go).
func (c *checker) attentionChecks(a *Attention, in *inst, dim int, dimPos, dimEnd Pos) {
	hp, he := in.attrSpan("heads")
	if a.KVHeads == 0 || a.MLA() {
		a.KVHeads = a.Heads
	} else if a.Heads%a.KVHeads != 0 && in.ok["kv_heads"] {
		kp, ke := in.attrSpan("kv_heads")
		d := c.diags.errorf(kp, ke, "`kv_heads=%d` does not divide `heads=%d`", a.KVHeads, a.Heads).
			related(hp, he, "`heads` is set here")
		if divs := nearDivisors(a.Heads, a.KVHeads); divs != "" {
			d.help("each key/value head serves heads / kv_heads query heads: use a divisor of %d, such as %s", a.Heads, divs)
		}
	}
	written := in.ok["head_dim"] && a.HeadDim > 0
	if !written {
		if dim%a.Heads != 0 {
			d := c.diags.errorf(hp, he, "`heads=%d` does not divide the model width `dim=%d`", a.Heads, dim).
				related(dimPos, dimEnd, "`dim` is set here")
			if divs := nearDivisors(dim, a.Heads); divs != "" {
				d.help("use a divisor of %d, such as %s, or set `head_dim`", dim, divs)
			}
			return
		}
		a.HeadDim = dim / a.Heads
	}
	if a.MLA() {
		c.mlaChecks(a, in, dim) // RoPE acts on rope_dim, not on head_dim
		return
	}
	if !a.Rope || a.HeadDim%2 == 0 {
		return
	}
	if written {
		p, e := in.attrSpan("head_dim")
		d := c.diags.errorf(p, e, "RoPE needs an even head dimension, but `head_dim` is %d", a.HeadDim)
		if in.ok["rope"] {
			rp, re := in.attrSpan("rope")
			d.related(rp, re, "`rope` is set here")
		}
		d.help("choose an even `head_dim`, or set `rope=false`")
		return
	}
	rp, re := in.attrSpan("rope")
	if !in.ok["rope"] {
		rp, re = in.stmt.Keyword.Pos, in.stmt.Keyword.End
	}
	c.diags.errorf(rp, re, "RoPE needs an even head dimension, but `dim / heads` is %d / %d = %d", dim, a.Heads, a.HeadDim).
		related(hp, he, "`heads` is set here").
		help("choose `heads` so that dim / heads is even, set an even `head_dim`, or set `rope=false`")
}

// nearDivisors lists up to three divisors of n closest to x.
func nearDivisors(n, x int) string {
	var divs []int
	for d := 1; d <= n && d <= 1<<16; d++ {
		if n%d == 0 {
			divs = append(divs, d)
		}
	}
	dist := func(d int) int {
		if d > x {
			return d - x
		}
		return x - d
	}
	for i := 1; i < len(divs); i++ { // insertion sort by distance, stable
		for j := i; j > 0 && dist(divs[j]) < dist(divs[j-1]); j-- {
			divs[j], divs[j-1] = divs[j-1], divs[j]
		}
	}
	if len(divs) > 3 {
		divs = divs[:3]
	}
	sort.Ints(divs)
	var parts []string
	for _, d := range divs {
		parts = append(parts, fmt.Sprint(d))
	}
	return strings.Join(parts, ", ")
}

// unroll expands the templates into m.Blocks. layer is the layer of the
// current run of blocks in a repeat iteration, or -1 outside any repeat
// (where each block is its own layer).
func (c *checker) unroll(m *Model, items []item, depth int) {
	layer := -1
	for _, it := range items {
		if it.repeat != nil {
			for k := 0; k < it.repeat.n; k++ {
				c.unroll(m, it.repeat.items, depth+1)
			}
			layer = -1
			continue
		}
		if depth < 0 || layer < 0 {
			layer = nextLayer(m)
		}
		b := it.block.b
		b.Layer = layer
		b.Index = len(m.Blocks)
		b.Path = fmt.Sprintf("blocks.%d.%s", layer, b.Name)
		for _, set := range it.block.settings {
			set.Path = "model." + b.Path + "." + set.Path
			c.blockSettings = append(c.blockSettings, set)
		}
		if b.Attention != nil {
			a := *b.Attention
			b.Attention = &a
		}
		if b.MLP != nil {
			x := *b.MLP
			b.MLP = &x
		}
		if b.MoE != nil {
			x := *b.MoE
			b.MoE = &x
		}
		m.Blocks = append(m.Blocks, b)
	}
}

func nextLayer(m *Model) int {
	if len(m.Blocks) == 0 {
		return 0
	}
	return m.Blocks[len(m.Blocks)-1].Layer + 1
}

// residual resolves the `residual` statement (nil: absent, plain).
func (c *checker) residual(in *inst, modelPos Pos) Residual {
	if in == nil {
		return Residual{Kind: ResidualPlain, Streams: 1, Pos: modelPos}
	}
	if in.kind == ResidualPlain {
		return Residual{Kind: ResidualPlain, Streams: 1, Pos: in.pos}
	}
	r := Residual{
		Kind:       ResidualHyper,
		Streams:    int(in.int("streams")),
		Constraint: in.str("constraint"),
		Dynamic:    in.bool("dynamic"),
		Sinkhorn:   int(in.int("sinkhorn")),
		Init:       in.str("init"),
		Alpha:      in.float("alpha"),
		PhiStd:     in.float("phi_std"),
		Collapse:   in.str("collapse"),
		Recompute:  in.bool("recompute"),
		Pos:        in.pos,
	}
	c.residualChecks(in, r) // hc.go
	return r
}

func (c *checker) train(s *Stmt, parent *scope, p *Program) {
	t := &p.Train
	t.Pos = s.Pos
	var lets []Setting
	sc := newScope(parent)
	here := place{InTrain, "`train`"}
	seen := map[string]*Stmt{}
	stmts := map[string]*inst{}
	for _, st := range s.Body.Stmts {
		spec := c.specFor(st, here, seen)
		if spec == nil {
			continue
		}
		if st.Keyword.Name == "let" {
			c.let(st, sc)
			if set, ok := letSetting("train", st, sc); ok {
				lets = append(lets, set)
			}
			continue
		}
		stmts[st.Keyword.Name] = c.instance(st, spec, sc)
	}
	get := func(kw string) *inst {
		if x := stmts[kw]; x != nil {
			return x
		}
		return c.absent(kw, s.Pos)
	}
	d := get("data")
	t.Data = Data{Kind: d.kind, Sampling: SamplingRandom, Pos: d.pos}
	if d.kind == DataFile {
		t.Data.Path = d.str("file")
		t.Data.ValFraction = d.float("val")
		t.Data.Format = d.str("format")
		t.Data.Vocab = int(d.int("vocab"))
		t.Data.Sampling = d.str("sampling")
		if t.Data.Path == "" && d.ok["file"] {
			p, e := d.attrSpan("file")
			c.diags.errorf(p, e, "`file` is empty").help(`name the text file to train on, e.g. file="input.txt"`)
		}
		c.dataVocab(d, t.Data, p.Model.Vocab)
	} else {
		t.Data.Task = d.str("task")
	}
	t.Batch = int(get("batch").labelInt(0))
	steps := get("steps")
	t.Steps = int(steps.labelInt(0))
	o := get("optimizer")
	b1, b2 := o.pair("betas")
	t.Optimizer = Optimizer{Kind: o.kind, LR: o.float("lr"), Beta1: b1, Beta2: b2, Eps: o.float("eps"),
		Momentum: o.float("momentum"), WeightDecay: o.float("weight_decay"), Clip: o.float("clip"),
		Accumulate: int(o.int("accumulate")), Pos: o.pos}
	if o.kind == OptimizerAdamW {
		t.Optimizer.Moments = o.str("moments")
	}
	sch := get("schedule")
	t.Schedule = Schedule{Kind: sch.kind, Warmup: int(sch.int("warmup")), MinLR: sch.float("min_lr"),
		Milestones: sch.floats("milestones"), Factors: sch.floats("factors"), Pos: sch.pos}
	if sch.kind == ScheduleStep {
		c.milestones(sch, t.Schedule)
	}
	if sch.ok["warmup"] && t.Schedule.Warmup > t.Steps {
		p, e := sch.attrSpan("warmup")
		c.diags.warnf(p, e, "`warmup=%d` is longer than the run (`steps %d`)", t.Schedule.Warmup, t.Steps).
			help("the learning rate never reaches its peak; lower `warmup`")
	}
	ev := get("eval")
	t.Eval = Eval{Every: int(ev.int("every")), Batches: int(ev.int("batches")), Pos: ev.pos}
	ck := get("checkpoint")
	t.Checkpoint = Checkpoint{Every: int(ck.int("every")), Keep: int(ck.int("keep")), Pos: ck.pos}
	lg := get("log")
	t.Log = Log{Every: int(lg.int("every")), Pos: lg.pos}
	t.Seed = get("seed").labelInt(0)

	p.Settings = append(p.Settings, lets...)
	for i := range Schema {
		if spec := &Schema[i]; spec.In&InTrain != 0 && !spec.Body && spec.Keyword != "let" {
			p.Settings = append(p.Settings, settingsOf("train."+spec.Keyword, get(spec.Keyword))...)
		}
	}
	c.diagnostics(get("diagnostics"), t, p) // hc.go
}

// dataVocab checks the declared vocabulary of a data file against the
// model's.
func (c *checker) dataVocab(d *inst, data Data, modelVocab int) {
	if !d.ok["vocab"] {
		return
	}
	p, e := d.attrSpan("vocab")
	switch {
	case data.Format == DataFormatText:
		c.diags.warnf(p, e, "`vocab` has no effect with `format=text`: text is bytes, vocabulary 256").
			help("remove it, or use `format=bin` for a file of uint16 tokens")
	case modelVocab > 0 && data.Vocab > modelVocab:
		c.diags.errorf(p, e, "the data's `vocab=%d` exceeds the model's vocabulary of %d", data.Vocab, modelVocab).
			help("raise the model's `vocab` to at least %d", data.Vocab)
	}
}

// milestones checks a step schedule's milestones and factors: as many of
// each, milestones ascending.
func (c *checker) milestones(in *inst, s Schedule) {
	for _, name := range []string{"milestones", "factors"} {
		if in.keys[name] != nil && !in.ok[name] {
			return // reported already
		}
	}
	if len(s.Milestones) != len(s.Factors) && (in.ok["milestones"] || in.ok["factors"]) {
		name, other := "factors", "milestones"
		if !in.ok["factors"] {
			name, other = "milestones", "factors"
		}
		p, e := in.attrSpan(name)
		count := func(n int) string {
			if n == 1 {
				return "1 value"
			}
			return fmt.Sprintf("%d values", n)
		}
		d := c.diags.errorf(p, e, "`%s` has %s but `%s` has %s", name, count(len(in.floats(name))), other, count(len(in.floats(other))))
		if in.ok[other] {
			op, oe := in.attrSpan(other)
			d.related(op, oe, "`%s` is set here", other)
		} else {
			d.help("`%s` defaults to %s; write it too, with one value per milestone", other, valueText(TypeFloatList, in.val(other)))
		}
		d.help("each milestone needs its factor: the rate from that point on, as a fraction of lr")
	}
	if in.ok["milestones"] {
		for i := 1; i < len(s.Milestones); i++ {
			if s.Milestones[i] <= s.Milestones[i-1] {
				v := in.vals["milestones"].list[i]
				c.diags.errorf(v.pos, v.end, "`milestones` must be ascending, but %s follows %s", formatFloat(s.Milestones[i]), formatFloat(s.Milestones[i-1])).
					help("list the fractions of training in increasing order, e.g. `[0.8, 0.9]`")
				break
			}
		}
	}
}
