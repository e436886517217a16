package ablate

import (
	"fmt"
	"io"
	"strings"

	"github.com/mhcc/mhcc/backend/runtime/train"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/ir"
)

// Diff is what differs between two compiled models (`mhcc diff A B`).
type Diff struct {
	A, B string // the files, as given
	// Config lists the resolved settings (`mhcc explain`'s path = value
	// lines) whose values differ, in explain order.
	Config []SettingDiff
	// Params and FLOPs (forward, per token) of A and B.
	ParamsA, ParamsB int64
	FLOPsA, FLOPsB   float64
	// OnlyA and OnlyB are the parameter tensors only one model has;
	// Reshaped those both have with different shapes.
	OnlyA, OnlyB []Tensor
	Reshaped     []Reshaped
}

// SettingDiff is one resolved setting that differs: A or B is "" when the
// setting exists in one model only (such as `model.residual.streams` of a
// plain residual).
type SettingDiff struct {
	Path, A, B string
}

// Tensor is a parameter tensor: its name (the checkpoint name) and shape.
type Tensor struct {
	Name  string
	Shape string
}

// Reshaped is a parameter tensor both models have, with different shapes.
type Reshaped struct {
	Name   string
	A, B   string
	Params int64 // element count in B minus in A
}

// Compare computes the differences between models a and b. The analyses
// are compiler.Analyze's (parameter totals count each tensor once, tied
// weights too; FLOPs are the forward pass per token at the training
// context length).
func Compare(a, b Model) (*Diff, error) {
	sa, err := compiler.Analyze(a.Program, a.Module, "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.File, err)
	}
	sb, err := compiler.Analyze(b.Program, b.Module, "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.File, err)
	}
	d := &Diff{A: a.File, B: b.File, ParamsA: sa.Params, ParamsB: sb.Params, FLOPsA: sa.ForwardFLOPs, FLOPsB: sb.ForwardFLOPs}
	all := func(string) bool { return true }
	ka, ma := settings(a.Program, all)
	kb, mb := settings(b.Program, all)
	for _, path := range union(ka, kb) {
		if va, vb := ma[path], mb[path]; va != vb {
			d.Config = append(d.Config, SettingDiff{Path: path, A: va, B: vb})
		}
	}
	ta, tb := tensors(a.Module), tensors(b.Module)
	for _, t := range ta.list {
		switch other, ok := tb.shape[t.Name]; {
		case !ok:
			d.OnlyA = append(d.OnlyA, t)
		case other.String() != t.Shape:
			na, _ := ta.shape[t.Name].Size()
			nb, _ := other.Size()
			d.Reshaped = append(d.Reshaped, Reshaped{Name: t.Name, A: t.Shape, B: other.String(), Params: int64(nb - na)})
		}
	}
	for _, t := range tb.list {
		if _, ok := ta.shape[t.Name]; !ok {
			d.OnlyB = append(d.OnlyB, t)
		}
	}
	return d, nil
}

type tensorSet struct {
	list  []Tensor
	shape map[string]ir.Shape
}

func tensors(m *ir.Module) tensorSet {
	s := tensorSet{shape: map[string]ir.Shape{}}
	for _, v := range m.Params() {
		s.list = append(s.list, Tensor{Name: v.Param(), Shape: v.Type.Shape.String()})
		s.shape[v.Param()] = v.Type.Shape
	}
	return s
}

// Same reports whether the two models compile to the same configuration
// and parameter tensors.
func (d *Diff) Same() bool {
	return len(d.Config) == 0 && len(d.OnlyA) == 0 && len(d.OnlyB) == 0 && len(d.Reshaped) == 0 &&
		d.ParamsA == d.ParamsB && d.FLOPsA == d.FLOPsB
}

// Write prints the differences for a person:
//
//	--- a.mhc
//	+++ b.mhc
//
//	config (2 settings differ):
//	~ model.residual.constraint  birkhoff → none
//	+ model.residual.dynamic     true
//
//	parameters               123456 → 125000 (+1544, +1.3%)
//	forward FLOPs per token  1.23M → 1.25M (+1.6%)
//
//	parameter tensors only in b.mhc (1):
//	+ blocks.0.attn.hc.scale  [2]
//
// `~` marks a value that changed, `-` one that only A has, `+` one that
// only B has.
func (d *Diff) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s\n+++ %s\n", d.A, d.B)
	if d.Same() {
		b.WriteString("\nno differences: the same configuration, parameters and FLOPs\n")
		_, err := io.WriteString(w, b.String())
		return err
	}

	if len(d.Config) > 0 {
		fmt.Fprintf(&b, "\nconfig (%s):\n", plural(len(d.Config), "setting differs", "settings differ"))
		width := 0
		for _, c := range d.Config {
			width = max(width, len(c.Path))
		}
		for _, c := range d.Config {
			switch {
			case c.A == "":
				fmt.Fprintf(&b, "+ %-*s  %s\n", width, c.Path, c.B)
			case c.B == "":
				fmt.Fprintf(&b, "- %-*s  %s\n", width, c.Path, c.A)
			default:
				fmt.Fprintf(&b, "~ %-*s  %s → %s\n", width, c.Path, c.A, c.B)
			}
		}
	} else {
		b.WriteString("\nconfig: the same\n")
	}

	b.WriteString("\n")
	rows := [][2]string{
		{"parameters", change(float64(d.ParamsA), float64(d.ParamsB), true)},
		{"forward FLOPs per token", change(d.FLOPsA, d.FLOPsB, false)},
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "%-23s  %s\n", r[0], r[1])
	}

	tensorList := func(title string, sign string, ts []Tensor) {
		if len(ts) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n%s (%d):\n", title, len(ts))
		width := 0
		for _, t := range ts {
			width = max(width, len(t.Name))
		}
		for _, t := range ts {
			fmt.Fprintf(&b, "%s %-*s  %s\n", sign, width, t.Name, t.Shape)
		}
	}
	tensorList("parameter tensors only in "+d.A, "-", d.OnlyA)
	tensorList("parameter tensors only in "+d.B, "+", d.OnlyB)
	if len(d.Reshaped) > 0 {
		fmt.Fprintf(&b, "\nparameter tensors with different shapes (%d):\n", len(d.Reshaped))
		width := 0
		for _, t := range d.Reshaped {
			width = max(width, len(t.Name))
		}
		for _, t := range d.Reshaped {
			fmt.Fprintf(&b, "~ %-*s  %s → %s\n", width, t.Name, t.A, t.B)
		}
	}
	if len(d.OnlyA)+len(d.OnlyB)+len(d.Reshaped) == 0 {
		b.WriteString("\nparameter tensors: the same names and shapes\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// change formats a → b with the difference: "123456 → 125000 (+1544,
// +1.3%)" for exact counts, "1.23M → 1.25M (+1.6%)" otherwise.
func change(a, b float64, exact bool) string {
	num := func(x float64) string {
		if exact {
			return fmt.Sprintf("%.0f", x)
		}
		return train.HumanCount(x)
	}
	if a == b {
		return num(a) + " (the same)"
	}
	var delta []string
	if exact {
		delta = append(delta, fmt.Sprintf("%+.0f", b-a))
	}
	if a != 0 {
		delta = append(delta, fmt.Sprintf("%+.1f%%", 100*(b-a)/a))
	}
	out := num(a) + " → " + num(b)
	if len(delta) > 0 {
		out += " (" + strings.Join(delta, ", ") + ")"
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
