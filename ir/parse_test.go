package ir

import (
	"math"
	"strings"
	"testing"

	// Defines -update, which `go test ./... -update` hands to every test binary.
	_ "github.com/mhcc/mhcc/internal/golden"
)

// sample builds a small module that uses every attribute kind.
func sample() *Module {
	b := NewBuilder("we ird\"name.mhc", "B", "T")
	b.At(Pos{Line: 2, Col: 1})
	tok := b.Input("tokens", Type{DType: I32, Shape: Shape{S("B"), S("T")}})
	emb := b.Param("embed.weight", Dims(5, 4), Init{Kind: "normal", Args: []float64{0.02}}, true)
	b.At(Pos{})
	h := b.Gather(emb, tok) // [B,T,4]
	bias := b.Param("bias", Dims(8), Init{Kind: "hc_bias", Args: []float64{2, 1}}, false)
	g := b.Param("g", Dims(4), Init{Kind: "ones"}, false)
	f := b.Param("f", Dims(2), Init{Kind: "fill", Args: []float64{-3.5e-7}}, false)
	x := b.Reshape(h, Shape{S("B"), S("T"), D(2), D(2)})
	x = b.Transpose(x, 0, 1, 3, 2)
	s := b.Sum(x, 2, 3)
	s = b.Add(s, b.Const(math.Inf(1)))
	s = b.Mul(s, b.Const(math.NaN()))
	s = b.Mul(s, b.Const(-2))
	s = b.Reshape(s, Shape{S("B"), S("T")})
	n := b.Apply(OpRMSNorm, Attrs{{"eps", 1e-6}, {"members", 6}}, h, g)
	_ = b.Slice(bias, 0, 0, 2)
	_ = b.Param("a \"quoted\"\ttab", Dims(1), Init{Kind: "zeros"}, false)
	_ = f
	sc := b.Reshape(b.Mean(b.Sum(n, -1), 0, 1), Shape{})
	b.Output("loss", b.Add(sc, b.Reshape(b.Mean(s, 0, 1), Shape{})))
	if err := b.Err(); err != nil {
		panic(err)
	}
	b.M.RecomputeSegment = 3
	return b.M
}

func TestParseRoundTrip(t *testing.T) {
	m := sample()
	text := m.String()
	for _, want := range []string{"perm=(0,1,3,2)", "axes=(2,3)", "shape=[B,T,2,2]", "shape=[]",
		"value=+Inf", "value=NaN", "value=-2.0", "init=fill(-3.5e-07)", "@-", "@2:1", `source "we ird\"name.mhc"`,
		"\nrecompute streams segment=3\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("printed IR lacks %q:\n%s", want, text)
		}
	}
	p, err := Parse(text)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, text)
	}
	if p.RecomputeSegment != 3 {
		t.Errorf("RecomputeSegment parsed as %d, want 3", p.RecomputeSegment)
	}
	if got := p.String(); got != text {
		t.Fatalf("round trip differs:\n--- printed\n%s--- reparsed\n%s", text, got)
	}
	// Attribute kinds survive.
	for _, v := range p.Values {
		switch v.Op {
		case OpTranspose:
			if _, ok := v.Attrs.Get("perm").([]int); !ok {
				t.Errorf("perm parsed as %T", v.Attrs.Get("perm"))
			}
		case OpReshape:
			if _, ok := v.Attrs.Get("shape").(Shape); !ok {
				t.Errorf("shape parsed as %T", v.Attrs.Get("shape"))
			}
		case OpRMSNorm:
			if v.Attrs.Int("members") != 6 || v.Attrs.Float("eps") != 1e-6 {
				t.Errorf("rmsnorm attrs parsed as %v", v.Attrs)
			}
		case OpParam:
			if n := v.Param(); n != "a \"quoted\"\ttab" && !strings.Contains("embed.weight bias g f", n) {
				t.Errorf("param name parsed as %q", n)
			}
		}
	}
}

func TestParseLenient(t *testing.T) {
	// Named ids, comments and blank lines are accepted; printing renumbers.
	text := `# a comment
mhcc.ir v1   # trailing comment

source "t.mhc"
symbols B
%x = input name="x" : f32[B,3] @-
%two = const value=2.0 : f32[] @1:1
%y = mul %x, %two : f32[B,3] @-
output y = %y
`
	m, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	want := `mhcc.ir v1
source "t.mhc"
symbols B
%0 = input name="x" : f32[B,3] @-
%1 = const value=2.0 : f32[] @1:1
%2 = mul %0, %1 : f32[B,3] @-
output y = %2
`
	if got := m.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	const head = "mhcc.ir v1\nsource \"t.mhc\"\nsymbols B\n"
	cases := []struct{ text, want string }{
		{"", "1:1: empty IR text"},
		{"mhcc.ir v9\n", "1:9: unsupported IR version"},
		{"hello\n", "1:1: want the header"},
		{"mhcc.ir v1\nsymbols B\n", "2:1: want source"},
		{head + "%0 = frob : f32[] @-\n", `4:6: unknown op "frob"`},
		{head + "%0 = neg %1 : f32[] @-\n", "4:10: %1 is not defined before its use"},
		{head + "%0 = const value=1.0 : f32[] @-\n%0 = const value=1.0 : f32[] @-\n", "5:1: %0 is already defined on line 4"},
		{head + "%0 = const value=1.0 f32[] @-\n", `4:25: want "=", got "["`},
		{head + "%0 = const value=1.0 : f32[] @x\n", "4:31: want a source position"},
		{head + "%0 = const value=1.0 : f64[] @-\n", "4:24: want a type"},
		{head + "%0 = const value=\"1.0 : f32[] @-\n", "4:18: unterminated string"},
		{head + "%0 = const value=1.0 value=2.0 : f32[] @-\n", "4:22: duplicate attribute value"},
		{head + "%0 = input name=\"x\" : f32[B,3] @-\n%1 = neg %0, %0 : f32[B,3] @-\n", "5:6: neg takes 1 arguments, got 2"},
		{head + "%0 = input name=\"x\" : f32[B,3] @-\n%1 = neg %0 : f32[B,4] @-\n", "5:1: recorded type f32[B,4] but the arguments give f32[B,3]"},
		{head + "%0 = input name=\"x\" : f32[C,3] @-\n", "4:1: undeclared symbol C"},
		{head + "%0 = input name=\"x\" : f32[B,3] @- extra\n", `4:35: unexpected "extra" at the end of the line`},
		{head + "%0 = input name=\"x\" : f32[B,3] @-\noutput y = %0\noutput y = %0\n", `6:8: duplicate output "y"`},
		{head + "%0 = sum %1 axes=(1,x) : f32[] @-\n", "4:10: %1 is not defined"},
		{head + "%0 = input name=\"x\" : f32[B,3] @-\n%1 = sum %0 axes=(1,x) : f32[B,1] @-\n", "5:21: want an integer"},
		{head + "%0 = input name=\"x\" : f32[B,3] @-\n%1 = sum %0 axes=[1] : f32[B,1] @-\n", "5:1: sum: attribute axes must be an ints, got a shape [1]"},
		{head + "%0 = input name=\"x\" : f32[B,3] @-\n%1 = sum %0 axes=() : f32[B,3] @-\n", "5:1: sum needs at least one axis"},
		{head + "%0 = input name=\"x\" : f32[B,3] @-\n%1 = neg %0 how=1 : f32[B,3] @-\n", "5:1: neg has no attribute how (attributes: none)"},
		{head + "%0 = input name=\"x\" : f32[B,3] @-\n%1 = sum %0 : f32[B,1] @-\n", "5:1: sum needs the attribute axes (ints)"},
		{head + "%0 = input name=\"x\" : f32[B,4] @-\n%1 = rope %0 base=1 : f32[B,4] @-\n", "5:1: rope: attribute base must be a float, got an int 1"},
		{head + "%0 = input name=\"x\" : i32[B,4] @-\n%1 = neg %0 : i32[B,4] @-\n", "5:1: neg: argument 0 (x) must be f32, got i32[B,4]"},
		{head + "%0 = input name=\"x\" : f32[B,3] @- ; \n", "4:35: unexpected character ';'"},
		{head + "recompute streams segment=0\n", "4:27: want a segment length ≥ 1"},
		{head + "recompute stream segment=2\n", `4:11: want recompute streams segment=N, got "stream"`},
		{head + "recompute streams every=2\n", `4:19: want segment=N, got "every"`},
		{head + "recompute streams segment=2\nrecompute streams segment=2\n", "5:1: recompute must come once"},
		{head + "%0 = input name=\"x\" : f32[B,3] @-\nrecompute streams segment=2\n", "5:1: recompute must come once, before the first value"},
	}
	for _, c := range cases {
		_, err := Parse(c.text)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want %q", c.text, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q):\n got  %v\n want %s", c.text, err, c.want)
		}
	}
}
