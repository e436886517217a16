package lang

import (
	"fmt"
	"strconv"
	"strings"
)

// This file records the resolved configuration with the origin of every
// value, for `mhcc explain`. The paths are the ones `--set` takes.

// Source says where a setting's value came from.
type Source int

// Sources of a setting.
const (
	FromDefault Source = iota // the schema's default
	FromFile                  // written in the file, at Setting.Pos
	FromSet                   // a `--set` override
)

// String returns "default", "file" or "--set".
func (s Source) String() string {
	switch s {
	case FromFile:
		return "file"
	case FromSet:
		return "--set"
	}
	return "default"
}

// Setting is one resolved configuration value.
type Setting struct {
	// Path names the value the way `--set` does: "train.optimizer.lr",
	// "model.residual", "model.d" (a `let`), or, for the statements inside
	// blocks (which cannot be set), "model.blocks.0.attn.attention.heads".
	Path string
	// Value is written as in an .mhc file: 4, 0.003, birkhoff, "input.txt",
	// [0.9, 0.95], normal(0.02).
	Value  string
	Source Source
	// Pos is where the value was written (FromFile), or the override's
	// position (FromSet); zero for defaults.
	Pos Pos
	// Neutral is set for a value that does not change the function a
	// trained model computes (a neutral attribute or label of the schema,
	// the model's name, a `let`): see ModelFunction.
	Neutral bool
}

// Origin is the comment `mhcc explain` prints after the value:
// "tiny.mhc:7:12", "default" or "--set".
func (s Setting) Origin() string {
	if s.Source == FromFile {
		return s.Pos.String()
	}
	return s.Source.String()
}

// maxExplainAlign caps the column the origins are aligned to.
const maxExplainAlign = 56

// Explain prints the resolved configuration, one `path = value` line per
// setting, each followed by `# origin`: the file position the value was
// written at, `default` or `--set`. Lines are in a fixed order: the model
// (its lets, statements, then every block after `repeat` is unrolled),
// then train.
func (p *Program) Explain() string {
	return p.explain(func(Setting) bool { return true })
}

// ExplainUnder prints the lines of Explain whose path is prefix or starts
// with prefix + ".", exactly as Explain prints them ("" when none is).
func (p *Program) ExplainUnder(prefix string) string {
	return p.explain(func(s Setting) bool {
		return s.Path == prefix || strings.HasPrefix(s.Path, prefix+".")
	})
}

// explain prints the lines of Explain of the settings keep accepts, with
// the alignment of all of them.
func (p *Program) explain(keep func(Setting) bool) string {
	width := 0
	for _, s := range p.Settings {
		width = max(width, len(s.Path)+3+len(s.Value))
	}
	width = min(width, maxExplainAlign)
	var b strings.Builder
	for _, s := range p.Settings {
		if !keep(s) {
			continue
		}
		line := s.Path + " = " + s.Value
		fmt.Fprintf(&b, "%-*s  # %s\n", width, line, s.Origin())
	}
	return b.String()
}

// sourceOf classifies a written value's position.
func sourceOf(p Pos) Source {
	if p.IsOverride() {
		return FromSet
	}
	return FromFile
}

// written returns a setting for a value written at pos.
func written(path, value string, pos Pos) Setting {
	s := Setting{Path: path, Value: value, Source: sourceOf(pos)}
	if s.Source == FromFile {
		s.Pos = pos
	}
	return s
}

// settingsOf lists the settings of one statement (written or absent): its
// first label, when the spec has one, as PREFIX, and its attributes that
// apply to its kind as PREFIX.ATTR.
func settingsOf(prefix string, in *inst) []Setting {
	spec := in.spec
	var out []Setting
	if len(spec.Labels) > 0 && !(spec.Keyword == "data" && in.kind == DataFile) {
		l := spec.Labels[0]
		switch {
		case in.labelOK(0):
			out = append(out, written(prefix, valueText(l.Type, in.labels[0]), in.labels[0].pos))
		case l.Default != "":
			out = append(out, Setting{Path: prefix, Value: valueText(l.Type, parseDefault(l.Type, l.Default))})
		}
		if len(out) > 0 {
			out[len(out)-1].Neutral = l.Neutral
		}
	}
	for _, a := range spec.Attrs {
		if !kindOK(a, in.kind) {
			continue
		}
		path := prefix + "." + a.Name
		if v, ok := in.vals[a.Name]; ok && in.ok[a.Name] {
			out = append(out, written(path, valueText(a.Type, v), in.keys[a.Name].Key.Pos))
		} else if a.Default != "" {
			out = append(out, Setting{Path: path, Value: valueText(a.Type, parseDefault(a.Type, a.Default))})
		} else {
			continue
		}
		out[len(out)-1].Neutral = a.Neutral
	}
	return out
}

// valueText prints a checked value of type t as it would be written.
func valueText(t Type, v value) string {
	switch t {
	case TypeInt:
		return strconv.FormatInt(v.i, 10)
	case TypeFloat:
		return formatFloat(v.f)
	case TypeString:
		return quoteString(v.s)
	case TypeBool:
		return strconv.FormatBool(v.b)
	case TypeEnum, TypeName:
		return v.s
	case TypeNormal:
		return "normal(" + formatFloat(v.f) + ")"
	case TypeFloatPair, TypeFloatList:
		parts := make([]string, len(v.list))
		for i, x := range v.list {
			parts[i] = formatFloat(x.f)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return v.String()
}

// letSetting is the setting of a `let` directly in the model or train
// block, once it is defined in sc.
func letSetting(prefix string, st *Stmt, sc *scope) (Setting, bool) {
	b := sc.names[st.Let.Name.Name]
	if b == nil || (b.val.kind == vWord && b.val.s == poisoned) {
		return Setting{}, false
	}
	text := letText(b.val)
	pos, _ := st.Let.Value.Span()
	if !pos.IsOverride() {
		pos = st.Let.Name.Pos
	}
	return written(prefix+"."+st.Let.Name.Name, text, pos), true
}

// letText prints the value of a `let` as it would be written.
func letText(v value) string {
	if v.kind == vString {
		return quoteString(v.s)
	}
	return v.String()
}

// Overrides lists the settings that came from `--set`, as PATH=VALUE, in
// Explain order: what a training header echoes.
func (p *Program) Overrides() []string {
	var out []string
	for _, s := range p.Settings {
		if s.Source == FromSet {
			out = append(out, s.Path+"="+s.Value)
		}
	}
	return out
}

// ModelFunction lists the settings that fix the function the trained
// model computes, one "path = value" line each: every model setting but
// the neutral ones (see Setting.Neutral). Two programs with equal lists
// compute the same function of the same parameters, so a checkpoint of
// one serves the other; runtimes record the list in checkpoints and
// compare it before they use one.
func (p *Program) ModelFunction() []string {
	var out []string
	for _, s := range p.Settings {
		if strings.HasPrefix(s.Path, "model.") && !s.Neutral {
			out = append(out, s.Path+" = "+s.Value)
		}
	}
	return out
}
