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
// `schedule`, `data` and `diagnostics` statements for one run, as --set
// would (flags.go): a flag left out keeps the program's value. They are
// embedded in trainFlags. A kind comes before its attributes (a new kind
// drops the attributes that do not apply to it).
type runtimeFlags struct {
	Resume          *string `name:"resume" placeholder:"CKPT" help:"Continue from a checkpoint, exactly where it stopped: --resume takes the newest in the run folder, --resume=CKPT a chosen one (a step number, a checkpoint folder name, or the path of a checkpoint folder; one of another run folder starts a fork in --out). The run's settings must match the checkpoint's (see --allow-changes)."`
	Overwrite       bool    `name:"overwrite" help:"Start afresh in a run folder that holds another run, deleting that run's checkpoints, metrics.jsonl and summary.json."`
	AllowChanges    bool    `name:"allow-changes" help:"Let --resume continue with settings that change the run (learning rate, schedule, batch, data, a longer cosine schedule); every change is printed and recorded in the checkpoints' history."`
	SkipBatches     string  `name:"skip-batches" placeholder:"STEPS" help:"Draw and discard the batches these steps would train on (e.g. 33 or 31-33,40), to go on past a batch that diverged."`
	CheckpointEvery string  `name:"checkpoint-every" setting:"train.checkpoint.every" placeholder:"N" help:"Write a checkpoint every N steps (0: only at the end and on Ctrl-C)."`
	Keep            string  `name:"keep" setting:"train.checkpoint.keep" placeholder:"K" help:"Keep the newest K checkpoints (0: all)."`
	Optimizer       string  `name:"optimizer" setting:"train.optimizer" placeholder:"KIND" help:"Optimizer: adamw or sgd."`
	Accumulate      string  `name:"accumulate" setting:"train.optimizer.accumulate" placeholder:"N" help:"Average the gradients of N micro-batches per optimizer step."`
	Momentum        string  `name:"momentum" setting:"train.optimizer.momentum" placeholder:"M" help:"SGD momentum."`
	Schedule        string  `name:"schedule" setting:"train.schedule" placeholder:"KIND" help:"Learning-rate schedule: constant, cosine, or step (the program's milestones, by default the mHC paper's ×0.316 at 80% and ×0.1 at 90%)."`
	DataFormat      string  `name:"data-format" setting:"train.data.format" placeholder:"FORMAT" help:"Format of the data file: text (bytes), bin (uint16 tokens) or auto (by extension)."`
	Vocab           string  `name:"vocab" setting:"train.data.vocab" placeholder:"N" help:"Declared vocabulary of a .bin token file (0: the model's)."`
	Sampling        string  `name:"sampling" setting:"train.data.sampling" placeholder:"MODE" help:"Training windows at random offsets, or walking through the data file in order (sequential)."`
	Task            string  `name:"task" setting:"train.data.task" placeholder:"TASK" help:"Synthetic task: markov, recall (associative recall) or dyck (nested brackets)."`
	DiagEvery       string  `name:"diag-every" setting:"train.diagnostics.every" placeholder:"N" help:"Write the hyper-connection diagnostics (gains, H_pre/H_post means, Sinkhorn residual) to metrics.jsonl every N steps (0: never)."`
	InjectNaN       string  `name:"debug-inject-nan" hidden:"" help:"Test hook: STEP:grad:PARAM or STEP:value:PARAM."`
}

// apply copies the flags that are not settings of the program into o:
// how the run starts, and the test hook.
func (f *runtimeFlags) apply(o *train.Options) error {
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
	o.InjectNaN = f.InjectNaN
	return nil
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
	Ckpt       string `name:"ckpt" required:"" placeholder:"DIR" help:"Checkpoint folder, or a run folder (its newest checkpoint)."`
	Data       string `name:"data" placeholder:"PATH" help:"Data file to evaluate on (default: the program's data, validation split)."`
	DataFormat string `name:"data-format" enum:",text,bin" default:"" placeholder:"FORMAT" help:"Format of --data: text or bin (default by extension)."`
	Vocab      int    `name:"vocab" schema:"train.data.vocab" placeholder:"N" help:"Declared vocabulary of a .bin token file (default: the model's)."`
	Split      string `name:"split" enum:",all,train,val" default:"" placeholder:"SPLIT" help:"Part of the file: all (default with --data), train, or val (the program's held-out tail)."`
	Windows    int    `name:"windows" min:"0" placeholder:"K" help:"Evaluate the first K non-overlapping context-length windows (default: eval.batches × batch)."`
	JSON       bool   `name:"json" help:"Print the result as JSON."`
}

func (f *evalFlags) run(e *env, p *lang.Program, m *ir.Module, defaultData string) error {
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
	res, err := compile(e, c.File, e.frontEnd(c.Diag))
	if err != nil {
		return err
	}
	return c.run(e, res.Program, res.Module, resolveDataPath(c.File, res.Program))
}

// sampleFlags are the flags of `sample`.
type sampleFlags struct {
	Ckpt        string  `name:"ckpt" required:"" placeholder:"DIR" help:"Checkpoint folder, or a run folder (its newest checkpoint)."`
	Prompt      string  `name:"prompt" placeholder:"TEXT" help:"Text to continue (bytes are tokens; default: a newline)."`
	Tokens      int     `name:"tokens" default:"200" min:"0" placeholder:"N" help:"Number of tokens to generate."`
	Temperature float64 `name:"temperature" default:"1.0" min:"0" placeholder:"T" help:"Softmax temperature; 0 picks the most likely token."`
	TopK        int     `name:"top-k" default:"0" min:"0" placeholder:"K" help:"Sample among the K most likely tokens (0: all)."`
	Seed        int64   `name:"seed" default:"1" min:"0" placeholder:"S" help:"Random seed of the sampler."`
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
		Temperature: f.Temperature, TopK: f.TopK, Seed: uint64(f.Seed), Emit: emit})
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
	res, err := compile(e, c.File, e.frontEnd(c.Diag))
	if err != nil {
		return err
	}
	return c.run(e, res.Program)
}

type plotCmd struct {
	Runs   []string `arg:"" help:"Run folders (each with a metrics.jsonl)."`
	Out    string   `name:"out" short:"o" placeholder:"PATH" help:"Output path without extension: PATH.png and PATH.svg are written (default for one run: RUN/loss; required for several)."`
	Smooth int      `name:"smooth" default:"1" min:"1" placeholder:"N" help:"Smooth the training loss with an exponential moving average over about N steps (1: the raw loss)."`
	Title  string   `name:"title" placeholder:"TEXT" help:"Plot title."`
}

// Run plots the loss curves of the runs.
func (c *plotCmd) Run(e *env) error {
	out := c.Out
	if out == "" {
		if len(c.Runs) > 1 {
			return &exitError{code: exitUsage, err: errors.New("plotting several runs needs -o PATH: PATH.png and PATH.svg are written")}
		}
		dir := c.Runs[0]
		if st, err := os.Stat(dir); err == nil && !st.IsDir() {
			dir = filepath.Dir(dir) // the metrics.jsonl itself
		}
		out = filepath.Join(dir, "loss")
	}
	paths, err := train.PlotRuns(c.Runs, train.PlotOptions{Out: out, Smooth: c.Smooth, Title: c.Title, Log: e.stderr})
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
