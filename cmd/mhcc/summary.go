package main

import (
	"github.com/mhcc/mhcc/compiler"
)

type summaryCmd struct {
	File   string `arg:"" help:"The .mhc file to summarise."`
	Format string `name:"format" enum:"text,markdown,json" default:"text" help:"Output format: text, markdown or json."`
	Opt    *int   `name:"opt" short:"O" placeholder:"N" help:"Optimisation level of the analysed IR (default: the level training uses); FLOPs do not depend on it, activation memory does."`
	setFlags
	diagFlag
}

// Run prints the layer table and totals. It builds no graph and allocates
// no weight: everything comes from the IR types.
func (c *summaryCmd) Run(e *env) error {
	opts := compiler.DefaultOptions()
	if c.Opt != nil {
		opts.Level = compiler.Level(*c.Opt)
		if _, err := opts.Pipeline(); err != nil {
			return usageError(err)
		}
	}
	res, err := compile(e, c.File, e.frontEnd(c.Diag), opts)
	if err != nil {
		return err
	}
	s, err := compiler.Analyze(res.Program, res.Module, opts.Level.String())
	if err != nil {
		return &exitError{code: exitRuntime, err: err}
	}
	if err := compiler.WriteSummary(e.stdout, s, c.Format); err != nil {
		return usageError(err)
	}
	return nil
}
