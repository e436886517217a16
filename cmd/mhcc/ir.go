package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mhcc/mhcc/compiler"
)

// passFlags select the pass pipeline (compiler/passes.go).
type passFlags struct {
	Opt          int     `name:"opt" short:"O" default:"2" placeholder:"N" help:"Optimisation level: -O0 primitive ops only, -O1 cleanup (fold, canonicalize, cse, dce), -O2 cleanup and fusions."`
	Passes       *string `name:"passes" placeholder:"A,B,C" help:"Run exactly these passes, in this order, instead of a level (names: mhcc ir --list-passes)."`
	PrintIRAfter string  `name:"print-ir-after" placeholder:"NAME|all" help:"Print the IR to stderr after the named pass, or before and after every pass (all)."`
	DumpDir      string  `name:"dump-dir" placeholder:"DIR" help:"Write the IR before and after every pass to DIR/00-input.ir, DIR/01-PASS.ir, ... (each says how to reproduce it)."`
}

// options turns the flags into compiler options; command is the mhcc
// command line without pass flags, for the dump headers. A bad pass name
// is a usage error.
func (f *passFlags) options(e *env, command string) (compiler.Options, error) {
	o := compiler.Options{Level: compiler.Level(f.Opt), PrintIRAfter: f.PrintIRAfter, PrintTo: e.stderr,
		DumpDir: f.DumpDir, Command: command}
	if f.Passes != nil {
		o.Passes = []string{}
		for _, p := range strings.Split(*f.Passes, ",") {
			if p = strings.TrimSpace(p); p != "" {
				o.Passes = append(o.Passes, p)
			}
		}
	}
	if _, err := o.Pipeline(); err != nil {
		return o, usageError(err)
	}
	return o, nil
}

// usageError reports invalid compiler options with exit code 2.
func usageError(err error) error {
	return &exitError{code: exitUsage, err: errors.New(strings.TrimPrefix(err.Error(), compiler.ErrOptions.Error()+": "))}
}

type irCmd struct {
	File string `arg:"" optional:"" help:"The .mhc file to lower."`
	passFlags
	Stats      bool `help:"Print per-pass statistics to stderr (e.g. fuse-sinkhorn: 8 fused, 160 iterations)."`
	ListPasses bool `name:"list-passes" help:"List the passes in pipeline order with their level and exit."`
	setFlags
	diagFlag
}

// Run prints the IR after the selected passes.
func (c *irCmd) Run(e *env) error {
	if c.ListPasses {
		for _, p := range compiler.Passes() {
			fmt.Fprintf(e.stdout, "%-20s %s  %s\n", p.Name, p.Level, p.Doc)
		}
		return nil
	}
	if c.File == "" {
		return &exitError{code: exitUsage, err: errors.New(`expected "<file>"`)}
	}
	cmd := "mhcc ir " + shellQuote(c.File)
	for _, s := range c.Set {
		cmd += " --set " + shellQuote(s)
	}
	opts, err := c.options(e, cmd)
	if err != nil {
		return err
	}
	res, err := compile(e, c.File, e.frontEnd(c.Diag), opts)
	if err != nil {
		return err
	}
	fmt.Fprint(e.stdout, res.Module.String())
	if c.Stats {
		fmt.Fprint(e.stderr, res.Stats.String())
	}
	return nil
}

// shellQuote quotes an argument for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`*?[]{}()<>|&;#~!") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
