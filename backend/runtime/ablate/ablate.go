// Package ablate answers "does this residual variant beat that one, and is
// it more stable?" with one command: it trains several compiled models on
// identical data, seeds and budget, one after another in this process
// (backend/train), and compares them in one table — validation loss, loss
// spikes, gradient norms, the composite gain of the residual mixing
// (docs/hyperconnections.md §5), parameters and speed — written as Markdown and JSON, with
// the loss and gain curves drawn to PNG and SVG. It also diffs two models
// (diff.go): their resolved configuration, parameter and FLOP totals and
// parameter tensors.
//
// The output folder:
//
//	OUT/ablation.md, OUT/ablation.json   the table (report.go)
//	OUT/loss.png, OUT/loss.svg           training (smoothed) and validation loss, mean over seeds
//	OUT/gain.png, OUT/gain.svg           composite forward and backward gain (when measured)
//	OUT/runs/LABEL/seed-S/               one run folder per file and seed (metrics.jsonl, train.log, checkpoint)
package ablate

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mhcc/mhcc/backend/runtime/train"
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// Model is one compiled .mhc file to train.
type Model struct {
	// File is the path as given; the table shows it.
	File    string
	Program *lang.Program
	Module  *ir.Module
	// Source is the program text (recorded as a hash in checkpoints).
	Source []byte
	// DataPath is the program's `data file=` path resolved against the
	// file's folder ("" for synthetic data).
	DataPath string
}

// Options configure Run.
type Options struct {
	// Steps is the training budget of every run; 0 takes the first file's
	// `steps`.
	Steps int
	// Seeds is the number of seeds per file (default 1): Seed, Seed+1, ...
	Seeds int
	// Seed is the first seed when HasSeed is set; otherwise the first
	// file's `seed`.
	Seed    int64
	HasSeed bool
	// OutDir receives the table, the plots and the run folders (required).
	OutDir string
	// DataPath, when set, trains every model on this file instead of its
	// own data.
	DataPath string
	// Spikes is the loss-spike rule (zero: DefaultSpikeRule).
	Spikes SpikeRule
	// Smooth is the EMA window of the plotted training loss, in steps
	// (0: DefaultSmooth; 1: the raw loss).
	Smooth int
	// Log receives the notes about the files, the progress of each run
	// and one line per finished run (nil: discarded). Each run's own log
	// goes to train.log in its run folder.
	Log io.Writer
	// TTY shows the progress of a run as one status line redrawn in place
	// (Log is a terminal); otherwise as a plain line every tenth of the
	// run.
	TTY bool
	// Stop, when closed, ends the current run after its step with a
	// checkpoint; Run then returns an error matching train.ErrInterrupted.
	Stop <-chan struct{}
	// Overwrite replaces the runs of an earlier ablation in OutDir;
	// without it, Run refuses to start over them.
	Overwrite bool
}

// DefaultSmooth is the EMA window of the plotted training loss when
// Options.Smooth is 0.
const DefaultSmooth = 20

// ErrOutUsed is matched (errors.Is) by the error of an ablation refused
// because its output folder holds the runs of an earlier one; it also
// matches train.ErrRefused.
var ErrOutUsed = fmt.Errorf("output folder in use: %w", train.ErrRefused)

// Run trains every model with every seed and returns the comparison; it
// writes ablation.md, ablation.json and the plots into opts.OutDir. A run
// that diverges (a NaN or Inf loss or gradient) is an outcome, not an
// error: it is reported in the table and the other runs go on.
func Run(models []Model, opts Options) (*Report, error) {
	if len(models) == 0 {
		return nil, errors.New("no models to compare")
	}
	if opts.OutDir == "" {
		return nil, errors.New("no output folder")
	}
	if opts.Seeds < 0 || opts.Steps < 0 {
		return nil, fmt.Errorf("steps %d and seeds %d must not be negative", opts.Steps, opts.Seeds)
	}
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	first := models[0].Program
	steps := opts.Steps
	if steps == 0 {
		steps = first.Train.Steps
	}
	seed := first.Train.Seed
	if opts.HasSeed {
		seed = opts.Seed
	}
	seeds := make([]int64, max(opts.Seeds, 1))
	for i := range seeds {
		seeds[i] = seed + int64(i)
	}
	rule := opts.Spikes
	if rule == (SpikeRule{}) {
		rule = DefaultSpikeRule
	}
	for _, n := range trainNotes(models, opts.DataPath != "") {
		fmt.Fprintf(log, "note: %s\n", n)
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, err
	}

	labels := Labels(models)
	runDir := func(i int, seed int64) string {
		return filepath.Join("runs", labels[i], fmt.Sprintf("seed-%d", seed))
	}
	if !opts.Overwrite {
		var used []string
		for i := range models {
			for _, s := range seeds {
				if what, err := train.UsedRunFolder(filepath.Join(opts.OutDir, runDir(i, s))); err != nil {
					return nil, err
				} else if len(what) > 0 {
					used = append(used, runDir(i, s))
				}
			}
		}
		if len(used) > 0 {
			return nil, fmt.Errorf("%w: %s holds the runs of an earlier ablation (%s): choose another --out, or pass --overwrite to replace them",
				ErrOutUsed, opts.OutDir, strings.Join(used, ", "))
		}
	}
	rep := &Report{Steps: steps, Seeds: seeds, Spikes: rule}
	total, done := len(models)*len(seeds), 0
	for i, md := range models {
		row := Row{File: md.File, Label: labels[i], Residual: DescribeResidual(md.Program.Model.Residual)}
		for _, s := range seeds {
			done++
			rel := runDir(i, s)
			label := fmt.Sprintf("[%d/%d] %s seed %d", done, total, md.File, s)
			prog := newProgress(log, opts.TTY, label, steps)
			run, err := trainOne(md, opts.OutDir, rel, steps, s, opts, prog.step)
			prog.done()
			var ie *train.InterruptedError
			if errors.As(err, &ie) {
				return nil, fmt.Errorf("%w: %s seed %d stopped after step %d", train.ErrInterrupted, md.File, s, ie.Step)
			}
			if err != nil {
				return nil, fmt.Errorf("%s (seed %d): %w", md.File, s, err)
			}
			if err := run.readMetrics(rule); err != nil {
				return nil, fmt.Errorf("%s (seed %d): %w", md.File, s, err)
			}
			if rep.Data == "" {
				rep.Data = run.data
			}
			row.Runs = append(row.Runs, run.RunStats)
			fmt.Fprintf(log, "%s: %s\n", label, run.summary())
		}
		row.aggregate()
		rep.Rows = append(rep.Rows, row)
	}
	rep.finish()
	smooth := opts.Smooth
	if smooth == 0 {
		smooth = DefaultSmooth
	}
	plots, err := rep.Plot(opts.OutDir, smooth)
	if err != nil {
		return nil, err
	}
	rep.Plots = plots
	if err := rep.Write(opts.OutDir); err != nil {
		return nil, err
	}
	return rep, nil
}

// runResult is one finished run.
type runResult struct {
	RunStats
	dir  string // the run folder
	data string // the data source's name
	dur  time.Duration
}

// trainOne trains model md with one seed into the run folder out/rel,
// calling progress after every step. A diverged run returns its partial
// result without error.
func trainOne(md Model, out, rel string, steps int, seed int64, opts Options, progress func(train.Progress)) (*runResult, error) {
	dir := filepath.Join(out, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "train.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	data := opts.DataPath
	if data == "" {
		data = md.DataPath
	}
	to := train.Options{
		Steps: steps, Seed: seed, HasSeed: true, DataPath: data, OutDir: dir, Source: md.Source,
		Log: logf, Stop: opts.Stop, Overwrite: opts.Overwrite, Progress: progress,
		// One checkpoint at the end, to sample from or resume; none on the way.
		CheckpointEvery: train.SetZero, Keep: 1,
	}
	start := time.Now()
	res, err := train.Run(md.Program, md.Module, to)
	r := &runResult{RunStats: RunStats{Seed: seed, Dir: filepath.ToSlash(rel)}, dir: dir, dur: time.Since(start)}
	var de *train.DivergedError
	switch {
	case errors.As(err, &de):
		r.DivergedAt = de.Step
		fmt.Fprintf(logf, "error: %v\n", err)
	case err != nil:
		return nil, err
	default:
		r.Params = res.Params
		r.MsPerStep = res.MsPerStep
		r.TokensPerS = res.TokensPerS
		r.data = res.DataName
	}
	if r.Params == 0 {
		for _, v := range md.Module.Params() {
			n, _ := v.Type.Shape.Size()
			r.Params += n
		}
	}
	return r, nil
}

func (r *runResult) summary() string {
	var parts []string
	if r.DivergedAt > 0 {
		parts = append(parts, fmt.Sprintf("diverged at step %d", r.DivergedAt))
	}
	if r.FinalVal != nil {
		parts = append(parts, fmt.Sprintf("val %.4f", *r.FinalVal))
	} else if r.FinalTrain != nil {
		parts = append(parts, fmt.Sprintf("train %.4f", *r.FinalTrain))
	}
	parts = append(parts, fmt.Sprintf("%d spikes", r.Spikes))
	if r.MaxGainFwd != nil {
		parts = append(parts, fmt.Sprintf("max composite gain %s / %s", general(Stat{Mean: *r.MaxGainFwd, N: 1}), general(Stat{Mean: deref(r.MaxGainBwd), N: 1})))
	}
	if r.MaxLoad != nil {
		parts = append(parts, fmt.Sprintf("max load %.2f×", *r.MaxLoad))
	}
	parts = append(parts, fmt.Sprintf("%.1f s", r.dur.Seconds()))
	return strings.Join(parts, ", ")
}

// Labels gives every model a short, distinct name for its run folders and
// the plot legends: the file name without `.mhc`, with `-2`, `-3`, ...
// appended to repeats.
func Labels(models []Model) []string {
	out := make([]string, len(models))
	seen := map[string]int{}
	for i, md := range models {
		base := strings.TrimSuffix(filepath.Base(md.File), ".mhc")
		if base == "" || base == "." || base == string(filepath.Separator) {
			base = "model"
		}
		seen[base]++
		if n := seen[base]; n > 1 {
			base = fmt.Sprintf("%s-%d", base, n)
		}
		out[i] = base
	}
	return out
}

// DescribeResidual names a residual configuration for the table:
// "plain", or the constraint and stream count such as "birkhoff n=4".
func DescribeResidual(r lang.Residual) string {
	if r.Kind == lang.ResidualPlain {
		return "plain"
	}
	return fmt.Sprintf("%s n=%d", r.Constraint, r.Streams)
}

// trainNotes lists how the files' training settings differ from the first
// file's: an ablation should vary the model only. The step count and seed
// are the same for every run anyway; the data too when a data file is
// given.
func trainNotes(models []Model, dataGiven bool) []string {
	ignore := func(path string) bool {
		for _, p := range []string{"train.steps", "train.seed", "train.checkpoint", "train.log"} {
			if path == p || strings.HasPrefix(path, p+".") {
				return true
			}
		}
		return dataGiven && (path == "train.data" || strings.HasPrefix(path, "train.data."))
	}
	baseKeys, base := settings(models[0].Program, isTrain)
	var notes []string
	for _, md := range models[1:] {
		keys, other := settings(md.Program, isTrain)
		var diffs []string
		for _, path := range union(baseKeys, keys) {
			a, b := base[path], other[path]
			if a == b || ignore(path) {
				continue
			}
			diffs = append(diffs, fmt.Sprintf("%s = %s (%s: %s)", path, orAbsent(b), models[0].File, orAbsent(a)))
		}
		if len(diffs) > 0 {
			notes = append(notes, fmt.Sprintf("%s trains differently from %s: %s", md.File, models[0].File, strings.Join(diffs, "; ")))
		}
	}
	return notes
}

func orAbsent(s string) string {
	if s == "" {
		return "(not set)"
	}
	return s
}

// isTrain selects the settings that make a run's training budget and
// data: the train block and the context length.
func isTrain(path string) bool { return strings.HasPrefix(path, "train.") || path == "model.context" }

// settings returns the resolved settings of p that keep selects, as their
// paths in explain order and a map from path to value.
func settings(p *lang.Program, keep func(path string) bool) ([]string, map[string]string) {
	var keys []string
	m := map[string]string{}
	for _, s := range p.Settings {
		if keep(s.Path) {
			if _, dup := m[s.Path]; !dup {
				keys = append(keys, s.Path)
			}
			m[s.Path] = s.Value
		}
	}
	return keys, m
}

// union merges two ordered key lists: a's keys in order, then b's that a
// lacks, each inserted after its predecessor in b when that is present.
func union(a, b []string) []string {
	out := append([]string(nil), a...)
	have := map[string]bool{}
	for _, k := range a {
		have[k] = true
	}
	for i, k := range b {
		if have[k] {
			continue
		}
		at := len(out)
		if i > 0 {
			for j, x := range out {
				if x == b[i-1] {
					at = j + 1
				}
			}
		}
		out = append(out[:at], append([]string{k}, out[at:]...)...)
		have[k] = true
	}
	return out
}

// finite reports whether x is neither NaN nor infinite.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
