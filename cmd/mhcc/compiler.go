package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mhcc/mhcc/backend/runtime/bundle"
	"github.com/mhcc/mhcc/backend/runtime/train"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/lang"
)

// compilerCLI is the command line of the mhcc compiler.
type compilerCLI struct {
	Build buildCmd `cmd:"" default:"withargs" help:"Compile FILE.mhc into a self-contained training executable (the default command)."`
	Run   runCmd   `cmd:"" help:"Compile FILE.mhc and train it in one go."`
	Check checkCmd `cmd:"" help:"Check .mhc files and report diagnostics."`
	IR    irCmd    `cmd:"" name:"ir" help:"Print the IR of FILE.mhc after the optimisation passes (-O0, -O1, -O2)."`
	// The analyses are in summary.go.
	Summary summaryCmd `cmd:"" help:"Print the layer table of FILE.mhc: shapes, parameters, FLOPs per token, memory per step."`
	// The front-end commands are in langcmds.go.
	Fmt     fmtCmd     `cmd:"" help:"Print .mhc files in canonical layout (-w: rewrite them)."`
	Explain explainCmd `cmd:"" help:"Print the resolved configuration of FILE.mhc, one path = value per line with where each value came from."`
	LSP     lspCmd     `cmd:"" name:"lsp" help:"Run the language server (Language Server Protocol over stdin and stdout) for editors: diagnostics as you type, hover, completion, formatting, go to definition."`
	// The runtime commands are in runtime_cmds.go.
	Eval   evalCmd   `cmd:"" help:"Print the mean loss of a checkpoint over the first K context-length windows of a data file."`
	Sample sampleCmd `cmd:"" help:"Generate text from a checkpoint."`
	Plot   plotCmd   `cmd:"" help:"Draw the loss curves of one or several runs to PNG and SVG."`
	// The comparison commands are in ablate.go and diff.go.
	Ablate ablateCmd `cmd:"" help:"Train several .mhc files on the same data, seeds and budget; print a comparison table and plot the loss and gain curves."`
	Diff   diffCmd   `cmd:"" help:"Print what differs between two models: resolved configuration, parameters, FLOPs and parameter tensors."`
	// The benchmark is in bench.go.
	Bench benchCmd `cmd:"" help:"Time training steps of FILE.mhc: median step time, tokens/s, GFLOP/s and MFU against the measured matmul peak, memory, a per-op profile; --vs compares two models."`
}

func compilerMain(args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr, args: args}
	var cli compilerCLI
	_, invoked := programName("mhcc")
	ctx, code, ok := parseArgs(cliSpec{name: "mhcc", invoked: invoked, grammar: &cli, needsCommand: true,
		desc: "mhcc compiles .mhc architecture files into CPU training executables."}, args, e)
	if !ok {
		return code
	}
	return runCtx(ctx, e)
}

// compile loads, checks (with the overrides in fe), lowers and optimises
// path (with opts, default compiler.DefaultOptions), printing diagnostics
// to stderr as fe.Diag says. It returns an exitError with code 1 when the
// file has errors, 2 when an override from the command line has.
func compile(e *env, path string, fe frontEnd, opts ...compiler.Options) (*compiler.Result, error) {
	res, err := compileFile(path, fe.options(), opts...)
	if err != nil {
		return nil, &exitError{code: exitRuntime, err: err}
	}
	fe.report(e, res.Diags, res.Source)
	if res.Module == nil {
		return nil, &exitError{code: failCode(res.Diags)}
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
	Out  string `short:"o" required:"" placeholder:"OUT" help:"Path of the executable to write (with --emit torch: the folder)."`
	Emit string `enum:"exe,torch" default:"exe" help:"What to write: exe (a training executable) or torch (a PyTorch package: model.py, train.py, README.md in the folder -o)."`
	setFlags
	diagFlag
}

// Run compiles the file and writes the bundled executable, or the
// PyTorch package.
func (c *buildCmd) Run(e *env) error {
	if c.Emit == "torch" {
		return emitTorch(e, c.File, c.Out, e.frontEnd(c.Diag))
	}
	res, err := compile(e, c.File, e.frontEnd(c.Diag))
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return &exitError{code: exitRuntime, err: fmt.Errorf("cannot locate the mhcc runtime: %w", err)}
	}
	irText := res.Module.String()
	dataPath := resolveDataPath(c.File, res.Program)
	if dataPath != "" {
		if abs, err := filepath.Abs(dataPath); err == nil {
			dataPath = abs
		}
	}
	p := &bundle.Payload{
		Version:     bundle.PayloadVersion,
		File:        filepath.Base(c.File),
		Source:      string(res.Source),
		Set:         c.Set,
		DataPath:    dataPath,
		DataWritten: res.Program.Train.Data.Path,
		IR:          irText,
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

// trainFlags are the flags shared by `mhcc run` and a compiled program.
// Those tagged `setting` override the program's settings (flags.go); the
// data flags come before the other settings of the data statement, which
// apply to the file they select.
type trainFlags struct {
	Steps string `name:"steps" setting:"train.steps" placeholder:"N" help:"Number of training steps."`
	Data  string `name:"data" setting:"train.data.file" placeholder:"PATH" help:"Train on this data file (relative to the current folder) instead of the program's data."`
	Seed  string `name:"seed" setting:"train.seed" placeholder:"N" help:"Random seed of the initialisation and the data."`
	Out   string `name:"out" placeholder:"DIR" help:"Run folder for checkpoints, metrics.jsonl and summary.json (default runs/<model>)."`
	setFlags
	runtimeFlags
}

// options are the run's options that are not settings of the program.
func (f *trainFlags) options(e *env) (train.Options, error) {
	o := train.Options{DataPath: f.Data, OutDir: f.Out, Log: e.stdout, Relaunch: e.relaunch()}
	if err := f.runtimeFlags.apply(&o); err != nil {
		return train.Options{}, err
	}
	return o, nil
}

type runCmd struct {
	File string `arg:"" help:"The .mhc file to compile and train."`
	trainFlags
	diagFlag
}

// Run compiles and trains.
func (c *runCmd) Run(e *env) error {
	res, err := compile(e, c.File, e.frontEnd(c.Diag))
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
	return runTraining(e, res.Program, res.Module, res.Source, opts)
}
