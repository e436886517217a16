package main

// This file is the one flag layer of every command, declared by struct
// tags next to each flag:
//
//   - `setting:"PATH"`: the flag overrides a setting of the program. Its
//     value goes to the checker as the override PATH=VALUE (after the
//     --set ones), named by the flag as the user wrote it, so the schema
//     checks its type and range with the same messages as --set and the
//     .mhc file, and the checker's warnings (a warmup longer than the run)
//     appear whichever way the setting was given. The field is a string:
//     the schema reads the value.
//   - `schema:"PATH"`: a numeric flag that is not an override (such as
//     eval's --vocab) but takes the range of the schema's setting PATH.
//   - `min:"X"`, `max:"X"`: the accepted range of any other numeric flag.
//
// Every check reports a diagnostic positioned at the flag ("--windows -3:
// error: `windows` must be at least 0, found -3") and exits with
// exitUsage. A negative number after a flag that takes a value is that
// value (kong alone would read it as a short flag), and an unknown flag
// that names a setting of the schema points to --set.

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/mhcc/mhcc/lang"
)

// commandFlags lists the flags of a command node, its parents' last.
func commandFlags(n *kong.Node) []*kong.Flag {
	var out []*kong.Flag
	for ; n != nil; n = n.Parent {
		out = append(out, n.Flags...)
	}
	return out
}

// overridesOf returns the overrides of the command line of node n: the
// --set values in order, then the setting flags that were given, in
// declaration order, each named by the flag as written.
func overridesOf(n *kong.Node) (set, names []string) {
	flags := commandFlags(n)
	for _, f := range flags {
		if f.Name == "set" && f.Set {
			for _, s := range f.Target.Interface().([]string) {
				set = append(set, s)
				names = append(names, "")
			}
		}
	}
	for _, f := range flags {
		path := f.Tag.Get("setting")
		if path == "" || !f.Set {
			continue
		}
		v := fmt.Sprint(f.Target.Interface())
		set = append(set, path+"="+v)
		names = append(names, "--"+f.Name+" "+v)
	}
	return set, names
}

// checkFlagValues checks the numeric flags of node n that were given
// against their ranges (tags `schema`, `min`, `max`).
func checkFlagValues(n *kong.Node) lang.Diagnostics {
	var diags lang.Diagnostics
	for _, f := range commandFlags(n) {
		if !f.Set {
			continue
		}
		rng, what, ok := flagRange(f)
		if !ok {
			continue
		}
		x, isNum := number(f.Target)
		if !isNum || rng.Contains(x) {
			continue
		}
		text := strconv.FormatFloat(x, 'g', -1, 64)
		diags = append(diags, lang.Diagnostic{Severity: lang.Error, Pos: lang.Pos{File: "--" + f.Name + " " + text},
			Message: fmt.Sprintf("`%s` must be %s, found %s", what, rng, text)})
	}
	return diags
}

// flagRange is the range a flag's value must lie in, and what the
// message calls the value.
func flagRange(f *kong.Flag) (lang.Range, string, bool) {
	if path := f.Tag.Get("schema"); path != "" {
		s, ok := lookupSetting(path)
		return s.rng, s.name, ok
	}
	var r lang.Range
	if v := f.Tag.Get("min"); v != "" {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return r, "", false
		}
		r.Min, r.HasMin = x, true
	}
	if v := f.Tag.Get("max"); v != "" {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return r, "", false
		}
		r.Max, r.HasMax = x, true
	}
	return r, f.Name, r.HasMin || r.HasMax
}

// number reads an integer or float flag (or a pointer to one).
func number(v reflect.Value) (float64, bool) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return 0, false
		}
		v = v.Elem()
	}
	switch {
	case v.CanInt():
		return float64(v.Int()), true
	case v.CanUint():
		return float64(v.Uint()), true
	case v.CanFloat():
		return v.Float(), true
	}
	return 0, false
}

// negativeNumber matches an argument that is a negative number.
var negativeNumber = regexp.MustCompile(`^-(\d|\.\d|[Ii]nf$)`)

// joinNegatives rewrites `--flag -3` as `--flag=-3` (and `-O -1` as
// `--opt=-1`) for every flag of the grammar that takes a value, so that
// a negative value reaches the flag's own check instead of being read as
// a short flag.
func joinNegatives(app *kong.Application, args []string) []string {
	long := map[string]string{} // "--steps" or "-O" → "--steps", "--opt"
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			if f.IsBool() || f.IsCounter() {
				continue
			}
			long["--"+f.Name] = "--" + f.Name
			if f.Short != 0 {
				long["-"+string(f.Short)] = "--" + f.Name
			}
			for _, a := range f.Aliases {
				long["--"+a] = "--" + a
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(app.Node)
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if name, ok := long[a]; ok && i+1 < len(args) && negativeNumber.MatchString(args[i+1]) {
			out = append(out, name+"="+args[i+1])
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}

// schemaSetting is one setting the schema lets --set change.
type schemaSetting struct {
	path   string     // train.optimizer.lr
	name   string     // lr: the attribute, or the statement's keyword
	doc    string     // the schema's description
	def    string     // the default ("" when none or computed)
	defDoc string     // a computed default, described
	typ    lang.Type  // its type
	rng    lang.Range // numeric types: the accepted values
}

// schemaSettings lists the settings of the model and train blocks that
// --set can change, from the schema.
func schemaSettings() []schemaSetting {
	var out []schemaSetting
	for _, sp := range lang.Schema {
		if sp.Body || sp.Keyword == "let" {
			continue
		}
		for _, where := range []struct {
			in     lang.Where
			prefix string
		}{{lang.InModel, "model."}, {lang.InTrain, "train."}} {
			if sp.In&where.in == 0 {
				continue
			}
			if len(sp.Labels) > 0 {
				l := sp.Labels[0]
				out = append(out, schemaSetting{path: where.prefix + sp.Keyword, name: sp.Keyword, doc: l.Doc,
					def: l.Default, typ: l.Type, rng: l.Range})
			}
			for _, a := range sp.Attrs {
				out = append(out, schemaSetting{path: where.prefix + sp.Keyword + "." + a.Name, name: a.Name, doc: a.Doc,
					def: a.Default, defDoc: a.DefaultDoc, typ: a.Type, rng: a.Range})
			}
		}
	}
	return out
}

// lookupSetting returns the schema's setting at path.
func lookupSetting(path string) (schemaSetting, bool) {
	for _, s := range schemaSettings() {
		if s.path == path {
			return s, true
		}
	}
	return schemaSetting{}, false
}

// settingHint is the advice for an unknown flag --name that names
// settings of the schema (by attribute, keyword or KEYWORD_ATTRIBUTE):
// the --set to write instead, with value when the command line gave one.
// It is "" when the name matches no setting.
func settingHint(name, value string) string {
	key := strings.ReplaceAll(strings.ToLower(name), "-", "_")
	var found []schemaSetting
	for _, s := range schemaSettings() {
		parts := strings.Split(s.path, ".")
		match := key == parts[len(parts)-1]
		if len(parts) == 3 {
			match = match || key == parts[1]+"_"+parts[2]
		}
		if match {
			found = append(found, s)
		}
	}
	if words := strings.ReplaceAll(key, "_", " "); len(found) == 0 && strings.Contains(words, " ") {
		// --learning-rate: the words of a setting's description
		for _, s := range schemaSettings() {
			if strings.Contains(s.doc, words) {
				found = append(found, s)
			}
		}
	}
	set := func(s schemaSetting) string {
		v := value
		if v == "" {
			v = placeholderOf(s.typ)
		}
		return "--set " + s.path + "=" + v
	}
	switch len(found) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf("it is a setting of the program: %s (%s)", set(found[0]), found[0].doc)
	}
	var opts []string
	for _, s := range found {
		opts = append(opts, fmt.Sprintf("%s (%s)", set(s), s.doc))
	}
	return "settings of the program by that name: " + strings.Join(opts, "; ")
}

// placeholderOf is a value placeholder for a setting of type t.
func placeholderOf(t lang.Type) string {
	switch t {
	case lang.TypeInt:
		return "N"
	case lang.TypeFloat:
		return "X"
	}
	return "VALUE"
}

// unknownFlag returns the flag name of kong's "unknown flag --NAME"
// error, when kong has no suggestion of its own, and the value given with
// it on the command line.
func unknownFlag(msg string, args []string) (name, value string, ok bool) {
	rest, isUnknown := strings.CutPrefix(msg, "unknown flag --")
	if !isUnknown || strings.ContainsAny(rest, " ,") {
		return "", "", false
	}
	for i, a := range args {
		if v, found := strings.CutPrefix(a, "--"+rest+"="); found {
			return rest, v, true
		}
		if a == "--"+rest && i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") &&
			(!strings.HasPrefix(args[i+1], "-") || negativeNumber.MatchString(args[i+1])) {
			return rest, args[i+1], true
		}
	}
	return rest, "", true
}

// settingNote is the part of a setting flag's help that names the
// setting and its value: the program's (prog, for a compiled program) or
// the schema's default.
func settingNote(path string, prog *lang.Program) string {
	if prog != nil {
		i := slices.IndexFunc(prog.Settings, func(s lang.Setting) bool { return s.Path == path })
		if i >= 0 {
			return fmt.Sprintf("Sets %s (this program: %s)", path, prog.Settings[i].Value)
		}
		return "Sets " + path
	}
	s, ok := lookupSetting(path)
	switch {
	case !ok:
		return "Sets " + path
	case s.def != "":
		return fmt.Sprintf("Sets %s (default: the file's, else %s)", path, s.def)
	case s.defDoc != "":
		return fmt.Sprintf("Sets %s (default: the file's, else %s)", path, strings.ReplaceAll(s.defDoc, "`", ""))
	}
	return "Sets " + path
}

// helpFormatter adds to kong's help of a flag what it does not show:
// the setting a setting flag changes, with its value, and the default of
// a flag whose placeholder hides it.
func helpFormatter(prog *lang.Program) kong.HelpValueFormatter {
	return func(v *kong.Value) string {
		h := kong.DefaultHelpValueFormatter(v)
		if v.Flag == nil {
			return h
		}
		if path := v.Tag.Get("setting"); path != "" {
			return strings.TrimSpace(h + " " + settingNote(path, prog) + ".")
		}
		if !v.HasDefault || v.Default == "" || v.IsBool() || strings.Contains(v.Help, "default") {
			return h
		}
		body, period := strings.CutSuffix(h, ".")
		if inner, ok := strings.CutSuffix(body, ")"); ok && strings.Contains(inner, "(") {
			body = inner + "; default: " + v.Default + ")" // (1: the raw loss; default: 20)
		} else {
			body += " (default: " + v.Default + ")"
		}
		if period {
			body += "."
		}
		return body
	}
}
