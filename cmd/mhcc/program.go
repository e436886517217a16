package main

import (
	"fmt"
	"io"

	"github.com/mhcc/mhcc/backend/bundle"
	"github.com/mhcc/mhcc/backend/train"
	"github.com/mhcc/mhcc/compiler"
)

// programCLI is the command line of a compiled training executable.
type programCLI struct {
	Train programTrainCmd `cmd:"" default:"withargs" help:"Train the compiled model (the default command)."`
	IR    programIRCmd    `cmd:"" name:"ir" help:"Print the compiled IR."`
}

// compiled is the program recovered from the payload.
type compiled struct {
	payload *bundle.Payload
	res     *compiler.Result
}

func programMain(p *bundle.Payload, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	// The payload carries the source; recompiling it with this runtime must
	// give exactly the IR that was bundled, or the executable is refused.
	res, err := compiler.CompileSource(p.File, []byte(p.Source))
	if err != nil || res.Module == nil {
		if res != nil {
			res.Diags.Render(stderr, res.Source, false, 20)
		}
		fmt.Fprintf(stderr, "error: the embedded program %s does not compile with this runtime: %v\n", p.File, err)
		return exitRuntime
	}
	if got := bundle.Hash(res.Module.String()); got != p.Manifest.IRSHA256 {
		fmt.Fprintf(stderr, "error: the embedded program %s compiles to different IR than was bundled (runtime %s, bundled by %s)\n",
			p.File, version, p.Manifest.Runtime)
		return exitRuntime
	}
	var cli programCLI
	ctx, code, ok := parseArgs(p.File, fmt.Sprintf("Trains the model compiled from %s by mhcc %s.", p.File, p.Manifest.Runtime), &cli, args, e)
	if !ok {
		return code
	}
	ctx.Bind(&compiled{payload: p, res: res})
	return runCtx(ctx, p.File, e)
}

type programTrainCmd struct {
	trainFlags
}

// Run trains the embedded program.
func (c *programTrainCmd) Run(e *env, c2 *compiled) error {
	opts, err := c.options(e)
	if err != nil {
		return err
	}
	if opts.DataPath == "" {
		opts.DataPath = c2.payload.DataPath
	}
	if _, err := train.Run(c2.res.Program, c2.res.Module, opts); err != nil {
		return &exitError{code: exitRuntime, err: err}
	}
	return nil
}

type programIRCmd struct{}

// Run prints the bundled IR.
func (c *programIRCmd) Run(e *env, c2 *compiled) error {
	fmt.Fprint(e.stdout, c2.payload.IR)
	return nil
}
