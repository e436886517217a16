package compiler

import (
	"bytes"
	"fmt"

	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// Target is what a backend says about the ops it implements; every
// backend.Backend is one. When Options.Target is set, CompileSource
// reports each op of the compiled module the target does not implement
// as an error at the source line of the statement that needs it.
type Target interface {
	Name() string
	Support(op string) (ok bool, reason string)
}

// TargetDiagnostics returns an error for every op of m that t does not
// implement, at the source position of its first value (positions are in
// file, whose text is src), once per op and position.
func TargetDiagnostics(t Target, m *ir.Module, file string, src []byte) lang.Diagnostics {
	if t == nil || m == nil {
		return nil
	}
	type key struct {
		op  string
		pos ir.Pos
	}
	seen := map[key]bool{}
	var ds lang.Diagnostics
	for _, v := range m.Values {
		ok, reason := t.Support(v.Op)
		if ok || seen[key{v.Op, v.Pos}] {
			continue
		}
		seen[key{v.Op, v.Pos}] = true
		msg := fmt.Sprintf("the %s backend cannot run `%s`, which this statement needs", t.Name(), v.Op)
		help := []string{"this is a gap in the backend (it neither implements the op nor says why); please report it"}
		if reason != "" {
			help = []string{reason}
		}
		if ir.IsFused(v.Op) {
			help = append(help, "compiling at -O0 (or without the fusion that creates it) avoids the fused op")
		}
		ds = append(ds, lang.Diagnostic{Severity: lang.Error, Pos: sourcePos(file, src, v.Pos), Message: msg, Help: help})
	}
	ds.Sort()
	return ds
}

// sourcePos turns an IR position (line, column) into a position in src.
func sourcePos(file string, src []byte, p ir.Pos) lang.Pos {
	if p.Line < 1 {
		return lang.Pos{File: file}
	}
	off, line := 0, 1
	for line < p.Line {
		i := bytes.IndexByte(src[off:], '\n')
		if i < 0 {
			break
		}
		off += i + 1
		line++
	}
	return lang.Pos{File: file, Line: p.Line, Col: p.Col, Offset: min(off+p.Col-1, len(src))}
}
