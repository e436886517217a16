package lang

import "fmt"

// Pos is a position in a source file: 1-based line and column (in bytes)
// and the 0-based byte offset. The zero Pos means "unknown".
type Pos struct {
	File   string
	Offset int
	Line   int
	Col    int
}

// String returns "file:line:col", or just the file for a position
// without a line, such as a `--set` override ("--set train.steps=0").
func (p Pos) String() string {
	if p.Line == 0 && p.File != "" {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// IsValid reports whether the position is known.
func (p Pos) IsValid() bool { return p.Line > 0 }
