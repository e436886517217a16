package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/mhcc/mhcc/backend/runtime/ablate"
	"github.com/mhcc/mhcc/backend/runtime/train"
)

// ablateCmd is `mhcc ablate A.mhc B.mhc ...`: train every file on the same
// data, seeds and budget and compare them (backend/runtime/ablate).
type ablateCmd struct {
	Files     []string `arg:"" help:"The .mhc files to compare; the first is the baseline of the step-time column."`
	Steps     int      `placeholder:"N" help:"Training steps of every run (default: the first file's steps)."`
	Seeds     int      `default:"1" placeholder:"K" help:"Seeds per file (default 1): S, S+1, ..., S+K-1; several give mean ± standard deviation."`
	Seed      *int64   `placeholder:"S" help:"The first seed (default: the first file's seed)."`
	Out       string   `default:"ablation" placeholder:"DIR" help:"Output folder: ablation.md, ablation.json, the loss and gain plots and one run folder per file and seed."`
	Data      string   `placeholder:"PATH" help:"Train every file on this data file instead of the files' own data."`
	Overwrite bool     `help:"Replace the runs of an earlier ablation in --out (without it, an --out that holds them is refused)."`
	setFlags
	diagFlag
}

// Run compiles every file, trains them one after another and prints the
// comparison table.
func (c *ablateCmd) Run(e *env) error {
	switch {
	case c.Steps < 0:
		return usageError(fmt.Errorf("--steps must be positive, got %d", c.Steps))
	case c.Seeds < 1:
		return usageError(fmt.Errorf("--seeds must be at least 1, got %d", c.Seeds))
	}
	models, err := compileModels(e, c.Files, frontEnd{Set: c.Set, Diag: c.Diag})
	if err != nil {
		return err
	}
	opts := ablate.Options{Steps: c.Steps, Seeds: c.Seeds, OutDir: c.Out, DataPath: c.Data, Log: e.stdout, Overwrite: c.Overwrite}
	if c.Seed != nil {
		opts.Seed, opts.HasSeed = *c.Seed, true
	}
	stop, release := stopOnSignal(e)
	defer release()
	opts.Stop = stop
	rep, err := ablate.Run(models, opts)
	if errors.Is(err, train.ErrInterrupted) {
		fmt.Fprintf(e.stdout, "interrupted: %v\nno table was written; the finished runs are in %s\n", err, filepath.Join(c.Out, "runs"))
		return &exitError{code: exitInterrupted}
	}
	if errors.Is(err, train.ErrRefused) {
		return usageError(err)
	}
	if err != nil {
		return &exitError{code: exitRuntime, err: err}
	}
	fmt.Fprintf(e.stdout, "\n%s\n", rep.Markdown(true))
	for _, f := range append([]string{ablate.MarkdownFile, ablate.JSONFile}, rep.Plots...) {
		fmt.Fprintf(e.stdout, "wrote %s\n", filepath.Join(c.Out, f))
	}
	return nil
}

// compileModels compiles every file (reporting the diagnostics of all of
// them) into the models ablate and diff take.
func compileModels(e *env, files []string, fe frontEnd) ([]ablate.Model, error) {
	var models []ablate.Model
	failed := false
	for _, f := range files {
		res, err := compile(e, f, fe)
		if err != nil {
			var xe *exitError
			if errors.As(err, &xe) && xe.code == exitCompile {
				failed = true
				continue
			}
			return nil, err
		}
		models = append(models, ablate.Model{File: f, Program: res.Program, Module: res.Module, Source: res.Source,
			DataPath: resolveDataPath(f, res.Program)})
	}
	if failed {
		return nil, &exitError{code: exitCompile}
	}
	return models, nil
}
