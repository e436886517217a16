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
}

// CompileSource checks and lowers one program. A program with errors
// returns a Result whose Diags say why and a nil Module; err is reserved
// for internal compiler errors (bugs).
func CompileSource(filename string, src []byte) (*Result, error) {
	prog, diags := lang.Load(filename, src)
	res := &Result{Program: prog, Diags: diags, Source: src}
	if diags.HasErrors() || prog == nil {
		return res, nil
	}
	m, err := Lower(prog)
	if err != nil {
		return res, err
	}
	res.Module = m
	return res, nil
}

// CompileFile reads and compiles a .mhc file.
func CompileFile(path string) (*Result, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPathError(err))
	}
	return CompileSource(path, src)
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
