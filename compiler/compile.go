package compiler

import (
	"fmt"
	"os"

	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// Result is a compiled program: the checked source and its IR.
type Result struct {
	Program *lang.Program
	Module  *ir.Module
	// Diags holds warnings (and errors, when compilation failed).
	Diags lang.Diagnostics
	// Source is the program text.
	Source []byte
	// Stats are the pass statistics (nil when the program has errors).
	Stats *Stats
}

// Compile lowers a checked program and runs the pass pipeline selected by
// opts over it. Errors wrapping ErrOptions are usage errors; any other
// error is an internal compiler error (a bug).
func Compile(p *lang.Program, opts Options) (*ir.Module, *Stats, error) {
	if _, err := opts.Pipeline(); err != nil {
		return nil, nil, err
	}
	m, err := Lower(p)
	if err != nil {
		return nil, nil, err
	}
	st, err := RunPasses(m, opts)
	if err != nil {
		return nil, st, err
	}
	return m, st, nil
}

// CompileSource checks, lowers and optimises one program with opts (at
// most one; DefaultOptions when none is given). A program with errors
// returns a Result whose Diags say why and a nil Module; err is reserved
// for internal compiler errors (bugs) and invalid options (wrapping
// ErrOptions).
func CompileSource(filename string, src []byte, opts ...Options) (*Result, error) {
	o := DefaultOptions()
	switch len(opts) {
	case 0:
	case 1:
		o = opts[0]
	default:
		return nil, fmt.Errorf("%w: CompileSource takes at most one Options", ErrOptions)
	}
	prog, diags := lang.Load(filename, src)
	res := &Result{Program: prog, Diags: diags, Source: src}
	if diags.HasErrors() || prog == nil {
		return res, nil
	}
	m, st, err := Compile(prog, o)
	res.Stats = st
	if err != nil {
		return res, err
	}
	res.Diags = append(res.Diags, ModuleDiagnostics(prog, m, o)...)
	target := TargetDiagnostics(o.Target, m, filename, src)
	res.Diags = append(res.Diags, target...)
	res.Diags.Sort()
	if !target.HasErrors() {
		res.Module = m
	}
	return res, nil
}

// CompileFile reads and compiles a .mhc file with opts (see CompileSource).
func CompileFile(path string, opts ...Options) (*Result, error) {
	src, err := lang.ReadSource(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPathError(err))
	}
	return CompileSource(path, src, opts...)
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
