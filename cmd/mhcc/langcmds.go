package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/lang"
)

// This file holds the front-end commands (check, fmt, explain) and the
// flags they share with the commands that compile: --set and --diag.

// renderLimit caps the diagnostics printed as text per file.
const renderLimit = 50

// setFlags is the repeatable --set PATH=VALUE flag. sep:"none" keeps a
// list value such as `betas=[0.9, 0.95]` in one piece.
type setFlags struct {
	Set []string `name:"set" sep:"none" placeholder:"PATH=VALUE" help:"Override a value of the program, e.g. train.optimizer.lr=1e-3; checked like the file; repeatable, a later one wins, and flags such as --steps apply after all of them (mhcc explain lists the paths)."`
}

// diagFlag selects the format of diagnostics on stderr.
type diagFlag struct {
	Diag string `name:"diag" enum:"text,json" default:"text" help:"Diagnostics on stderr as text or json."`
}

// frontEnd carries the front-end flags of a command that compiles a file.
type frontEnd struct {
	// Set and Names are the overrides and their names in diagnostics
	// (lang.Options).
	Set, Names []string
	Diag       string
}

// options are the checker's options for the overrides.
func (fe frontEnd) options() lang.Options { return lang.Options{Set: fe.Set, Names: fe.Names} }

// failCode is the exit code of diagnostics with errors: exitUsage when
// an error is about the command line (an override, a flag), exitCompile
// when all are about the file.
func failCode(diags lang.Diagnostics) int {
	for _, d := range diags {
		if d.Severity == lang.Error && d.Pos.IsOverride() {
			return exitUsage
		}
	}
	return exitCompile
}

// report prints diagnostics about src (one file) to stderr: rendered text,
// or with --diag=json one JSON array (printed even when empty, so a tool
// can always read it).
func (fe frontEnd) report(e *env, diags lang.Diagnostics, src []byte) {
	if fe.Diag == "json" {
		writeJSON(e, diags)
		return
	}
	if len(diags) > 0 {
		diags.Render(e.stderr, src, useColor(e.stderr), renderLimit)
	}
}

func writeJSON(e *env, diags lang.Diagnostics) {
	diags = append(lang.Diagnostics(nil), diags...)
	diags.Sort()
	b, err := diags.JSON()
	if err != nil {
		fmt.Fprintf(e.stderr, "mhcc: internal error: %v\n", err)
		return
	}
	e.stderr.Write(append(b, '\n'))
}

// readError is the diagnostic for a file that cannot be read.
func readError(path string, err error) lang.Diagnostics {
	if pe, ok := err.(*os.PathError); ok {
		err = pe.Err
	}
	return lang.Diagnostics{{Severity: lang.Error, Pos: lang.Pos{File: path},
		Message: fmt.Sprintf("cannot read the file: %v", err)}}
}

// compileFile is compiler.CompileFile with overrides: it reads, checks
// (with the overrides of lo) and compiles path. A file that cannot be
// read gives a Result holding one diagnostic that says so.
func compileFile(path string, lo lang.Options, opts ...compiler.Options) (*compiler.Result, error) {
	src, err := lang.ReadSource(path)
	if err != nil {
		return &compiler.Result{Diags: readError(path, err)}, nil
	}
	return compileSource(path, src, lo, opts...)
}

// compileSource is compiler.CompileSource with the overrides of lo. The
// module is compiled for the Gorgonia backend unless opts names another
// target: an op it does not implement is an error at its statement.
func compileSource(filename string, src []byte, lo lang.Options, opts ...compiler.Options) (*compiler.Result, error) {
	o := compiler.DefaultOptions()
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Target == nil {
		o.Target = gb.Backend{DType: gb.Float32}
	}
	prog, diags := lang.LoadWith(filename, src, lo)
	res := &compiler.Result{Program: prog, Diags: diags, Source: src}
	if prog == nil {
		return res, nil
	}
	m, st, err := compiler.Compile(prog, o)
	res.Stats = st
	if err != nil {
		return res, err
	}
	res.Diags = append(res.Diags, compiler.ModuleDiagnostics(prog, m, o)...)
	target := compiler.TargetDiagnostics(o.Target, m, filename, src)
	res.Diags = append(res.Diags, target...)
	res.Diags.Sort()
	if !target.HasErrors() {
		res.Module = m
	}
	return res, nil
}

type checkCmd struct {
	Files []string `arg:"" help:"The .mhc files to check."`
	setFlags
	diagFlag
}

// Run checks every file and reports all diagnostics.
func (c *checkCmd) Run(e *env) error {
	code := exitOK
	var all lang.Diagnostics
	for _, f := range c.Files {
		src, err := lang.ReadSource(f)
		var diags lang.Diagnostics
		if err != nil {
			diags = readError(f, err)
		} else {
			_, diags = lang.LoadWith(f, src, e.frontEnd(c.Diag).options())
		}
		if diags.HasErrors() && code != exitUsage {
			code = failCode(diags)
		}
		if c.Diag == "json" {
			all = append(all, diags...)
		} else {
			frontEnd{Diag: c.Diag}.report(e, diags, src)
		}
	}
	if c.Diag == "json" {
		writeJSON(e, all)
	}
	if code != exitOK {
		return &exitError{code: code}
	}
	return nil
}

type fmtCmd struct {
	Files []string `arg:"" help:"The .mhc files to format."`
	Write bool     `short:"w" help:"Rewrite the files in place instead of printing them (only those that change)."`
	List  bool     `short:"l" help:"List the files whose layout differs from mhcc fmt's; print nothing else."`
	diagFlag
}

// Run formats every file.
func (c *fmtCmd) Run(e *env) error {
	failed := false
	var all lang.Diagnostics
	for _, f := range c.Files {
		src, err := lang.ReadSource(f)
		var diags lang.Diagnostics
		var out []byte
		if err != nil {
			diags = readError(f, err)
		} else {
			out, diags = lang.FormatSource(f, src)
		}
		if c.Diag == "json" {
			all = append(all, diags...)
		} else {
			frontEnd{Diag: c.Diag}.report(e, diags, src)
		}
		if diags.HasErrors() || out == nil {
			failed = true
			continue
		}
		changed := !bytes.Equal(out, src)
		switch {
		case c.List:
			if changed {
				fmt.Fprintln(e.stdout, f)
			}
		case c.Write:
			if changed {
				if err := writeAtomic(f, out); err != nil {
					fmt.Fprintf(e.stderr, "mhcc: error: %v\n", err)
					failed = true
				}
			}
		default:
			e.stdout.Write(out)
		}
	}
	if c.Diag == "json" {
		writeJSON(e, all)
	}
	if failed {
		return &exitError{code: exitCompile}
	}
	return nil
}

// writeAtomic replaces path with data through a temporary file in the same
// folder and a rename, keeping the file's permissions, so a crash never
// leaves a half-written file.
func writeAtomic(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".fmt-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

type explainCmd struct {
	File string `arg:"" help:"The .mhc file to explain."`
	setFlags
	diagFlag
}

// Run prints the resolved configuration.
func (c *explainCmd) Run(e *env) error {
	fe := e.frontEnd(c.Diag)
	src, err := lang.ReadSource(c.File)
	if err != nil {
		fe.report(e, readError(c.File, err), nil)
		return &exitError{code: exitCompile}
	}
	p, diags := lang.LoadWith(c.File, src, fe.options())
	fe.report(e, diags, src)
	if p == nil {
		return &exitError{code: failCode(diags)}
	}
	fmt.Fprint(e.stdout, p.Explain())
	return nil
}
