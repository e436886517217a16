package ir

import (
	"fmt"
	"strings"
)

// familyOrder is the order of the families in OpReference; a family not
// listed comes after these.
var familyOrder = []string{"leaves", "elementwise", "reductions and softmax", "layout", "products", "index",
	"sequence", "normalisation, activations, loss", "hyper-connections"}

// OpReference returns the op table as Markdown, one table per family:
// operands with their element types, attributes (optional ones marked ?),
// the op's kind and its meaning. docs/ir.md holds it, generated.
func OpReference() string {
	var b strings.Builder
	rank := func(f string) int {
		for i, x := range familyOrder {
			if x == f {
				return i
			}
		}
		return len(familyOrder)
	}
	var fams []string
	seen := map[string]bool{}
	for _, d := range Ops {
		if !seen[d.Family] {
			seen[d.Family] = true
			fams = append(fams, d.Family)
		}
	}
	for i := 1; i < len(fams); i++ {
		for j := i; j > 0 && rank(fams[j]) < rank(fams[j-1]); j-- {
			fams[j], fams[j-1] = fams[j-1], fams[j]
		}
	}
	for _, f := range fams {
		fmt.Fprintf(&b, "\n**%s**\n\n| op | operands | attributes | kind | meaning |\n|---|---|---|---|---|\n", f)
		for _, d := range Ops {
			if d.Family != f {
				continue
			}
			var args []string
			for i, a := range d.Args {
				s := a.Name + " " + a.Kind.String()
				if d.Variadic && i == len(d.Args)-1 {
					s += " …"
				}
				args = append(args, s)
			}
			var attrs []string
			for _, a := range d.Attrs {
				if a.Key == MembersAttr {
					continue
				}
				s := a.Key + " " + a.Kind.String()
				if a.Optional {
					s = a.Key + "? " + a.Kind.String()
				}
				attrs = append(attrs, s)
			}
			kind := "primitive"
			switch {
			case d.Fused:
				kind = "fused"
			case d.ForwardOnly:
				kind = "forward only"
			}
			if d.Scalar != nil {
				kind += ", elementwise"
			}
			if d.Commutative {
				kind += ", commutative"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", d.Name, cell(args), cell(attrs), kind, d.Doc)
		}
	}
	return b.String()
}

func cell(xs []string) string {
	if len(xs) == 0 {
		return "—"
	}
	return strings.Join(xs, ", ")
}
