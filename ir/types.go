// Package ir defines mhcc's intermediate representation: a flat SSA list of
// tensor operations with symbolic batch dimensions, stable parameter names
// and a source position on every value.
//
// The IR knows nothing about the .mhc language or about Gorgonia. The
// compiler lowers a checked program into it, passes rewrite it, and backends
// turn it into something that runs.
package ir

import (
	"fmt"
	"strconv"
	"strings"
)

// DType is the element type of a tensor value.
type DType int

const (
	// F32 is a floating-point tensor. Backends may evaluate it in float32
	// (training) or float64 (gradient checks); the IR does not care.
	F32 DType = iota
	// I32 is an integer tensor (token ids, targets).
	I32
)

// String returns the IR spelling of the dtype.
func (d DType) String() string {
	switch d {
	case F32:
		return "f32"
	case I32:
		return "i32"
	}
	return fmt.Sprintf("dtype(%d)", int(d))
}

// Dim is one tensor dimension: either a constant size or a symbol such as
// B (batch) or T (sequence length) that is bound when a backend is built.
type Dim struct {
	Sym string // non-empty for a symbolic dimension
	N   int    // the size when Sym is empty
}

// D returns a constant dimension.
func D(n int) Dim { return Dim{N: n} }

// S returns a symbolic dimension.
func S(name string) Dim { return Dim{Sym: name} }

// IsSym reports whether the dimension is symbolic.
func (d Dim) IsSym() bool { return d.Sym != "" }

// String returns the IR spelling of the dimension.
func (d Dim) String() string {
	if d.Sym != "" {
		return d.Sym
	}
	return strconv.Itoa(d.N)
}

// Resolve returns the concrete size of d under the symbol bindings.
func (d Dim) Resolve(binds map[string]int) (int, error) {
	if d.Sym == "" {
		return d.N, nil
	}
	n, ok := binds[d.Sym]
	if !ok {
		return 0, fmt.Errorf("symbolic dimension %s is not bound", d.Sym)
	}
	return n, nil
}

// Shape is an ordered list of dimensions; the empty shape is a scalar.
type Shape []Dim

// Dims builds a constant shape.
func Dims(ns ...int) Shape {
	s := make(Shape, len(ns))
	for i, n := range ns {
		s[i] = D(n)
	}
	return s
}

// Rank returns the number of dimensions.
func (s Shape) Rank() int { return len(s) }

// Equal reports whether two shapes have the same dimensions.
func (s Shape) Equal(o Shape) bool {
	if len(s) != len(o) {
		return false
	}
	for i := range s {
		if s[i] != o[i] {
			return false
		}
	}
	return true
}

// Clone returns a copy of the shape.
func (s Shape) Clone() Shape { return append(Shape(nil), s...) }

// String returns the IR spelling, e.g. "[B,T,4,128]".
func (s Shape) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// Resolve returns the concrete sizes of s under the symbol bindings.
func (s Shape) Resolve(binds map[string]int) ([]int, error) {
	out := make([]int, len(s))
	for i, d := range s {
		n, err := d.Resolve(binds)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// Size returns the product of the constant dimensions and whether every
// dimension was constant.
func (s Shape) Size() (int, bool) {
	n := 1
	for _, d := range s {
		if d.IsSym() {
			return 0, false
		}
		n *= d.N
	}
	return n, true
}

// Type is a tensor type: element type and shape.
type Type struct {
	DType DType
	Shape Shape
}

// String returns the IR spelling, e.g. "f32[B,T,128]".
func (t Type) String() string { return t.DType.String() + t.Shape.String() }

// Pos is a position in the source program (1-based line and column; zero
// means unknown). The file name is stored once, in the module header.
type Pos struct {
	Line, Col int
}

// String returns "line:col", or "-" for an unknown position.
func (p Pos) String() string {
	if p.Line == 0 {
		return "-"
	}
	return fmt.Sprintf("%d:%d", p.Line, p.Col)
}
