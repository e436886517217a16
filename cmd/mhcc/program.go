package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mhcc/mhcc/backend/runtime/bundle"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/lang"
)

// programCLI is the command line of a compiled training executable.
type programCLI struct {
	Train  programTrainCmd  `cmd:"" default:"withargs" help:"Train the model: the default command, so the flags below follow the program's name directly."`
	IR     programIRCmd     `cmd:"" name:"ir" help:"Print the compiled IR."`
	Eval   programEvalCmd   `cmd:"" help:"Print the mean loss of a checkpoint over the first K context-length windows of a data file."`
	Sample programSampleCmd `cmd:"" help:"Generate text from a checkpoint."`
	Plot   plotCmd          `cmd:"" help:"Draw the loss curves of one or several runs to PNG and SVG."`
}

// compiled is the program recovered from the payload.
type compiled struct {
	payload *bundle.Payload
	res     *compiler.Result
}

func programMain(p *bundle.Payload, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr, args: args}
	// The payload carries the source and its --set overrides; recompiling
	// them with this runtime must give exactly the IR that was bundled, or
	// the executable is refused.
	res, err := compileSource(p.File, []byte(p.Source), lang.Options{Set: p.Set})
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
	name, invoked := programName(p.File)
	ctx, code, ok := parseArgs(cliSpec{name: name, invoked: invoked, grammar: &cli, prog: res.Program, defaultHelp: true,
		desc: fmt.Sprintf("Trains the model %s compiled from %s by mhcc %s.", res.Program.Model.Name, p.File, p.Manifest.Runtime)}, args, e)
	if !ok {
		return code
	}
	ctx.Bind(&compiled{payload: p, res: res})
	return runCtx(ctx, e)
}

type programTrainCmd struct {
	trainFlags
	diagFlag
}

// Run trains the embedded program.
func (c *programTrainCmd) Run(e *env, c2 *compiled) error {
	opts, err := c.options(e)
	if err != nil {
		return err
	}
	if len(e.set) > 0 {
		// Overrides on the command line: recompile the embedded source
		// with the bundled ones followed by these (a later one wins).
		fe := frontEnd{Diag: c.Diag,
			Set:   append(slices.Clone(c2.payload.Set), e.set...),
			Names: append(make([]string, len(c2.payload.Set)), e.names...)}
		res, err := compileSource(c2.payload.File, []byte(c2.payload.Source), fe.options())
		if err != nil {
			return &exitError{code: exitRuntime, err: err}
		}
		fe.report(e, res.Diags, res.Source)
		if res.Module == nil {
			return &exitError{code: failCode(res.Diags)}
		}
		c2.res = res
	}
	if opts.DataPath == "" {
		if opts.DataPath, err = c2.dataPath(); err != nil {
			return &exitError{code: exitRuntime, err: err}
		}
	}
	return runTraining(e, c2.res.Program, c2.res.Module, c2.res.Source, opts)
}

// dataPath finds the program's data file (`data file=`) from wherever the
// executable runs: where the compiler found it, else the path as written
// taken next to the executable, else in the current folder. A path given
// with --set when the executable runs is taken from the current folder.
// It is "" for synthetic data; a file found nowhere is an error that
// lists where it looked and how to say where it is.
func (c *compiled) dataPath() (string, error) {
	d := c.res.Program.Train.Data
	if d.Kind != lang.DataFile || d.Path == "" {
		return "", nil
	}
	type place struct{ path, why string }
	var tries []place
	if d.Path != c.payload.DataWritten && c.payload.DataWritten != "" {
		tries = append(tries, place{d.Path, "from --set"})
	} else {
		tries = append(tries, place{c.payload.DataPath, "where " + c.payload.File + " was compiled"})
		if !filepath.IsAbs(d.Path) {
			if exe, err := os.Executable(); err == nil {
				tries = append(tries, place{filepath.Join(filepath.Dir(exe), d.Path), "next to the executable"})
			}
			tries = append(tries, place{d.Path, "in the current folder"})
		}
	}
	var tried []string
	seen := map[string]bool{}
	for _, t := range tries {
		if t.path == "" || seen[filepath.Clean(t.path)] {
			continue
		}
		seen[filepath.Clean(t.path)] = true
		if st, err := os.Stat(t.path); err == nil && !st.IsDir() {
			return t.path, nil
		}
		tried = append(tried, t.path+" ("+t.why+")")
	}
	return "", fmt.Errorf("data file %q (data file= of %s): not found at %s; pass --data PATH to train on a file elsewhere",
		d.Path, c.payload.File, strings.Join(tried, ", "))
}

type programEvalCmd struct {
	evalFlags
}

// Run evaluates a checkpoint of the embedded program.
func (c *programEvalCmd) Run(e *env, c2 *compiled) error {
	data := ""
	if c.Data == "" {
		var err error
		if data, err = c2.dataPath(); err != nil {
			return &exitError{code: exitRuntime, err: err}
		}
	}
	return c.run(e, c2.res.Program, c2.res.Module, data)
}

type programSampleCmd struct {
	sampleFlags
}

// Run samples from a checkpoint of the embedded program.
func (c *programSampleCmd) Run(e *env, c2 *compiled) error {
	return c.run(e, c2.res.Program)
}

type programIRCmd struct{}

// Run prints the bundled IR.
func (c *programIRCmd) Run(e *env, c2 *compiled) error {
	fmt.Fprint(e.stdout, c2.payload.IR)
	return nil
}
