package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/backend/runtime/bench"
	"github.com/mhcc/mhcc/backend/torch"
	"github.com/mhcc/mhcc/compiler"
)

type benchCmd struct {
	File    string   `arg:"" help:"The .mhc file to benchmark."`
	Opt     *int     `name:"opt" short:"O" placeholder:"N" help:"Optimisation level (-O0, -O1, -O2; default: the level training uses)."`
	Steps   int      `name:"steps" default:"20" min:"1" placeholder:"N" help:"Timed training steps per model."`
	Warmup  int      `name:"warmup" default:"3" min:"0" placeholder:"N" help:"Untimed training steps per model before the timed ones."`
	Batch   string   `name:"batch" setting:"train.batch" placeholder:"B" help:"Batch size of both models."`
	JSON    bool     `name:"json" help:"Print the report as JSON."`
	Vs      string   `name:"vs" placeholder:"OTHER.mhc" help:"Also benchmark OTHER.mhc, interleaved step by step with FILE, and print the ratio FILE / OTHER of their median step times."`
	VsOpt   *int     `name:"vs-opt" placeholder:"N" help:"Optimisation level of OTHER.mhc (default: the same as FILE's), e.g. --vs FILE.mhc --vs-opt 0 compares -O2 with -O0 in one run."`
	Top     int      `name:"top" default:"12" min:"1" placeholder:"N" help:"Number of op kinds in the per-op profile."`
	Profile string   `name:"profile" placeholder:"FILE" help:"Write a pprof CPU profile of the timed steps to FILE (go tool pprof FILE)."`
	NoPeak  bool     `name:"no-peak" help:"Skip the matmul peak measurement (no MFU)."`
	VsSet   []string `name:"vs-set" sep:"none" placeholder:"PATH=VALUE" help:"Override a value of OTHER.mhc only (after --set), e.g. --vs FILE.mhc --vs-set model.residual.recompute=true; repeatable."`
	GEMM    string   `name:"gemm" placeholder:"NAME" help:"Run FILE's float32 products on this GEMM: avx512, avx2 (the native kernel's levels), native (the highest the CPU runs), go (gonum) or openblas (the openblas build); default: the build's."`
	VsGEMM  string   `name:"vs-gemm" placeholder:"NAME" help:"Run OTHER.mhc's products on this GEMM (as --gemm), e.g. --gemm native --vs FILE.mhc --vs-gemm openblas compares the native GEMM with OpenBLAS in one run."`
	VsTorch bool     `name:"vs-torch" help:"Also time the PyTorch module mhcc emits for FILE (eager, CPU; the interpreter of MHCC_PYTHON, else python3), interleaved step by step, and print the ratio."`
	Threads int      `name:"torch-threads" default:"0" min:"0" placeholder:"N" help:"PyTorch's thread count with --vs-torch (0: try 1, 2, 4, … and the CPU count, keep the fastest)."`
	setFlags
	diagFlag
}

// Run compiles the file(s), times training steps and prints the report.
func (c *benchCmd) Run(e *env) error {
	opts := compiler.DefaultOptions()
	if c.Opt != nil {
		opts.Level = compiler.Level(*c.Opt)
	}
	if _, err := opts.Pipeline(); err != nil {
		return usageError(err)
	}
	vsOpts := opts
	if c.VsGEMM != "" && c.Vs == "" {
		return &exitError{code: exitUsage, err: fmt.Errorf("--vs-gemm needs --vs")}
	}
	for _, g := range []struct{ flag, name string }{{"--gemm", c.GEMM}, {"--vs-gemm", c.VsGEMM}} {
		if g.name == "" {
			continue
		}
		restore, err := gb.UseGEMM(g.name)
		if err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", g.flag, err)}
		}
		restore()
	}
	if len(c.VsSet) > 0 && c.Vs == "" {
		return &exitError{code: exitUsage, err: fmt.Errorf("--vs-set needs --vs")}
	}
	if c.VsOpt != nil {
		if c.Vs == "" {
			return &exitError{code: exitUsage, err: fmt.Errorf("--vs-opt needs --vs")}
		}
		vsOpts.Level = compiler.Level(*c.VsOpt)
		if _, err := vsOpts.Pipeline(); err != nil {
			return usageError(err)
		}
	}
	if c.VsTorch && c.Vs != "" {
		return &exitError{code: exitUsage, err: fmt.Errorf("--vs-torch and --vs: pick one model to compare with")}
	}
	if c.Threads > 0 && !c.VsTorch {
		return &exitError{code: exitUsage, err: fmt.Errorf("--torch-threads needs --vs-torch")}
	}
	var specs []bench.Spec
	var source []byte
	for i, f := range []string{c.File, c.Vs} {
		if f == "" {
			continue
		}
		o, fe, label := opts, e.frontEnd(c.Diag), f
		if i == 1 {
			o = vsOpts
			for _, s := range c.VsSet {
				fe.Set = append(slices.Clip(fe.Set), s)
				fe.Names = append(slices.Clip(fe.Names), "--vs-set "+s)
			}
			if len(c.VsSet) > 0 {
				label = f + " --set " + strings.Join(c.VsSet, " --set ")
			}
		}
		res, err := compile(e, f, fe, o)
		if err != nil {
			return err
		}
		gemm := c.GEMM
		if i == 1 {
			gemm = c.VsGEMM
		}
		specs = append(specs, bench.Spec{File: label, Program: res.Program, Module: res.Module, Level: o.Level, GEMM: gemm})
		if i == 0 {
			source = res.Source
		}
	}
	cfg := bench.Config{Steps: c.Steps, Warmup: c.Warmup, TopOps: c.Top, Progress: e.stderr}
	if c.VsTorch {
		s := specs[0]
		tm, err := torch.NewBenchModule(s.Program, s.Module, source, s.File, torch.BenchOptions{Threads: c.Threads})
		if err != nil {
			return &exitError{code: exitRuntime, err: err}
		}
		defer tm.Close()
		cfg.Versus = tm
	}
	if c.NoPeak {
		cfg.PeakSize = -1
	}
	if c.Profile != "" {
		f, err := os.Create(c.Profile)
		if err != nil {
			return &exitError{code: exitRuntime, err: err}
		}
		defer f.Close()
		cfg.CPUProfile = f
	}
	rep, err := bench.Run(cfg, specs...)
	if err != nil {
		return &exitError{code: exitRuntime, err: err}
	}
	if c.JSON {
		err = bench.WriteJSON(e.stdout, rep)
	} else {
		err = bench.WriteText(e.stdout, rep)
	}
	if err != nil {
		return &exitError{code: exitRuntime, err: err}
	}
	if c.Profile != "" {
		fmt.Fprintf(e.stderr, "wrote %s\n", c.Profile)
	}
	return nil
}
