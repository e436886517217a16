package gorgonia

import (
	"strings"
	"testing"

	"github.com/mhcc/mhcc/ir"
)

// TestMatmulConcatSlices checks the gradients around matmul.concat against
// float64 central differences when its result is consumed in the ways that
// do and do not take the member-slice path (mmcSlice): member slices only
// (the slices differentiate straight to x and the weights), the whole
// result, slices across member boundaries, member slices together with
// another consumer of the whole result, and x used elsewhere too.
func TestMatmulConcatSlices(t *testing.T) {
	mk := func(b *ir.Builder) (x *ir.Value, y *ir.Value) {
		x = param(b, "x", d(2, 3, 4)...)
		var ws []*ir.Value
		for i, w := range []int{2, 3, 1} {
			ws = append(ws, param(b, "w"+string(rune('0'+i)), d(4, w)...))
		}
		return x, b.Apply(ir.OpMatmulConcat, nil, append([]*ir.Value{x}, ws...)...)
	}
	cases := []gcase{
		{name: "members", build: func(b *ir.Builder) {
			_, y := mk(b)
			sumLossAll(b, splitLast(b, y, 2, 3, 1)...)
		}},
		{name: "two_members", build: func(b *ir.Builder) {
			_, y := mk(b)
			sumLossAll(b, splitLast(b, y, 2, 3)...) // the last member unused
		}},
		{name: "whole", build: func(b *ir.Builder) {
			_, y := mk(b)
			sumLoss(b, y)
		}},
		{name: "straddle", build: func(b *ir.Builder) {
			_, y := mk(b)
			sumLossAll(b, splitLast(b, y, 3, 3)...)
		}},
		{name: "members_and_whole", build: func(b *ir.Builder) {
			_, y := mk(b)
			sumLossAll(b, append(splitLast(b, y, 2, 3, 1), b.Tanh(y))...)
		}},
		{name: "x_reused", build: func(b *ir.Builder) {
			x, y := mk(b)
			sumLossAll(b, append(splitLast(b, y, 2, 3, 1), b.Tanh(x))...)
		}},
	}
	// which cases take the member-slice path
	want := map[string]bool{"members": true, "two_members": false, "whole": false, "straddle": false, "members_and_whole": false, "x_reused": true}
	for _, c := range cases {
		g, err := Build(c.module(t), Options{DType: Float64, Grad: true})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := false
		for _, n := range g.g.AllNodes() {
			got = got || n.Op() != nil && strings.HasPrefix(n.Op().String(), "matmul.concat.slice")
		}
		g.Close()
		if got != want[c.name] {
			t.Errorf("%s: member-slice path %v, want %v", c.name, got, want[c.name])
		}
	}
	for i := range cases {
		cases[i].name = "matmul.concat_" + cases[i].name
	}
	runCases(t, cases)
}
