package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mhcc/mhcc/backend/bundle"
	"github.com/mhcc/mhcc/backend/train"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/lang"
)

// compilerCLI is the command line of the mhcc compiler.
type compilerCLI struct {
	Build buildCmd `cmd:"" default:"withargs" help:"Compile FILE.mhc into a self-contained training executable (the default command)."`
	Run   runCmd   `cmd:"" help:"Compile FILE.mhc and train it in one go."`
	Check checkCmd `cmd:"" help:"Check .mhc files and report diagnostics."`
	IR    irCmd    `cmd:"" name:"ir" help:"Print the IR of FILE.mhc."`
}

func compilerMain(args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	var cli compilerCLI
	ctx, code, ok := parseArgs("mhcc", "mhcc compiles .mhc architecture files into CPU training executables.", &cli, args, e)
	if !ok {
		return code
	}
	return runCtx(ctx, "mhcc", e)
}

// compile loads, checks and lowers path, printing diagnostics to stderr.
// It returns an exitError with code 1 when the program has errors.
func compile(e *env, path string) (*compiler.Result, error) {
	res, err := compiler.CompileFile(path)
	if err != nil {
		if res == nil { // unreadable file
			return nil, &exitError{code: exitCompile, err: err}
		}
		return nil, &exitError{code: exitRuntime, err: err}
	}
	if len(res.Diags) > 0 {
		res.Diags.Render(e.stderr, res.Source, useColor(e.stderr), 50)
	}
	if res.Module == nil {
		return nil, &exitError{code: exitCompile}
	}
	return res, nil
}

// resolveDataPath makes a relative `data file=` path relative to the .mhc
// file's directory, as the language reference says.
func resolveDataPath(mhcPath string, p *lang.Program) string {
	d := p.Train.Data
	if d.Kind != lang.DataFile || d.Path == "" {
		return ""
	}
	if filepath.IsAbs(d.Path) {
		return d.Path
	}
	return filepath.Join(filepath.Dir(mhcPath), d.Path)
}

type buildCmd struct {
	File string `arg:"" help:"The .mhc file to compile."`
	Out  string `short:"o" required:"" placeholder:"OUT" help:"Path of the executable to write."`
}

// Run compiles the file and writes the bundled executable.
func (c *buildCmd) Run(e *env) error {
	res, err := compile(e, c.File)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return &exitError{code: exitRuntime, err: fmt.Errorf("cannot locate the mhcc runtime: %w", err)}
	}
	irText := res.Module.String()
	p := &bundle.Payload{
		Version:  bundle.PayloadVersion,
		File:     filepath.Base(c.File),
		Source:   string(res.Source),
		DataPath: resolveDataPath(c.File, res.Program),
		IR:       irText,
		Manifest: bundle.Manifest{
			SourceSHA256: bundle.Hash(string(res.Source)),
			IRSHA256:     bundle.Hash(irText),
			Runtime:      version,
		},
	}
	if err := bundle.Write(exe, c.Out, p); err != nil {
		return &exitError{code: exitRuntime, err: err}
	}
	fmt.Fprintf(e.stderr, "wrote %s (model %s, %d IR values)\n", c.Out, res.Program.Model.Name, len(res.Module.Values))
	return nil
}

// trainFlags are the overrides shared by `mhcc run` and a compiled program.
type trainFlags struct {
	Steps int    `help:"Number of training steps (overrides train.steps)." placeholder:"N"`
	Data  string `help:"Train on this byte-level text file instead of the program's data." placeholder:"PATH"`
	Seed  *int64 `help:"Random seed (overrides train.seed)." placeholder:"N"`
	Out   string `help:"Run folder for metrics.jsonl and summary.json (default runs/<model>)." placeholder:"DIR"`
}

func (f *trainFlags) options(e *env) (train.Options, error) {
	if f.Steps < 0 {
		return train.Options{}, &exitError{code: exitUsage, err: fmt.Errorf("--steps must be positive, got %d", f.Steps)}
	}
	o := train.Options{Steps: f.Steps, DataPath: f.Data, OutDir: f.Out, Log: e.stdout}
	if f.Seed != nil {
		o.Seed, o.HasSeed = *f.Seed, true
	}
	return o, nil
}

type runCmd struct {
	File string `arg:"" help:"The .mhc file to compile and train."`
	trainFlags
}

// Run compiles and trains.
func (c *runCmd) Run(e *env) error {
	res, err := compile(e, c.File)
	if err != nil {
		return err
	}
	opts, err := c.options(e)
	if err != nil {
		return err
	}
	if opts.DataPath == "" {
		opts.DataPath = resolveDataPath(c.File, res.Program)
	}
	if _, err := train.Run(res.Program, res.Module, opts); err != nil {
		return &exitError{code: exitRuntime, err: err}
	}
	return nil
}

type checkCmd struct {
	Files []string `arg:"" help:"The .mhc files to check."`
}

// Run checks every file and reports all diagnostics.
func (c *checkCmd) Run(e *env) error {
	failed := false
	for _, f := range c.Files {
		src, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(e.stderr, "mhcc: error: cannot read %s: %v\n", f, err)
			failed = true
			continue
		}
		_, diags := lang.Load(f, src)
		diags.Render(e.stderr, src, useColor(e.stderr), 50)
		failed = failed || diags.HasErrors()
	}
	if failed {
		return &exitError{code: exitCompile}
	}
	return nil
}

type irCmd struct {
	File string `arg:"" help:"The .mhc file to lower."`
}

// Run prints the IR.
func (c *irCmd) Run(e *env) error {
	res, err := compile(e, c.File)
	if err != nil {
		return err
	}
	fmt.Fprint(e.stdout, res.Module.String())
	return nil
}
