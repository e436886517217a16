package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/mhcc/mhcc/backend/runtime/ablate"
	"github.com/mhcc/mhcc/backend/runtime/train"
)

// ablateCmd is `mhcc ablate A.mhc B.mhc ...`: train every file on the same
// data, seeds and budget and compare them (backend/runtime/ablate).
type ablateCmd struct {
	Files     []string `arg:"" help:"The .mhc files to compare; the first is the baseline of the step-time column."`
	Steps     string   `name:"steps" setting:"train.steps" placeholder:"N" help:"Training steps of every run (without it, the first file's steps for every file)."`
	Seeds     int      `name:"seeds" default:"1" min:"1" placeholder:"K" help:"Seeds per file: S, S+1, ..., S+K-1; several give mean ± standard deviation."`
	Seed      string   `name:"seed" setting:"train.seed" placeholder:"S" help:"The first seed (without it, the first file's seed for every file)."`
	Out       string   `name:"out" default:"ablation" placeholder:"DIR" help:"Output folder: ablation.md, ablation.json, the loss and gain plots and one run folder per file and seed."`
	Overwrite bool     `name:"overwrite" help:"Replace the runs of an earlier ablation in --out (without it, an --out that holds them is refused)."`
	Data      string   `name:"data" setting:"train.data.file" placeholder:"PATH" help:"Train every file on this data file (relative to the current folder) instead of the files' own data."`
	Smooth    int      `name:"smooth" default:"20" min:"1" placeholder:"N" help:"Smooth the plotted training loss with an exponential moving average over about N steps (1: the raw loss)."`
	setFlags
	diagFlag
}

// Run compiles every file, trains them one after another and prints the
// comparison table.
func (c *ablateCmd) Run(e *env) error {
	models, err := c.compile(e)
	if err != nil {
		return err
	}
	opts := ablate.Options{Seeds: c.Seeds, OutDir: c.Out, DataPath: c.Data, Smooth: c.Smooth,
		Log: e.stdout, TTY: isTerminal(e.stdout), Overwrite: c.Overwrite}
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

// compile compiles the files with the command line's overrides. Every
// file trains for the same budget: without --steps, the first file's
// steps are given to the others as an override, so that the checker's
// warnings about the run's length (a warmup longer than the run) apply
// to each of them as it will train.
func (c *ablateCmd) compile(e *env) ([]ablate.Model, error) {
	fe := e.frontEnd(c.Diag)
	first, err := compileModels(e, c.Files[:1], fe)
	if err == nil && c.Steps == "" {
		steps := first[0].Program.Train.Steps
		fe.Set = append(slices.Clip(fe.Set), fmt.Sprintf("train.steps=%d", steps))
		fe.Names = append(slices.Clip(fe.Names), fmt.Sprintf("--steps %d (the budget of %s)", steps, c.Files[0]))
	}
	rest, err2 := compileModels(e, c.Files[1:], fe)
	switch {
	case err != nil:
		return nil, err
	case err2 != nil:
		return nil, err2
	}
	return append(first, rest...), nil
}

// compileModels compiles every file (reporting the diagnostics of all of
// them) into the models ablate and diff take.
func compileModels(e *env, files []string, fe frontEnd) ([]ablate.Model, error) {
	var models []ablate.Model
	code := exitOK
	for _, f := range files {
		res, err := compile(e, f, fe)
		if err != nil {
			var xe *exitError
			if errors.As(err, &xe) && (xe.code == exitCompile || xe.code == exitUsage) {
				code = max(code, xe.code)
				continue
			}
			return nil, err
		}
		models = append(models, ablate.Model{File: f, Program: res.Program, Module: res.Module, Source: res.Source,
			DataPath: resolveDataPath(f, res.Program)})
	}
	if code != exitOK {
		return nil, &exitError{code: code}
	}
	return models, nil
}
