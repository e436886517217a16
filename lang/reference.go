package lang

import (
	"fmt"
	"strings"
)

// Reference returns the statement reference of docs/language.md in
// Markdown, generated from Schema: for every statement its synopsis, where
// it may appear, and a table of its labels and attributes with type,
// default, range and meaning. A test keeps the document in sync with it.
func Reference() string {
	var b strings.Builder
	for i := range Schema {
		s := &Schema[i]
		fmt.Fprintf(&b, "### `%s`\n\n", s.Keyword)
		fmt.Fprintf(&b, "```\n%s\n```\n\n", s.Usage())
		fmt.Fprintf(&b, "%s.\n\n", upperFirst(s.Doc))
		fmt.Fprintf(&b, "%s.\n\n", strings.Join(s.facts(), "; "))
		if len(s.Labels) == 0 && len(s.Attrs) == 0 {
			continue
		}
		b.WriteString("| name | type | default | range | meaning |\n|---|---|---|---|---|\n")
		for _, l := range s.Labels {
			fmt.Fprintf(&b, "| %s (label) | %s | %s | %s | %s |\n", l.Name, typeDoc(l.Type, l.Values), labelDefault(l), l.Range, cell(l.Doc))
		}
		for _, a := range s.Attrs {
			doc := cell(a.Doc)
			if len(a.Kinds) > 0 {
				doc += " (" + kindsDoc(s.Keyword, a.Kinds) + " only)"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", a.Name, typeDoc(a.Type, a.Values), attrDefault(a), a.Range, doc)
		}
		b.WriteString("\n")
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// facts are the short facts about a statement: where it may appear, how
// often, an example and its `--set` path.
func (s *StatementSpec) facts() []string {
	facts := []string{"Where: " + s.In.String()}
	switch {
	case s.Required:
		facts = append(facts, "required, once")
	case s.Once:
		facts = append(facts, "at most once")
	}
	facts = append(facts, "example: `"+s.Example+"`")
	if path := setPath(s); path != "" {
		facts = append(facts, "`--set` path: `"+path+"`")
	}
	return facts
}

// labelDefault is the default column of a label: its default in code
// style, "required", or "" when it has neither.
func labelDefault(l LabelSpec) string {
	if l.Required && l.Default == "" {
		return "required"
	}
	return code(l.Default)
}

// attrDefault is the default column of an attribute: its default in code
// style, "required", the description of a computed default, or "—".
func attrDefault(a AttrSpec) string {
	switch {
	case a.Required:
		return "required"
	case a.DefaultDoc != "":
		return a.DefaultDoc
	case a.Default == "":
		return "—"
	}
	return code(a.Default)
}

// setPath is the `--set` path of a statement, "" when it cannot be set.
func setPath(s *StatementSpec) string {
	if s.Body || s.Keyword == "let" {
		return ""
	}
	top := "model"
	switch {
	case s.In&InTrain != 0:
		top = "train"
	case s.In&InModel == 0:
		return ""
	}
	path := top + "." + s.Keyword
	switch {
	case len(s.Labels) > 0 && len(s.Attrs) > 0:
		return path + "[.ATTRIBUTE]"
	case len(s.Attrs) > 0:
		return path + ".ATTRIBUTE"
	}
	return path
}

func typeDoc(t Type, values []string) string {
	switch t {
	case TypeInt:
		return "integer"
	case TypeFloat:
		return "number"
	case TypeString:
		return "string"
	case TypeBool:
		return "bool"
	case TypeEnum:
		return strings.Join(quoteAll(values), " \\| ")
	case TypeName:
		return "name"
	case TypeFloatPair:
		return "`[number, number]`"
	case TypeNormal:
		return "`normal(STD)`"
	case TypeFloatList:
		return "`[number, ...]`"
	}
	return "value"
}

func kindsDoc(kw string, kinds []string) string {
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = "`" + kindText(kw, k) + "`"
	}
	return strings.Join(parts, ", ")
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + s + "`"
}

// cell escapes a table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
