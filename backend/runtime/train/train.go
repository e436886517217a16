// Package train is the training loop behind `./train` and `mhcc run`: it
// builds the Gorgonia graphs of a compiled module, feeds batches from a data
// source, steps the optimizer under the learning-rate schedule, evaluates on
// held-out data, writes checkpoints and logs progress for the person
// watching the run. It also evaluates and samples from checkpoints (eval.go,
// sample.go) and plots runs (plot.go).
//
// A run is reproducible: the same program, seed and data give the same
// per-step losses bit for bit, and a run resumed from a checkpoint
// continues exactly as the uninterrupted run would have (the checkpoint
// holds the parameters, the optimizer state, the data generator's state,
// the sequential data cursor and the partial log window).
package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/backend/runtime/bundle"
	"github.com/mhcc/mhcc/backend/runtime/checkpoint"
	"github.com/mhcc/mhcc/backend/runtime/data"
	"github.com/mhcc/mhcc/backend/runtime/memcheck"
	"github.com/mhcc/mhcc/backend/runtime/optim"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// Options are the run settings that override the program's train block.
// A zero field leaves the program's value (its statement, or the
// language's default) in place; where 0 is itself a meaningful value
// (CheckpointEvery, Keep, Momentum), SetZero overrides with 0.
type Options struct {
	// Steps overrides train.steps when > 0.
	Steps int
	// Seed overrides train.seed when HasSeed is set.
	Seed    int64
	HasSeed bool
	// DataPath overrides the data statement with a data file.
	DataPath string
	// DataFormat overrides the data file's `format=` ("text", "bin"; ""
	// the program's, which by default goes by the extension).
	DataFormat string
	// Vocab overrides the declared vocabulary of a token file (`vocab=`;
	// 0: the program's, which by default is the model's).
	Vocab int
	// Task overrides the synthetic task ("markov", "recall", "dyck").
	Task string
	// Sampling overrides `sampling=`: data.Random or data.Sequential.
	Sampling string
	// Optimizer overrides the optimizer kind ("adamw", "sgd").
	Optimizer string
	// Momentum overrides SGD's `momentum=` (SetZero: none).
	Momentum float64
	// Schedule overrides the schedule kind ("constant", "cosine", "step").
	Schedule string
	// Accumulate overrides `accumulate=`, the number of micro-batches
	// whose mean gradient makes one optimizer step.
	Accumulate int
	// CheckpointEvery overrides `checkpoint every=N`, the steps between
	// checkpoints (SetZero: only at the end and on interruption).
	CheckpointEvery int
	// Keep overrides `checkpoint keep=K`, how many checkpoints to keep
	// (SetZero: all).
	Keep int
	// Resume continues from a checkpoint: ResumeFrom, or the newest in the
	// run folder.
	Resume bool
	// ResumeFrom names the checkpoint to resume from: a step number, a
	// checkpoint folder name inside the run folder, or the path of a
	// checkpoint folder (of this run folder, or of another run: a fork
	// into OutDir). "" means the newest of the run folder.
	ResumeFrom string
	// Overwrite lets a run that does not resume take a run folder that
	// holds another run, deleting that run's checkpoints and logs.
	Overwrite bool
	// AllowChanges lets a resume continue with settings that differ from
	// the checkpoint's in ways that change the run (see settings.go).
	AllowChanges bool
	// SkipBatches lists steps whose batches are drawn and discarded: the
	// batch step N would get in a run that skips nothing (1-based). After
	// a divergence, skipping the batch that diverged lets a resume go on.
	SkipBatches []int
	// Relaunch is the command line that starts this run again, without
	// --resume, --overwrite, --allow-changes and --skip-batches; the advice
	// after a divergence extends it ("" prints "./train").
	Relaunch string
	// OutDir is the run folder (metrics.jsonl, summary.json, checkpoints);
	// "" means runs/<model name>.
	OutDir string
	// Source is the program text, recorded (as a hash) in checkpoints.
	Source []byte
	// Stop, when closed, ends the run after the current step with a
	// checkpoint; Run then returns an *InterruptedError.
	Stop <-chan struct{}
	// Log receives the human-readable log.
	Log io.Writer
	// TTY redraws one status line instead of printing a line every
	// log.every steps.
	TTY bool
	// InjectNaN is a test hook: "STEP:grad:PARAM" makes the gradient of
	// PARAM NaN on the batch of STEP, "STEP:value:PARAM" poisons the
	// parameter itself. STEP counts batches of the data stream (the step
	// that trains on it when none is skipped), so that --skip-batches
	// passes an injected failure the way it passes a real bad batch.
	InjectNaN string
	// DiagEvery overrides `diagnostics every=N`, the steps between the
	// hyper-connection diagnostics in metrics.jsonl (SetZero: none).
	DiagEvery int
	// Progress, when set, is called after every step (for a caller that
	// shows its own progress, such as ablate).
	Progress func(Progress)
}

// Progress is where a run is, for Options.Progress.
type Progress struct {
	Step, Steps int           // the completed step, of the run's steps
	Loss        float64       // the training loss of the step
	Elapsed     time.Duration // training time of this process so far
}

// Result summarises a finished run.
type Result struct {
	Steps       int     `json:"steps"`
	FinalLoss   float64 `json:"final_train_loss"` // mean train loss of the last log window
	ValLoss     float64 `json:"final_val_loss"`   // NaN when there is no validation split
	LossFloor   float64 `json:"loss_floor,omitempty"`
	MsPerStep   float64 `json:"ms_per_step"`
	TokensPerS  float64 `json:"tokens_per_s"`
	Params      int     `json:"params"`
	OutDir      string  `json:"out_dir"`
	DataName    string  `json:"data"`
	ModelName   string  `json:"model"`
	ResidualCfg string  `json:"residual"`
	Checkpoint  string  `json:"checkpoint,omitempty"`   // the last checkpoint written
	ResumedFrom int     `json:"resumed_from,omitempty"` // the step a resumed run started from
	RunID       string  `json:"run_id"`
	// History lists what happened to the run besides training (forks,
	// skipped batches, settings changed on a resume).
	History []string `json:"history,omitempty"`
}

// ErrInterrupted is matched (errors.Is) by the error of a run stopped
// through Options.Stop.
var ErrInterrupted = errors.New("training interrupted")

// InterruptedError reports a run stopped through Options.Stop.
type InterruptedError struct {
	Step       int    // completed steps
	Checkpoint string // the checkpoint holding them
}

// Error says where the run stopped and which checkpoint holds it.
func (e *InterruptedError) Error() string {
	return fmt.Sprintf("interrupted after step %d; checkpoint %s written (continue with --resume)", e.Step, e.Checkpoint)
}

// Is makes errors.Is(err, ErrInterrupted) true.
func (e *InterruptedError) Is(target error) bool { return target == ErrInterrupted }

// DivergedError reports a non-finite loss or gradient.
type DivergedError struct {
	Step int
	// What is "loss" or "gradient".
	What string
	// Value is the offending loss or gradient norm.
	Value float64
	// Param is the first parameter (in IR order) holding a non-finite
	// value or, failing that, the first with a non-finite gradient; ""
	// if there is none.
	Param string
	// ParamValue reports that Param's values (not its gradient) are bad.
	ParamValue bool
	// LastCheckpoint is the newest checkpoint of the run ("" if none).
	LastCheckpoint string
	// Draw is the data draw of the step that diverged: the step whose
	// batch it is in a run that skips nothing (--skip-batches).
	Draw int
	// LR is the learning rate of the step that diverged.
	LR float64
	// Relaunch is the command that restarts the run (Options.Relaunch).
	Relaunch string
}

// Error names the step, the offending parameter and the last good
// checkpoint.
func (e *DivergedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "step %d: the %s is %v: training diverged", e.Step, e.What, e.Value)
	switch {
	case e.Param != "" && e.ParamValue:
		fmt.Fprintf(&b, "; parameter %s holds non-finite values", e.Param)
	case e.Param != "":
		fmt.Fprintf(&b, "; first non-finite gradient: %s", e.Param)
	}
	cmd := e.Relaunch
	if cmd == "" {
		cmd = "./train"
	}
	from := "--overwrite" // no checkpoint: start again
	if e.LastCheckpoint != "" {
		fmt.Fprintf(&b, "; last good checkpoint: %s", e.LastCheckpoint)
		from = "--resume=" + ShellQuote(e.LastCheckpoint)
	} else {
		b.WriteString("; no checkpoint was written before it")
	}
	fmt.Fprintf(&b, "\nto go on past the batch that diverged, skip it:\n  %s %s --skip-batches %d", cmd, from, e.Draw)
	if e.LR > 0 {
		fmt.Fprintf(&b, "\nor lower the learning rate (this step's was %s):\n  %s %s --set train.optimizer.lr=%s", fmtLR(e.LR), cmd, from, strconv.FormatFloat(e.LR/2, 'g', 3, 64))
		if e.LastCheckpoint != "" {
			b.WriteString(" --allow-changes")
		}
	}
	return b.String()
}

// ShellQuote quotes s for a POSIX shell when it needs it.
func ShellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == '=' || r == ':' || r == ',' ||
			('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// run is the state of one training run.
type run struct {
	p      *lang.Program
	m      *ir.Module
	opts   Options
	log    io.Writer
	steps  int
	seed   int64
	B, T   int
	accum  int
	outDir string

	src       data.Source
	sampler   *data.Sampler
	g         *gb.Graph
	ev        *evaluator
	diag      *diagnoser // nil: no hyper-connection diagnostics (diagnostics.go)
	diagEvery int
	val       windowSet
	hasVal    bool
	moe       *moeState // nil without mixture-of-experts sublayers (moe.go)
	trained   []*gb.Param
	tensors   []optim.Tensor
	acc       [][]float32
	stepAux   float64 // the step's mean auxiliary balance loss (balance=aux)
	opt       optim.Optimizer
	sched     optim.Schedule
	schedDesc string
	pcg       *rand.PCG
	rng       *rand.Rand
	nparams   int

	// The resolved settings that Options may override.
	ckEvery, keep int
	momentum      float64

	step       int   // completed steps
	draws      int   // steps' worth of batches drawn: step + batches skipped
	skip       []int // draws still to skip, ascending
	runID      string
	history    []string
	window     checkpoint.LogWindow
	lastCkpt   string
	savedStep  int
	sourceHash string
	irHash     string
	inject     struct {
		step  int
		value bool
		param string
	}
}

// Run trains the module m compiled from program p.
func Run(p *lang.Program, m *ir.Module, opts Options) (*Result, error) {
	r, err := newRun(p, m, opts)
	if err != nil {
		return nil, err
	}
	defer r.close()
	return r.train()
}

func newRun(p *lang.Program, m *ir.Module, opts Options) (_ *run, err error) {
	r := &run{p: p, m: m, opts: opts, log: opts.Log, savedStep: -1}
	if r.log == nil {
		r.log = io.Discard
	}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	tr := p.Train
	r.steps = tr.Steps
	if opts.Steps > 0 {
		r.steps = opts.Steps
	}
	r.seed = tr.Seed
	if opts.HasSeed {
		r.seed = opts.Seed
	}
	r.accum = max(overrideInt(opts.Accumulate, tr.Optimizer.Accumulate), 1)
	r.B, r.T = tr.Batch, p.Model.Context
	r.outDir = opts.OutDir
	if r.outDir == "" {
		r.outDir = filepath.Join("runs", p.Model.Name)
	}
	r.ckEvery = overrideInt(opts.CheckpointEvery, tr.Checkpoint.Every)
	r.keep = overrideInt(opts.Keep, tr.Checkpoint.Keep)
	r.momentum = tr.Optimizer.Momentum
	if opts.Momentum == SetZero {
		r.momentum = 0
	} else if opts.Momentum != 0 {
		r.momentum = opts.Momentum
	}
	if r.ckEvery < 0 || r.keep < 0 {
		return nil, fmt.Errorf("checkpoint interval %d and keep %d must not be negative", r.ckEvery, r.keep)
	}
	if err := r.parseInject(); err != nil {
		return nil, err
	}

	if err := r.openData(); err != nil {
		return nil, err
	}

	if r.diagEvery = overrideInt(opts.DiagEvery, tr.Diagnostics.Every); r.diagEvery < 0 {
		return nil, fmt.Errorf("the diagnostics interval %d must not be negative", r.diagEvery)
	}
	if tr.Eval.Every > 0 {
		r.val, r.hasVal = valWindows(r.src, r.seed, r.B, r.T, tr.Eval.Batches)
	}
	if err := r.checkMemory(); err != nil {
		return nil, err
	}

	binds := map[string]int{compiler.SymBatch: r.B, compiler.SymTime: r.T}
	if r.g, err = gb.Build(m, gb.Options{Binds: binds, DType: gb.Float32, Grad: true}); err != nil {
		return nil, fmt.Errorf("building the training graph: %w", err)
	}
	r.g.InitParams(r.seed)
	if r.ev, err = newEvaluator(m, r.g, r.B, r.T); err != nil {
		return nil, err
	}
	if r.diagEvery > 0 {
		if r.diag, err = newDiagnoser(p, r.g, r.B, r.T); err != nil {
			return nil, err
		}
	}

	if r.moe, err = newMoEState(p, r.g, r.B, r.T); err != nil {
		return nil, err
	}
	for _, prm := range r.g.Params() {
		if !prm.Trainable {
			continue // the selection biases: set by the balancing (moe.go)
		}
		r.trained = append(r.trained, prm)
		grad := prm.GradF32()
		if r.accum > 1 {
			grad = make([]float32, len(prm.F32()))
		}
		r.acc = append(r.acc, grad)
		r.tensors = append(r.tensors, optim.Tensor{Name: prm.Name, Data: prm.F32(), Grad: grad, Decay: prm.Decay})
		r.nparams += len(prm.F32())
	}
	if r.opt, err = newOptimizer(tr, opts.Optimizer, r.momentum, r.tensors); err != nil {
		return nil, err
	}
	if r.sched, r.schedDesc, err = newSchedule(tr, opts.Schedule, r.steps); err != nil {
		return nil, err
	}
	memcheck.BoundGarbage() // the graphs are built: bound the garbage their steps leave
	r.pcg = rand.NewPCG(uint64(r.seed), 0x7472_6169_6e)
	r.rng = rand.New(r.pcg)
	r.irHash = bundle.Hash(m.String())
	if len(opts.Source) > 0 {
		r.sourceHash = bundle.Hash(string(opts.Source))
	}
	return r, nil
}

// openData opens the run's data source and sampler for the run's seed
// (which seeds synthetic data).
func (r *run) openData() (err error) {
	opts, p := r.opts, r.p
	spec := DataSpec{Path: opts.DataPath, Format: opts.DataFormat, Vocab: opts.Vocab, Task: opts.Task}
	if r.src, err = openData(p, spec, r.seed, valFraction(p)); err != nil {
		return err
	}
	sampling := opts.Sampling
	if sampling == "" {
		sampling = p.Train.Data.Sampling
	}
	if sampling == "" {
		sampling = data.Random
	}
	r.sampler, err = data.NewSampler(r.src, sampling)
	return err
}

func (r *run) close() {
	if r.ev != nil {
		r.ev.close()
	}
	r.diag.close()
	if r.g != nil {
		r.g.Close()
	}
}

func (r *run) parseInject() error {
	if r.opts.InjectNaN == "" {
		return nil
	}
	parts := strings.SplitN(r.opts.InjectNaN, ":", 3)
	step, err := strconv.Atoi(parts[0])
	if len(parts) != 3 || err != nil || (parts[1] != "grad" && parts[1] != "value") {
		return fmt.Errorf("bad NaN injection %q (want STEP:grad:PARAM or STEP:value:PARAM)", r.opts.InjectNaN)
	}
	r.inject.step, r.inject.value, r.inject.param = step, parts[1] == "value", parts[2]
	return nil
}

func (r *run) train() (*Result, error) {
	p, tr, log := r.p, r.p.Train, r.log
	if err := os.MkdirAll(r.outDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the run folder: %w", err)
	}
	release, err := lockFolder(r.outDir)
	if err != nil {
		return nil, err
	}
	defer release()
	if r.inject.param != "" && r.g.Param(r.inject.param) == nil {
		return nil, fmt.Errorf("NaN injection: no parameter %q", r.inject.param)
	}
	if removed, err := checkpoint.CleanTemp(r.outDir); err != nil {
		return nil, fmt.Errorf("cleaning the run folder: %w", err)
	} else if len(removed) > 0 {
		fmt.Fprintf(log, "removed %d incomplete checkpoint folder(s) left by an interrupted write\n", len(removed))
	}
	res := &Result{Steps: r.steps, Params: r.nparams, OutDir: r.outDir, DataName: r.src.Name(),
		ModelName: p.Model.Name, ResidualCfg: describeResidual(p.Model.Residual), ValLoss: math.NaN()}
	floor := math.NaN()
	if f, ok := r.src.(interface{ LossFloor(T int) float64 }); ok {
		floor = f.LossFloor(r.T)
		res.LossFloor = floor
	}
	metricsPath := filepath.Join(r.outDir, MetricsFile)
	resumed, err := r.start(metricsPath)
	if err != nil {
		return nil, err
	}
	res.RunID = r.runID
	if resumed {
		res.ResumedFrom = r.step
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if resumed {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	metricsFile, err := os.OpenFile(metricsPath, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening metrics.jsonl: %w", err)
	}
	defer metricsFile.Close()
	metrics := json.NewEncoder(metricsFile)

	printHeader(log, p, res, r, floor)
	if r.step >= r.steps {
		fmt.Fprintf(log, "nothing to do: the checkpoint is at step %d and the run has %d steps\n", r.step, r.steps)
		res.Checkpoint = r.lastCkpt
		return res, nil
	}

	st := newStatus(log, r.opts.TTY)
	logEvery := max(tr.Log.Every, 1)
	tokens := make([]int, r.B*r.T)
	targets := make([]int, r.B*r.T)
	var windowTime, totalTime time.Duration
	windowN0 := r.window.Steps
	startStep := r.step
	for r.step < r.steps {
		step := r.step + 1
		for len(r.skip) > 0 && r.skip[0] <= r.draws+1 {
			if r.skip[0] == r.draws+1 {
				for range r.accum {
					r.sampler.Batch(r.rng, r.B, r.T, tokens, targets)
				}
				r.draws++
				st.println(fmt.Sprintf("skipped the batch of step %d (--skip-batches)", r.draws))
			}
			r.skip = r.skip[1:]
		}
		r.draws++
		start := time.Now()
		loss, err := r.forwardBackward(step, tokens, targets)
		if err != nil {
			st.done()
			return nil, err
		}
		// The diagnostics of this step's (last) batch and parameters, before
		// the update; their time does not count as training time.
		var hc *HCStats
		if r.diag != nil && (step == 1 || step%r.diagEvery == 0 || step == r.steps) {
			s, err := r.diag.run(tokens, targets)
			if err != nil {
				st.done()
				return nil, fmt.Errorf("step %d: %w", step, err)
			}
			hc = &s
			start = start.Add(r.diag.took)
		}
		gnorm := optim.GlobalNorm(r.tensors)
		if math.IsNaN(gnorm) || math.IsInf(gnorm, 0) {
			st.done()
			return nil, r.diverged(step, "gradient norm", gnorm, r.acc)
		}
		lr := r.sched.LR(step)
		optim.StepClipped(r.opt, r.tensors, lr, optim.ClipScale(gnorm, tr.Optimizer.Clip))
		r.step = step
		var moeRec Record
		if r.moe != nil {
			r.moe.finish(&moeRec)
		}
		dt := time.Since(start)
		totalTime += dt
		windowTime += dt
		r.window.LossSum += loss
		r.window.Steps++

		rec := Record{Step: step, Loss: loss, LR: lr, GradNorm: gnorm, Ms: float64(dt.Microseconds()) / 1000,
			TokS: float64(r.B*r.T*r.accum) / dt.Seconds()}
		if hc != nil && hc.finite() {
			hc.record(&rec)
		}
		rec.MoEMaxLoad, rec.MoEMinLoad = moeRec.MoEMaxLoad, moeRec.MoEMinLoad
		if r.m.Output(compiler.OutputAuxLoss) != nil {
			aux := r.stepAux
			rec.AuxLoss = &aux
		}
		if r.hasVal && (step%tr.Eval.Every == 0 || step == r.steps) {
			vl, err := r.ev.meanLoss(r.val)
			if err != nil {
				st.done()
				return nil, err
			}
			rec.ValLoss = &vl
			res.ValLoss = vl
		}
		line := fmt.Sprintf("step %*d/%d | loss %.4f | lr %.1e | gnorm %.2f | %.0f ms | %s tok/s",
			len(fmt.Sprint(r.steps)), step, r.steps, loss, lr, gnorm, rec.Ms, HumanCount(rec.TokS))
		if step%logEvery == 0 || step == r.steps {
			n := r.window.Steps
			res.FinalLoss = r.window.LossSum / float64(n)
			timed := n - windowN0 // steps of this window run by this process
			ms := float64(windowTime.Microseconds()) / 1000 / float64(max(timed, 1))
			tokS := float64(r.B*r.T*r.accum*timed) / windowTime.Seconds()
			line = fmt.Sprintf("step %*d/%d | loss %.4f | lr %.1e | gnorm %.2f | %.0f ms | %s tok/s",
				len(fmt.Sprint(r.steps)), step, r.steps, res.FinalLoss, lr, gnorm, ms, HumanCount(tokS))
			if m := maxLoad(&rec); !math.IsNaN(m) {
				line += fmt.Sprintf(" | max load %.2f×", m)
			}
			if rec.ValLoss != nil {
				line += fmt.Sprintf(" | val %.4f", *rec.ValLoss)
			}
			if !st.tty {
				st.println(line)
			}
			r.window = checkpoint.LogWindow{}
			windowTime, windowN0 = 0, 0
		}
		if st.tty {
			if rec.ValLoss != nil {
				st.println(fmt.Sprintf("step %d | val %.4f", step, *rec.ValLoss))
			}
			st.status(line)
		} else if rec.ValLoss != nil && !(step%logEvery == 0 || step == r.steps) {
			st.println(fmt.Sprintf("eval step %d | val %.4f", step, *rec.ValLoss))
		}
		if err := metrics.Encode(rec); err != nil {
			st.done()
			return nil, fmt.Errorf("writing metrics.jsonl: %w", err)
		}
		if r.opts.Progress != nil {
			r.opts.Progress(Progress{Step: step, Steps: r.steps, Loss: loss, Elapsed: totalTime})
		}
		if r.ckEvery > 0 && step%r.ckEvery == 0 && step < r.steps {
			if err := r.checkpoint(st); err != nil {
				st.done()
				return nil, err
			}
		}
		if r.stopped() && step < r.steps {
			if r.savedStep != r.step {
				if err := r.checkpoint(st); err != nil {
					st.done()
					return nil, err
				}
			}
			st.done()
			return nil, &InterruptedError{Step: r.step, Checkpoint: r.lastCkpt}
		}
	}
	st.done()
	if r.savedStep != r.step {
		if err := r.checkpoint(nil); err != nil {
			return nil, err
		}
	}
	res.Checkpoint, res.History = r.lastCkpt, r.history
	ran := r.step - startStep
	res.MsPerStep = float64(totalTime.Microseconds()) / 1000 / float64(ran)
	res.TokensPerS = float64(r.B*r.T*r.accum*ran) / totalTime.Seconds()
	val := "n/a"
	if !math.IsNaN(res.ValLoss) {
		val = fmt.Sprintf("%.4f", res.ValLoss)
	}
	fmt.Fprintf(log, "done: %d steps | train loss %.4f | val loss %s | %.0f ms/step | %s tok/s\n",
		r.steps, res.FinalLoss, val, res.MsPerStep, HumanCount(res.TokensPerS))
	if !math.IsNaN(floor) {
		fmt.Fprintf(log, "loss floor (best achievable loss on this data) %.4f nats/token\n", floor)
	}
	fmt.Fprintf(log, "checkpoint %s\n", res.Checkpoint)
	if err := writeSummary(r.outDir, res); err != nil {
		return nil, err
	}
	return res, nil
}

// forwardBackward runs the accum micro-batches of one step and leaves
// their mean gradient in r.acc (which, without accumulation, is the
// graph's own gradient buffer); it returns the mean loss.
func (r *run) forwardBackward(step int, tokens, targets []int) (float64, error) {
	var lossSum float64
	r.stepAux = 0
	for micro := 0; micro < r.accum; micro++ {
		r.sampler.Batch(r.rng, r.B, r.T, tokens, targets)
		if err := feed(r.g, tokens, targets); err != nil {
			return 0, err
		}
		if r.draws == r.inject.step && micro == 0 && r.inject.value {
			r.g.Param(r.inject.param).F32()[0] = float32(math.NaN())
		}
		loss, err := r.g.Run()
		if err != nil {
			return 0, fmt.Errorf("step %d: %w", step, err)
		}
		if r.draws == r.inject.step && micro == 0 && !r.inject.value {
			r.g.Param(r.inject.param).GradF32()[0] = float32(math.NaN())
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			grads := make([][]float32, 0, len(r.trained))
			for _, prm := range r.trained {
				grads = append(grads, prm.GradF32())
			}
			return 0, r.diverged(step, "loss", loss, grads)
		}
		if r.moe != nil {
			if err := r.moe.observe(r.g); err != nil {
				return 0, fmt.Errorf("step %d: %w", step, err)
			}
		}
		if loss, err = r.crossEntropy(loss); err != nil {
			return 0, fmt.Errorf("step %d: %w", step, err)
		}
		lossSum += loss
		if r.accum == 1 {
			break
		}
		for k, prm := range r.trained {
			a, g := r.acc[k], prm.GradF32()
			if micro == 0 {
				copy(a, g)
				continue
			}
			for i := range a {
				a[i] += g[i]
			}
		}
	}
	if r.accum > 1 {
		inv := 1 / float32(r.accum)
		for _, a := range r.acc {
			for i := range a {
				a[i] *= inv
			}
		}
	}
	return lossSum / float64(r.accum), nil
}

// diverged builds the error for a non-finite loss or gradient, naming the
// first parameter whose gradient (or value) is not finite.
func (r *run) diverged(step int, what string, v float64, grads [][]float32) error {
	e := &DivergedError{Step: step, What: what, Value: v, LastCheckpoint: r.lastCkpt,
		Draw: r.draws, LR: r.sched.LR(step), Relaunch: r.opts.Relaunch}
	// A parameter that already holds NaN or Inf is the cause; otherwise
	// name the first (in IR order) non-finite gradient (grads are those
	// of the trained parameters).
	for _, prm := range r.g.Params() {
		if !finite(prm.F32()) {
			e.Param, e.ParamValue = prm.Name, true
			return e
		}
	}
	for k, g := range grads {
		if !finite(g) {
			e.Param = r.trained[k].Name
			return e
		}
	}
	return e
}

// crossEntropy returns the cross-entropy of the micro-batch that just ran
// when the loss also holds auxiliary balance losses (and adds those to the
// step's mean auxiliary loss), else loss itself.
func (r *run) crossEntropy(loss float64) (float64, error) {
	if r.m.Output(compiler.OutputCE) == nil {
		return loss, nil
	}
	ce, err := r.g.Output(compiler.OutputCE)
	if err != nil {
		return 0, err
	}
	aux, err := r.g.Output(compiler.OutputAuxLoss)
	if err != nil {
		return 0, err
	}
	r.stepAux += aux[0] / float64(r.accum)
	return ce[0], nil
}

func finite(xs []float32) bool {
	for _, x := range xs {
		if x-x != 0 { // NaN or ±Inf
			return false
		}
	}
	return true
}

func (r *run) stopped() bool {
	if r.opts.Stop == nil {
		return false
	}
	select {
	case <-r.opts.Stop:
		return true
	default:
		return false
	}
}

// checkpoint writes the current state as a checkpoint and prunes old ones.
func (r *run) checkpoint(st *status) error {
	rngState, err := r.pcg.MarshalBinary()
	if err != nil {
		return fmt.Errorf("saving the data generator state: %w", err)
	}
	meta := configMetadata(r.p, map[string]any{
		"steps": r.steps, "seed": r.seed, "batch": r.B, "context": r.T, "accumulate": r.accum,
		"optimizer": r.opt.Kind(), "schedule": r.schedDesc, "sampling": r.sampler.Mode(), "data": r.src.Name(),
	})
	meta[functionKey] = strings.Join(r.p.ModelFunction(), "\n")
	meta["format"] = "mhcc"
	meta["step"] = strconv.Itoa(r.step)
	meta["model"] = r.p.Model.Name
	meta["ir_sha256"] = r.irHash
	if r.sourceHash != "" {
		meta["source_sha256"] = r.sourceHash
	}
	snap := r.opt.Snapshot()
	c := &checkpoint.Contents{
		Model:         modelTensors(r.g),
		ModelMeta:     meta,
		Optimizer:     optimizerTensors(r.g, snap),
		OptimizerMeta: map[string]string{"optimizer": snap.Kind, "step": strconv.Itoa(snap.Step)},
		State: checkpoint.State{
			Step: r.step, Seed: r.seed, RNG: map[string][]byte{"train": rngState},
			Data: checkpoint.DataState{Name: r.src.Name(), Sampling: r.sampler.Mode(), Cursor: r.sampler.Cursor(),
				Draws: r.draws, Skip: r.skip},
			Log:       r.window,
			Optimizer: r.opt.Kind(), SourceSHA256: r.sourceHash, IRSHA256: r.irHash,
			RunID: r.runID, LR: r.sched.LR(max(r.step, 1)), Settings: r.settings(), History: r.history,
		},
	}
	dir, err := checkpoint.Save(r.outDir, c)
	if err != nil {
		return err
	}
	r.lastCkpt, r.savedStep = dir, r.step
	if st != nil {
		st.println(fmt.Sprintf("checkpoint %s", dir))
	}
	if _, err := checkpoint.Prune(r.outDir, r.keep, r.runID); err != nil {
		return err
	}
	return nil
}

func feed(g *gb.Graph, tokens, targets []int) error {
	if err := g.SetInput(compiler.InputTokens, tokens); err != nil {
		return err
	}
	return g.SetInput(compiler.InputTargets, targets)
}

func describeResidual(r lang.Residual) string {
	if r.Kind == lang.ResidualPlain {
		return "plain"
	}
	s := fmt.Sprintf("streams=%d constraint=%s", r.Streams, r.Constraint)
	if r.Constraint == lang.ConstraintIdentity {
		return s
	}
	if !r.Dynamic {
		s += " dynamic=false"
	}
	if r.Constraint == lang.ConstraintBirkhoff {
		s += fmt.Sprintf(" sinkhorn=%d", r.Sinkhorn)
	}
	s += " init=" + r.Init
	if r.Collapse != lang.CollapseSum {
		s += " collapse=" + r.Collapse
	}
	return s
}

func printHeader(w io.Writer, p *lang.Program, res *Result, r *run, floor float64) {
	tr := p.Train
	md := p.Model
	row := func(k, v string) { fmt.Fprintf(w, "  %-10s %s\n", k, v) }
	fmt.Fprintf(w, "mhcc train: %s (%s)\n", md.Name, filepath.Base(p.File))
	row("model", fmt.Sprintf("vocab %d, context %d, dim %d, %d sublayers, head %s", md.Vocab, md.Context, md.Embed.Dim, len(md.Blocks), map[bool]string{true: "tied", false: "untied"}[md.Head.Tied]))
	row("residual", res.ResidualCfg)
	grp := optim.GroupsOf(r.tensors)
	row("params", fmt.Sprintf("%d (%s; each tensor counted once, tied weights too) | decay %d in %d tensors, no decay %d in %d",
		res.Params, HumanCount(float64(res.Params)), grp.DecayElems, grp.DecayTensors, grp.NoDecayElems, grp.NoDecayTensors))
	row("graph", fmt.Sprintf("%d nodes", r.g.NodeCount()))
	row("data", fmt.Sprintf("%s, sampling %s", res.DataName, r.sampler.Mode()))
	batch := fmt.Sprintf("%d × %d tokens", tr.Batch, md.Context)
	if r.accum > 1 {
		batch += fmt.Sprintf(" × %d accumulated micro-batches", r.accum)
	}
	row("batch", batch)
	row("steps", fmt.Sprint(r.steps))
	o := tr.Optimizer
	switch r.opt.Kind() {
	case "sgd":
		row("optimizer", fmt.Sprintf("sgd lr %.1e momentum %g weight_decay %g clip %g", o.LR, r.momentum, o.WeightDecay, o.Clip))
	default:
		row("optimizer", fmt.Sprintf("adamw lr %.1e betas [%g, %g] eps %g weight_decay %g clip %g", o.LR, o.Beta1, o.Beta2, o.Eps, o.WeightDecay, o.Clip))
	}
	row("schedule", r.schedDesc)
	if r.hasVal {
		row("eval", fmt.Sprintf("every %d steps on %s", tr.Eval.Every, r.val.desc))
	}
	if r.diag != nil {
		row("hc diag", fmt.Sprintf("hyper-connection gains and coefficient means every %d steps in %s", r.diagEvery, MetricsFile))
	}
	if r.moe != nil {
		row("moe", r.moe.describe())
	}
	ck := "at the end and on interrupt"
	if r.ckEvery > 0 {
		ck = fmt.Sprintf("every %d steps, at the end and on interrupt", r.ckEvery)
	}
	if r.keep > 0 {
		ck += fmt.Sprintf("; keep %d", r.keep)
	}
	row("checkpoint", ck)
	row("seed", fmt.Sprint(r.seed))
	if set := p.Overrides(); len(set) > 0 {
		row("overrides", strings.Join(set, " ")) // --set and flags such as --steps
	}
	row("out", res.OutDir)
	if !math.IsNaN(floor) {
		row("loss floor", fmt.Sprintf("%.4f nats/token (the best achievable loss on this synthetic data)", floor))
	}
}

// HumanCount formats x with a k, M or G suffix (5.4k, 1.20M).
func HumanCount(x float64) string {
	switch {
	case x >= 1e9:
		return fmt.Sprintf("%.2fG", x/1e9)
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1fk", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}

func writeSummary(dir string, res *Result) error {
	type jsonResult Result
	out := struct {
		jsonResult
		ValLoss *float64 `json:"final_val_loss"`
	}{jsonResult: jsonResult(*res)}
	if !math.IsNaN(res.ValLoss) {
		v := res.ValLoss
		out.ValLoss = &v
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".summary.json.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing summary.json: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "summary.json")); err != nil {
		return errors.Join(fmt.Errorf("writing summary.json: %w", err), os.Remove(tmp))
	}
	return nil
}
