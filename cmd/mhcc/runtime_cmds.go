package main

// This file holds the runtime side of the CLI shared by mhcc and compiled
// executables: the training flags that override the train block's
// checkpoint, optimizer, schedule and data statements, signal handling
// around training, and the eval, sample and plot commands.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/mhcc/mhcc/backend/runtime/checkpoint"
	"github.com/mhcc/mhcc/backend/runtime/train"
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// exitInterrupted is the exit code of a run stopped by SIGINT or SIGTERM
// after writing its checkpoint (128 + SIGINT, the shell's convention).
const exitInterrupted = 130

// runtimeFlags override the train block's `checkpoint`, `optimizer`,
// `schedule` and `data` statements for one run (as `--set` would, without
// changing the program); a flag left out keeps the program's value. They
// are embedded in trainFlags.
type runtimeFlags struct {
	Resume          *string  `placeholder:"CKPT" help:"Continue from a checkpoint, exactly where it stopped: --resume takes the newest in the run folder, --resume=CKPT a chosen one (a step number, a checkpoint folder name, or the path of a checkpoint folder; one of another run folder starts a fork in --out). The run's settings must match the checkpoint's (see --allow-changes)."`
	Overwrite       bool     `help:"Start afresh in a run folder that holds another run, deleting that run's checkpoints, metrics.jsonl and summary.json."`
	AllowChanges    bool     `name:"allow-changes" help:"Let --resume continue with settings that change the run (learning rate, schedule, batch, data, a longer cosine schedule); every change is printed and recorded in the checkpoints' history."`
	SkipBatches     string   `name:"skip-batches" placeholder:"STEPS" help:"Draw and discard the batches these steps would train on (e.g. 33 or 31-33,40), to go on past a batch that diverged."`
	CheckpointEvery *int     `name:"checkpoint-every" placeholder:"N" help:"Write a checkpoint every N steps (0: only at the end and on Ctrl-C; default: the program's checkpoint every=, 500)."`
	Keep            *int     `placeholder:"K" help:"Keep the newest K checkpoints (0: all; default: the program's checkpoint keep=, 3)."`
	Accumulate      *int     `placeholder:"N" help:"Average the gradients of N micro-batches per optimizer step (default: the program's optimizer accumulate=, 1)."`
	Optimizer       string   `enum:",adamw,sgd" default:"" placeholder:"KIND" help:"Optimizer: adamw or sgd (default: the program's)."`
	Momentum        *float64 `placeholder:"M" help:"SGD momentum (default: the program's optimizer sgd momentum=, 0)."`
	Schedule        string   `enum:",constant,cosine,step" default:"" placeholder:"KIND" help:"Learning-rate schedule: constant, cosine, or step (the program's milestones, by default the mHC paper's ×0.316 at 80% and ×0.1 at 90%; default: the program's schedule)."`
	Sampling        string   `enum:",random,sequential" default:"" placeholder:"MODE" help:"Training windows at random offsets, or walking through the file in order (default: the program's data sampling=, random)."`
	DataFormat      string   `name:"data-format" enum:",text,bin" default:"" placeholder:"FORMAT" help:"Format of the data file: text (bytes) or bin (uint16 tokens) (default: the program's data format=, by extension)."`
	Vocab           int      `placeholder:"N" help:"Declared vocabulary of a .bin token file (default: the program's data vocab=, the model's)."`
	Task            string   `enum:",markov,recall,dyck" default:"" placeholder:"TASK" help:"Synthetic task instead of the program's: markov, recall (associative recall) or dyck (nested brackets)."`
	InjectNaN       string   `name:"debug-inject-nan" hidden:"" help:"Test hook: STEP:grad:PARAM or STEP:value:PARAM."`
	DiagEvery       *int     `name:"diag-every" placeholder:"N" help:"Write the hyper-connection diagnostics (gains, H_pre/H_post means, Sinkhorn residual) to metrics.jsonl every N steps (0: never; default: the program's diagnostics every=, else its eval interval)."`
}

// apply copies the flags that were given into o.
func (f *runtimeFlags) apply(o *train.Options) error {
	switch {
	case f.CheckpointEvery != nil && *f.CheckpointEvery < 0:
		return &exitError{code: exitUsage, err: fmt.Errorf("--checkpoint-every must not be negative, got %d", *f.CheckpointEvery)}
	case f.Keep != nil && *f.Keep < 0:
		return &exitError{code: exitUsage, err: fmt.Errorf("--keep must not be negative, got %d", *f.Keep)}
	case f.Accumulate != nil && *f.Accumulate < 1:
		return &exitError{code: exitUsage, err: fmt.Errorf("--accumulate must be at least 1, got %d", *f.Accumulate)}
	case f.Momentum != nil && !(*f.Momentum >= 0 && *f.Momentum < 1):
		return &exitError{code: exitUsage, err: fmt.Errorf("--momentum must be in [0, 1), got %v", *f.Momentum)}
	case f.Vocab < 0:
		return &exitError{code: exitUsage, err: fmt.Errorf("--vocab must not be negative, got %d", f.Vocab)}
	case f.DiagEvery != nil && *f.DiagEvery < 0:
		return &exitError{code: exitUsage, err: fmt.Errorf("--diag-every must not be negative, got %d", *f.DiagEvery)}
	}
	if f.Resume != nil {
		o.Resume, o.ResumeFrom = true, *f.Resume
	}
	o.Overwrite, o.AllowChanges = f.Overwrite, f.AllowChanges
	if f.SkipBatches != "" {
		steps, err := train.ParseSteps(f.SkipBatches)
		if err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("--skip-batches: %w", err)}
		}
		o.SkipBatches = steps
	}
	o.CheckpointEvery, o.Keep = intOverride(f.CheckpointEvery), intOverride(f.Keep)
	o.DiagEvery = intOverride(f.DiagEvery)
	if f.Accumulate != nil {
		o.Accumulate = *f.Accumulate
	}
	if f.Momentum != nil {
		o.Momentum = *f.Momentum
		if o.Momentum == 0 {
			o.Momentum = train.SetZero
		}
	}
	o.Optimizer, o.Schedule, o.Sampling = f.Optimizer, f.Schedule, f.Sampling
	o.DataFormat, o.Vocab, o.Task, o.InjectNaN = f.DataFormat, f.Vocab, f.Task, f.InjectNaN
	return nil
}

// intOverride is the train.Options value of an optional flag whose 0 is
// meaningful: 0 (the program's) when absent, train.SetZero for 0.
func intOverride(p *int) int {
	switch {
	case p == nil:
		return 0
	case *p == 0:
		return train.SetZero
	}
	return *p
}

// runTraining trains with SIGINT and SIGTERM turned into a clean stop: the
// current step finishes, a checkpoint is written and the exit code is
// exitInterrupted. A second signal during that kills the process the
// default way (the previous checkpoints stay intact).
func runTraining(e *env, p *lang.Program, m *ir.Module, source []byte, opts train.Options) error {
	opts.Source = source
	opts.TTY = isTerminal(e.stdout)
	stop, release := stopOnSignal(e)
	defer release()
	opts.Stop = stop
	_, err := train.Run(p, m, opts)
	if errors.Is(err, train.ErrInterrupted) {
		fmt.Fprintln(e.stdout, err)
		return &exitError{code: exitInterrupted}
	}
	if errors.Is(err, train.ErrRefused) {
		return &exitError{code: exitUsage, err: err}
	}
	if err != nil {
		return &exitError{code: exitRuntime, err: err}
	}
	return nil
}

// stopOnSignal returns a channel closed by the first SIGINT or SIGTERM,
// for train.Options.Stop; after it, the signals get their default action
// again (a second one kills the process). release stops listening.
func stopOnSignal(e *env) (stop <-chan struct{}, release func()) {
	ch := make(chan struct{})
	sigs := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-sigs:
			signal.Reset(os.Interrupt, syscall.SIGTERM)
			fmt.Fprintf(e.stderr, "\n%v: stopping after this step and writing a checkpoint (again to abort)\n", s)
			close(ch)
		case <-done:
		}
	}()
	return ch, func() {
		signal.Stop(sigs)
		close(done)
	}
}

// evalFlags are the flags of `eval`.
type evalFlags struct {
	Ckpt       string `required:"" placeholder:"DIR" help:"Checkpoint folder, or a run folder (its newest checkpoint)."`
	Data       string `placeholder:"PATH" help:"Data file to evaluate on (default: the program's data, validation split)."`
	DataFormat string `name:"data-format" enum:",text,bin" default:"" placeholder:"FORMAT" help:"Format of --data: text or bin (default by extension)."`
	Vocab      int    `placeholder:"N" help:"Declared vocabulary of a .bin token file (default: the model's)."`
	Split      string `enum:",all,train,val" default:"" placeholder:"SPLIT" help:"Part of the file: all (default with --data), train, or val (the program's held-out tail)."`
	Windows    int    `placeholder:"K" help:"Evaluate the first K non-overlapping context-length windows (default: eval.batches × batch)."`
	JSON       bool   `name:"json" help:"Print the result as JSON."`
}

func (f *evalFlags) run(e *env, p *lang.Program, m *ir.Module, defaultData string) error {
	if f.Windows < 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("--windows must not be negative, got %d", f.Windows)}
	}
	path := f.Data
	split := f.Split
	if path == "" && defaultData != "" {
		path = defaultData
		if split == "" {
			split = "val"
		}
	}
	res, err := train.Evaluate(p, m, train.EvalOptions{Checkpoint: f.Ckpt, Split: split, Windows: f.Windows,
		Data: train.DataSpec{Path: path, Format: f.DataFormat, Vocab: f.Vocab}})
	if err != nil {
		return &exitError{code: exitRuntime, err: err}
	}
	if f.JSON {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return &exitError{code: exitRuntime, err: err}
		}
		fmt.Fprintln(e.stdout, string(b))
		return nil
	}
	fmt.Fprintf(e.stdout, "checkpoint %s (step %d)\ndata       %s, %s split\nwindows    %d × %d tokens\nloss       %.6f nats/token (perplexity %.3f)\n",
		res.Checkpoint, res.Step, res.Data, res.Split, res.Windows, res.Context, res.Loss, res.Perplexity)
	return nil
}

type evalCmd struct {
	File string `arg:"" help:"The .mhc file the checkpoint was trained from."`
	evalFlags
	setFlags
	diagFlag
}

// Run evaluates a checkpoint of the compiled file.
func (c *evalCmd) Run(e *env) error {
	res, err := compile(e, c.File, frontEnd{Set: c.Set, Diag: c.Diag})
	if err != nil {
		return err
	}
	return c.run(e, res.Program, res.Module, resolveDataPath(c.File, res.Program))
}

// sampleFlags are the flags of `sample`.
type sampleFlags struct {
	Ckpt        string  `required:"" placeholder:"DIR" help:"Checkpoint folder, or a run folder (its newest checkpoint)."`
	Prompt      string  `placeholder:"TEXT" help:"Text to continue (bytes are tokens; default: a newline)."`
	Tokens      int     `default:"200" placeholder:"N" help:"Number of tokens to generate."`
	Temperature float64 `default:"1.0" placeholder:"T" help:"Softmax temperature; 0 picks the most likely token."`
	TopK        int     `name:"top-k" default:"0" placeholder:"K" help:"Sample among the K most likely tokens (0: all)."`
	Seed        uint64  `default:"1" placeholder:"S" help:"Random seed of the sampler."`
}

func (f *sampleFlags) run(e *env, p *lang.Program) error {
	prompt := make([]int, len(f.Prompt))
	for i := 0; i < len(f.Prompt); i++ {
		prompt[i] = int(f.Prompt[i])
	}
	vocab := p.Model.Vocab
	first := true
	emit := func(tok int) {
		if vocab <= 256 {
			e.stdout.Write([]byte{byte(tok)})
			return
		}
		if !first {
			fmt.Fprint(e.stdout, " ")
		}
		first = false
		fmt.Fprint(e.stdout, tok)
	}
	if vocab <= 256 {
		fmt.Fprint(e.stdout, f.Prompt)
	}
	_, err := train.Sample(p, train.SampleOptions{Checkpoint: f.Ckpt, Prompt: prompt, Tokens: f.Tokens,
		Temperature: f.Temperature, TopK: f.TopK, Seed: f.Seed, Emit: emit})
	fmt.Fprintln(e.stdout)
	if err != nil {
		return &exitError{code: exitRuntime, err: err}
	}
	return nil
}

type sampleCmd struct {
	File string `arg:"" help:"The .mhc file the checkpoint was trained from."`
	sampleFlags
	setFlags
	diagFlag
}

// Run samples from a checkpoint of the compiled file.
func (c *sampleCmd) Run(e *env) error {
	res, err := compile(e, c.File, frontEnd{Set: c.Set, Diag: c.Diag})
	if err != nil {
		return err
	}
	return c.run(e, res.Program)
}

type plotCmd struct {
	Runs   []string `arg:"" help:"Run folders (each with a metrics.jsonl)."`
	Out    string   `short:"o" default:"loss" placeholder:"PATH" help:"Output path without extension: PATH.png and PATH.svg are written."`
	Smooth int      `default:"1" placeholder:"N" help:"Smooth the training loss with an exponential moving average over about N steps."`
	Title  string   `placeholder:"TEXT" help:"Plot title."`
}

// Run plots the loss curves of the runs.
func (c *plotCmd) Run(e *env) error {
	paths, err := train.PlotRuns(c.Runs, train.PlotOptions{Out: c.Out, Smooth: c.Smooth, Title: c.Title})
	if err != nil {
		return &exitError{code: exitRuntime, err: err}
	}
	for _, p := range paths {
		fmt.Fprintf(e.stdout, "wrote %s\n", p)
	}
	return nil
}

// resumeArgs lets --resume be written without a value: the bare flag
// becomes --resume= (the newest checkpoint), which kong's flags cannot
// express themselves. A checkpoint written after a bare --resume as a
// separate word is refused with the spelling that works, rather than
// taken for an argument.
func resumeArgs(args []string) ([]string, error) {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...), nil
		}
		if a != "--resume" {
			out = append(out, a)
			continue
		}
		if i+1 < len(args) && looksLikeCheckpoint(args[i+1]) {
			return nil, fmt.Errorf("--resume takes its checkpoint after '=': --resume=%s", args[i+1])
		}
		out = append(out, "--resume=")
	}
	return out, nil
}

// looksLikeCheckpoint reports whether a word names a checkpoint: a step
// number, a ckpt-NNNNNN folder name, or a folder holding a state.json.
func looksLikeCheckpoint(s string) bool {
	if _, err := strconv.Atoi(s); err == nil {
		return true
	}
	if strings.HasPrefix(filepath.Base(s), "ckpt-") {
		return true
	}
	_, err := os.Stat(filepath.Join(s, checkpoint.StateFile))
	return err == nil
}

// relaunchCommand is the command line that starts this run again: the
// program as invoked and its arguments, minus the flags that choose how
// it starts (--resume, --overwrite, --allow-changes, --skip-batches), for
// the advice after a divergence.
func relaunchCommand(argv0 string, args []string) string {
	drop := map[string]bool{"--resume": true, "--overwrite": true, "--allow-changes": true}
	withValue := map[string]bool{"--skip-batches": true}
	words := []string{argv0}
	for i := 0; i < len(args); i++ {
		name, _, _ := strings.Cut(args[i], "=")
		switch {
		case drop[name]:
		case withValue[name]:
			if !strings.Contains(args[i], "=") {
				i++ // its value
			}
		default:
			words = append(words, train.ShellQuote(args[i]))
		}
	}
	return strings.Join(words, " ")
}
