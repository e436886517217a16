package compiler

import (
	"testing"

	"github.com/mhcc/mhcc/ir"
)

// TestCSECommutative: cse merges a+b with b+a (add and mul commute, per
// the op table) but not a−b with b−a.
func TestCSECommutative(t *testing.T) {
	b := ir.NewBuilder("c.mhc")
	x, y := p(b, "x", 2, 3), p(b, "y", 2, 3)
	b.Output("add", b.Add(b.Add(x, y), b.Add(y, x)))
	b.Output("mul", b.Add(b.Mul(x, y), b.Mul(y, x)))
	b.Output("sub", b.Add(b.Sub(x, y), b.Sub(y, x)))
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	_, st := cse(b.M)
	if got := st.Get("merged"); got != 2 {
		t.Fatalf("merged %d values, want 2 (y+x and y·x):\n%s", got, b.M)
	}
	for name, same := range map[string]bool{"add": true, "mul": true, "sub": false} {
		o := b.M.Output(name)
		if (o.Args[0] == o.Args[1]) != same {
			t.Errorf("%s: operands merged = %v, want %v", name, o.Args[0] == o.Args[1], same)
		}
	}
}
