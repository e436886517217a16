package ir

import (
	"strings"
	"testing"
)

func TestVerifyAcceptsSample(t *testing.T) {
	if err := Verify(sample()); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyRejects(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(m *Module)
		want   string
	}{
		{"use before definition", func(m *Module) {
			m.Values[2], m.Values[6] = m.Values[6], m.Values[2] // gather after its user
		}, "argument 0 is not defined before its use"},
		{"cycle", func(m *Module) {
			g := m.Values[2] // gather
			g.Args = []*Value{g, m.Values[0]}
		}, "argument 0 is not defined before its use"},
		{"foreign argument", func(m *Module) {
			m.Values[2].Args = []*Value{{Op: OpParam}, m.Values[0]}
		}, "argument 0 is not defined before its use"},
		{"value listed twice", func(m *Module) {
			m.Values = append(m.Values, m.Values[2])
		}, "is also listed as %2"},
		{"wrong type", func(m *Module) {
			m.Values[2].Type.Shape = Shape{S("B"), S("T"), D(5)}
		}, "recorded type f32[B,T,5] but the arguments give f32[B,T,4]"},
		{"wrong dtype", func(m *Module) { m.Values[2].Type.DType = I32 }, "recorded type i32"},
		{"unknown op", func(m *Module) { m.Values[2].Op = "conv" }, `unknown op "conv"`},
		{"arity", func(m *Module) { m.Values[2].Args = m.Values[2].Args[:1] }, "gather takes 2 arguments, got 1"},
		{"unnamed param", func(m *Module) { m.Values[1].Attrs[0].Val = "" }, "param without a name"},
		{"duplicate param", func(m *Module) { m.Values[4].Attrs[0].Val = "embed.weight" }, `param "embed.weight" is already declared as %1`},
		{"symbolic param", func(m *Module) { m.Values[1].Type.Shape = Shape{S("B"), D(4)} }, "must have a constant shape"},
		{"param without init", func(m *Module) { m.Values[1].Attrs = m.Values[1].Attrs[:1] }, "param needs the attribute init (init)"},
		{"unnamed input", func(m *Module) { m.Values[0].Attrs = nil }, "input needs the attribute name (string)"},
		{"empty input name", func(m *Module) { m.Values[0].Attrs[0].Val = "" }, "input without a name"},
		{"undeclared symbol", func(m *Module) { m.Symbols = []string{"B"} }, "undeclared symbol T"},
		{"const without value", func(m *Module) {
			for _, v := range m.Values {
				if v.Op == OpConst {
					v.Attrs = Attrs{{"value", 1}}
					return
				}
			}
		}, "const: attribute value must be a float, got an int 1"},
		{"unknown attribute", func(m *Module) { m.Values[2].Attrs = Attrs{{"axis", 0}} }, "gather has no attribute axis (attributes: none)"},
		{"undefined output", func(m *Module) { m.Outputs[0].Value = &Value{Op: OpConst} }, `output "loss" is not a value of the module`},
		{"unnamed output", func(m *Module) { m.Outputs[0].Name = "" }, "output without a name"},
		{"duplicate output", func(m *Module) { m.Outputs = append(m.Outputs, m.Outputs[0]) }, `duplicate output "loss"`},
		{"bad attribute", func(m *Module) { m.Values[2].Attrs = Attrs{{"x", 1.5i}} }, "unsupported Go type complex128"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := sample()
			c.break_(m)
			err := Verify(m)
			if err == nil {
				t.Fatalf("Verify accepted the broken module:\n%s", m)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v\nwant %s", err, c.want)
			}
		})
	}
}
