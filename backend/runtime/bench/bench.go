// Package bench is the measuring instrument behind `mhcc bench`: it times
// training steps (forward, backward, gradient clipping and the optimizer
// update) of compiled modules on the Gorgonia backend and reports the
// median and spread of the step time, tokens/s, the model FLOPs per step
// from the IR analysis, the achieved GFLOP/s against the machine's float32
// matmul peak measured in the same run with the same GEMM (MFU), the peak
// RSS against the theoretical need, and a per-op profile of the graph.
// Two models are measured interleaved step by step, so that their ratio is
// robust to the load of a shared machine.
package bench

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/backend/runtime/memcheck"
	"github.com/mhcc/mhcc/backend/runtime/optim"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// Spec is one compiled model to benchmark.
type Spec struct {
	// File is the .mhc path (for the report).
	File    string
	Program *lang.Program
	Module  *ir.Module
	// Level is the optimisation level Module was compiled at.
	Level compiler.Level
	// GEMM names the GEMM its float32 products run on (gorgonia.UseGEMM:
	// avx512, avx2, go, openblas, native); "" is the one in use when Run
	// starts. Two models on different GEMMs compare them in one run.
	GEMM string
}

// Config are the benchmark settings.
type Config struct {
	// Steps is the number of timed steps per model (default 20).
	Steps int
	// Warmup is the number of untimed steps per model before them
	// (default 3; 0 is allowed).
	Warmup int
	// TopOps is the number of op kinds listed (default 12).
	TopOps int
	// PeakSize is the side of the square GEMM that measures the matmul
	// peak (default 1024); PeakReps its repetitions (default 3, best
	// taken). A negative PeakSize skips the measurement.
	PeakSize, PeakReps int
	// CPUProfile, when set, receives a pprof CPU profile of the timed steps.
	CPUProfile io.Writer
	// Progress, when set, receives one line per phase.
	Progress io.Writer
	// Versus, when set, is the second model: one timed in another process
	// (external.go), interleaved with the one Spec.
	Versus External
}

func (c *Config) defaults() error {
	if c.Steps == 0 {
		c.Steps = 20
	}
	if c.Steps < 1 || c.Warmup < 0 {
		return fmt.Errorf("bench: steps %d must be positive and warmup %d not negative", c.Steps, c.Warmup)
	}
	if c.TopOps == 0 {
		c.TopOps = 12
	}
	if c.PeakSize == 0 {
		c.PeakSize = 1024
	}
	if c.PeakReps <= 0 {
		c.PeakReps = 3
	}
	return nil
}

// DefaultWarmup is the warm-up of `mhcc bench` when not given.
const DefaultWarmup = 3

// Report is the result of Run.
type Report struct {
	Machine Machine `json:"machine"`
	// PeakGFLOPS is the float32 matmul peak measured in this run with the
	// backend's GEMM (0 when skipped); with two models on different GEMMs,
	// the first model's (each model has its own in Model.PeakGFLOPS).
	PeakGFLOPS float64 `json:"peak_gflops"`
	// PeakShape describes the GEMM that measured it.
	PeakShape string   `json:"peak_shape"`
	Steps     int      `json:"steps"`
	Warmup    int      `json:"warmup"`
	Models    []*Model `json:"models"`
	// Ratio compares the first model with the second (only with two).
	Ratio *Ratio `json:"ratio,omitempty"`
	// PeakRSS is the peak resident set of the whole run in bytes.
	PeakRSS int64 `json:"peak_rss_bytes"`
}

// Ratio compares two models measured interleaved.
type Ratio struct {
	// OfMedians is median step time of the first model / of the second.
	OfMedians float64 `json:"of_medians"`
	// PairedMedian is the median over the interleaved pairs of
	// first/second step time (robust to slow drifts of the machine's load).
	PairedMedian float64 `json:"paired_median"`
	// CPUOfMedians is the same ratio in CPU time per step.
	CPUOfMedians float64 `json:"cpu_of_medians"`
	Pairs        int     `json:"pairs"`
	// PeakRatio is the first model's matmul peak / the second's, when they
	// run on different GEMMs (0 otherwise).
	PeakRatio float64 `json:"peak_ratio,omitempty"`
}

// Model is the report of one benchmarked model.
type Model struct {
	File  string `json:"file"`
	Name  string `json:"model"`
	Level string `json:"level"`
	// GEMM is the GEMM its float32 products ran on (gorgonia.CurrentGEMM).
	GEMM string `json:"gemm"`
	// PeakGFLOPS is the matmul peak of that GEMM measured in this run (0
	// when skipped).
	PeakGFLOPS float64 `json:"peak_gflops"`
	Batch      int     `json:"batch"`
	Context    int     `json:"context"`
	Params     int64   `json:"params"`
	// Streams is the residual's stream count (1 for a plain residual).
	Streams int `json:"streams"`
	// Runtime describes an external model's runtime (Config.Versus); empty
	// for the models this process runs.
	Runtime string `json:"runtime,omitempty"`
	Nodes   int    `json:"graph_nodes"`
	// StreamPlan is how the backend handles the stream tensors: shared
	// gradient buffers, recomputation (gorgonia.StreamStats).
	StreamPlan gb.StreamStats `json:"stream_plan"`
	// Step is the training-step time: forward, backward, clip, optimizer.
	Step Stats `json:"step"`
	// CPU is the process's CPU time (user + system, all threads) per step:
	// less sensitive than wall time to other processes on a shared machine.
	CPU          Stats   `json:"cpu"`
	TokensPerSec float64 `json:"tokens_per_s"`
	// FLOPsPerStep is the model's forward + backward FLOPs of one step
	// from the IR analysis (counted once: no recomputation).
	FLOPsPerStep float64 `json:"flops_per_step"`
	GFLOPS       float64 `json:"gflops"`
	// MFU is GFLOPS / Report.PeakGFLOPS (0 without a peak).
	MFU    float64 `json:"mfu"`
	Memory Memory  `json:"memory"`
	// AllocPerStep is the Go heap allocated per timed step, in bytes.
	AllocPerStep int64 `json:"alloc_per_step_bytes"`
	// Ops is the per-op profile of the timed steps (ms per step), most
	// expensive first: the graph's custom ops by kind ("matmul",
	// "attention (backward)", ...), then "optimizer" and "other" (the
	// Gorgonia machine, gradient sums, feeding).
	Ops  []OpTime `json:"ops"`
	Loss float64  `json:"last_loss"`

	spec    Spec
	g       *gb.Graph
	opt     optim.Optimizer
	tensors []optim.Tensor
	clip    float64
	lr      float64
	batches [][2][]int
	next    int
	times   []time.Duration
	cpu     []time.Duration
	opTime  map[string]time.Duration
	optTime time.Duration
	alloc   uint64
	ext     External
}

// OpTime is one row of the op profile.
type OpTime struct {
	Op string  `json:"op"`
	Ms float64 `json:"ms_per_step"`
	// Share is the fraction of the median step time.
	Share float64 `json:"share"`
}

// Memory compares the measured resident set with the theoretical need.
type Memory struct {
	// RSSBefore is the process's RSS before the model's graph was built.
	RSSBefore int64 `json:"rss_before_bytes"`
	// PeakRSS is the process's peak RSS while the model was built and
	// stepped through its warm-up (and, for a single model, its timed
	// steps; with two models this includes the first one, which stays
	// resident).
	PeakRSS int64 `json:"peak_rss_bytes"`
	// Growth is PeakRSS − RSSBefore: what the model's graph, buffers,
	// optimizer state and steps added (Go heap slack included).
	Growth int64 `json:"growth_bytes"`
	// The theoretical need: parameters, gradients and optimizer state as
	// the runtime keeps them (AdamW: two moments per parameter, float32
	// by default), and the activations of one step from the IR analysis
	// (compiler.Summary.ActivationBytes).
	ParamBytes      int64 `json:"param_bytes"`
	GradBytes       int64 `json:"grad_bytes"`
	OptimizerBytes  int64 `json:"optimizer_bytes"`
	ActivationBytes int64 `json:"activation_bytes"`
}

// Theory is the sum of the theoretical parts.
func (m Memory) Theory() int64 {
	return m.ParamBytes + m.GradBytes + m.OptimizerBytes + m.ActivationBytes
}

// Run benchmarks one model, or two interleaved step by step (the first
// against the second: Report.Ratio).
func Run(cfg Config, specs ...Spec) (*Report, error) {
	if len(specs) < 1 || len(specs) > 2 {
		return nil, fmt.Errorf("bench: want one or two models, got %d", len(specs))
	}
	if cfg.Versus != nil && len(specs) != 1 {
		return nil, fmt.Errorf("bench: an external model is compared with one model, got %d", len(specs))
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	progress := func(format string, a ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, format+"\n", a...)
		}
	}
	rep := &Report{Machine: thisMachine(gb.BLASName()), Steps: cfg.Steps, Warmup: cfg.Warmup}
	// the GEMM of each model, by name, and the GEMMs to measure the peak of
	gemms := make([]string, len(specs))
	var use []string
	for i, s := range specs {
		restore, err := useGEMM(s.GEMM)
		if err != nil {
			return nil, fmt.Errorf("bench: %s: %w", s.File, err)
		}
		gemms[i] = gb.CurrentGEMM() // "native" → its level
		restore()
		if i == 0 || gemms[i] != gemms[0] {
			use = append(use, s.GEMM)
		}
	}
	var peaks []float64
	if cfg.PeakSize > 0 {
		progress("measuring the matmul peak (%d³ float32, best of %d)", cfg.PeakSize, cfg.PeakReps)
		peaks = measurePeaks(cfg.PeakSize, cfg.PeakReps, use)
		rep.PeakGFLOPS = peaks[0]
		rep.PeakShape = fmt.Sprintf("%d×%d×%d float32, best of %d", cfg.PeakSize, cfg.PeakSize, cfg.PeakSize, cfg.PeakReps)
	}
	defer func() {
		for _, m := range rep.Models {
			if m.g != nil {
				m.g.Close()
			}
		}
	}()
	for i, s := range specs {
		m, err := newModel(s, cfg, uint64(i+1))
		if err != nil {
			return nil, err
		}
		m.GEMM = gemms[i]
		if peaks != nil {
			m.PeakGFLOPS = peaks[min(i, len(peaks)-1)]
		}
		rep.Models = append(rep.Models, m)
		progress("%s: built (%d graph nodes); %d warm-up steps", m.Name, m.Nodes, cfg.Warmup)
		for range cfg.Warmup {
			if _, err := m.step(); err != nil {
				return nil, err
			}
		}
		m.Memory.PeakRSS = PeakRSS()
		if m.Memory.PeakRSS > 0 {
			m.Memory.Growth = m.Memory.PeakRSS - m.Memory.RSSBefore
		}
		m.times, m.cpu, m.optTime = m.times[:0], m.cpu[:0], 0
	}
	if cfg.Versus != nil {
		progress("starting the external model: its warm-up steps")
		m, err := newExternal(cfg.Versus, rep.Models[0], cfg.Warmup)
		if err != nil {
			return nil, err
		}
		rep.Models = append(rep.Models, m)
		progress("%s: %s", m.File, m.Runtime)
	}
	progress("timing %d steps%s", cfg.Steps, map[bool]string{true: " per model, interleaved", false: ""}[len(rep.Models) == 2])
	if cfg.CPUProfile != nil {
		if err := pprof.StartCPUProfile(cfg.CPUProfile); err != nil {
			return nil, fmt.Errorf("bench: CPU profile: %w", err)
		}
	}
	err := timeSteps(cfg.Steps, rep.Models)
	if cfg.CPUProfile != nil {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return nil, err
	}
	rep.PeakRSS = PeakRSS()
	if m := rep.Models[0]; len(rep.Models) == 1 && rep.PeakRSS > m.Memory.PeakRSS {
		// one model: the timed steps are its too
		m.Memory.PeakRSS, m.Memory.Growth = rep.PeakRSS, rep.PeakRSS-m.Memory.RSSBefore
	}
	for _, m := range rep.Models {
		m.finish(m.PeakGFLOPS, cfg)
	}
	if len(rep.Models) == 2 {
		a, b := rep.Models[0], rep.Models[1]
		var pairs []float64
		for i := range a.times {
			pairs = append(pairs, float64(a.times[i])/float64(b.times[i]))
		}
		rep.Ratio = &Ratio{
			OfMedians:    float64(a.Step.Median) / float64(b.Step.Median),
			PairedMedian: MedianFloat(pairs),
			CPUOfMedians: float64(a.CPU.Median) / float64(b.CPU.Median),
			Pairs:        len(pairs),
		}
		if a.GEMM != b.GEMM && b.PeakGFLOPS > 0 {
			rep.Ratio.PeakRatio = a.PeakGFLOPS / b.PeakGFLOPS
		}
	}
	return rep, nil
}

// timeSteps runs the timed steps, alternating the order of two models at
// every step so that neither always runs after the other.
func timeSteps(steps int, models []*Model) error {
	var ms runtime.MemStats
	for i := range steps {
		order := models
		if len(models) == 2 && i%2 == 1 {
			order = []*Model{models[1], models[0]}
		}
		for _, m := range order {
			runtime.ReadMemStats(&ms)
			before := ms.TotalAlloc
			var err error
			kinds := gb.OpTimes(func() { _, err = m.step() })
			if err != nil {
				return err
			}
			runtime.ReadMemStats(&ms)
			m.alloc += ms.TotalAlloc - before
			for k, d := range kinds {
				m.opTime[k] += d
			}
		}
	}
	return nil
}

func newModel(s Spec, cfg Config, seed uint64) (*Model, error) {
	if s.Program == nil || s.Module == nil {
		return nil, errors.New("bench: a model needs its program and module")
	}
	p := s.Program
	B, T := p.Train.Batch, p.Model.Context
	sum, err := compiler.Analyze(p, s.Module, s.Level.String())
	if err != nil {
		return nil, fmt.Errorf("bench: analysing %s: %w", s.File, err)
	}
	streams := 1
	if p.Model.Residual.Kind != lang.ResidualPlain && p.Model.Residual.Streams > 0 {
		streams = p.Model.Residual.Streams
	}
	m := &Model{
		File: s.File, Name: p.Model.Name, Level: s.Level.String(), Batch: B, Context: T,
		Params: sum.Params, Streams: streams, spec: s, opTime: map[string]time.Duration{},
		FLOPsPerStep: float64(sum.ForwardFLOPsPerSequence) * 3 * float64(B),
		clip:         p.Train.Optimizer.Clip, lr: p.Train.Optimizer.LR,
	}
	m.Memory.ActivationBytes = sum.ActivationBytes
	m.Memory.ParamBytes, m.Memory.GradBytes = 4*sum.Params, 4*sum.Params
	if err := checkMemory(s, p, B, T); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", s.File, err)
	}
	runtime.GC()
	m.Memory.RSSBefore = RSS()
	ResetPeakRSS()
	binds := map[string]int{compiler.SymBatch: B, compiler.SymTime: T}
	if m.g, err = gb.Build(s.Module, gb.Options{Binds: binds, DType: gb.Float32, Grad: true}); err != nil {
		return nil, fmt.Errorf("bench: building %s: %w", s.File, err)
	}
	m.Nodes = m.g.NodeCount()
	m.StreamPlan = m.g.Streams()
	m.g.InitParams(p.Train.Seed)
	for _, prm := range m.g.Params() {
		if prm.Trainable { // not the experts' selection biases
			m.tensors = append(m.tensors, optim.Tensor{Name: prm.Name, Data: prm.F32(), Grad: prm.GradF32(), Decay: prm.Decay})
		}
	}
	oc := p.Train.Optimizer
	if oc.Kind == lang.OptimizerSGD {
		m.opt = optim.NewSGD(m.tensors, optim.SGDConfig{Momentum: oc.Momentum, WeightDecay: oc.WeightDecay})
	} else {
		m.opt = optim.NewAdamW(m.tensors, optim.AdamWConfig{Beta1: oc.Beta1, Beta2: oc.Beta2, Eps: oc.Eps, WeightDecay: oc.WeightDecay, F64Moments: oc.Moments == lang.MomentsF64})
	}
	m.Memory.OptimizerBytes = sum.OptimizerBytes
	memcheck.BoundGarbage() // as training does (backend/runtime/train)
	// a few fixed batches of uniform random tokens, cycled: the data
	// pipeline is not what is measured
	rng := rand.New(rand.NewPCG(seed, 0x62656e6368))
	for range 4 {
		var b [2][]int
		for k := range b {
			b[k] = make([]int, B*T)
			for i := range b[k] {
				b[k][i] = rng.IntN(p.Model.Vocab)
			}
		}
		m.batches = append(m.batches, b)
	}
	return m, nil
}

// useGEMM switches to the named GEMM (gorgonia.UseGEMM), or stays on the
// current one for "".
func useGEMM(name string) (restore func(), err error) {
	if name == "" {
		return func() {}, nil
	}
	return gb.UseGEMM(name)
}

// step runs one training step on the model's GEMM and records its time.
func (m *Model) step() (time.Duration, error) {
	if m.ext != nil {
		return m.stepExternal()
	}
	restore, err := useGEMM(m.spec.GEMM)
	if err != nil {
		return 0, fmt.Errorf("bench: %s: %w", m.File, err)
	}
	defer restore()
	b := m.batches[m.next%len(m.batches)]
	m.next++
	cpu0 := cpuTime()
	start := time.Now()
	if err := m.g.SetInput(compiler.InputTokens, b[0]); err != nil {
		return 0, err
	}
	if err := m.g.SetInput(compiler.InputTargets, b[1]); err != nil {
		return 0, err
	}
	loss, err := m.g.Run()
	if err != nil {
		return 0, fmt.Errorf("bench: %s: %w", m.File, err)
	}
	ostart := time.Now()
	optim.StepClipped(m.opt, m.tensors, m.lr, optim.ClipScale(optim.GlobalNorm(m.tensors), m.clip))
	end := time.Now()
	m.cpu = append(m.cpu, cpuTime()-cpu0)
	m.Loss = loss
	d := end.Sub(start)
	m.times = append(m.times, d)
	m.optTime += end.Sub(ostart)
	return d, nil
}

func (m *Model) finish(peak float64, cfg Config) {
	m.Step = Summarize(m.times)
	m.CPU = Summarize(m.cpu)
	med := m.Step.Median.Seconds()
	if med > 0 {
		m.TokensPerSec = float64(m.Batch*m.Context) / med
		m.GFLOPS = m.FLOPsPerStep / med / 1e9
	}
	if peak > 0 {
		m.MFU = m.GFLOPS / peak
	}
	if m.ext != nil {
		return // no op profile nor heap of this process
	}
	n := float64(len(m.times))
	m.AllocPerStep = int64(float64(m.alloc) / n)
	perStep := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / n }
	var total time.Duration
	for _, t := range m.times {
		total += t
	}
	var inOps time.Duration
	var ops []OpTime
	for k, d := range m.opTime {
		inOps += d
		ops = append(ops, OpTime{Op: k, Ms: perStep(d)})
	}
	slices.SortFunc(ops, func(a, b OpTime) int {
		if a.Ms != b.Ms {
			return cmpFloat(b.Ms, a.Ms)
		}
		return strings.Compare(a.Op, b.Op)
	})
	if len(ops) > cfg.TopOps {
		var rest float64
		for _, o := range ops[cfg.TopOps:] {
			rest += o.Ms
		}
		ops = append(ops[:cfg.TopOps], OpTime{Op: fmt.Sprintf("%d more op kinds", len(ops)-cfg.TopOps), Ms: rest})
	}
	ops = append(ops,
		OpTime{Op: "optimizer (clip + " + m.opt.Kind() + ")", Ms: perStep(m.optTime)},
		OpTime{Op: "other (Gorgonia machine, gradient sums, feeding)", Ms: math.Max(0, perStep(total-inOps-m.optTime))})
	for i := range ops {
		if mean := perStep(total); mean > 0 {
			ops[i].Share = ops[i].Ms / mean
		}
	}
	m.Ops = ops
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// MeasurePeak returns the float32 matmul throughput in GFLOP/s of the
// backend's GEMM (gorgonia.MatMulF32: the native kernel, gonum or
// OpenBLAS, whichever the matmul ops use) on n×n×n products: the best of
// reps runs after one warm-up run.
func MeasurePeak(n, reps int) float64 {
	return measurePeaks(n, reps, []string{""})[0]
}

// measurePeaks measures MeasurePeak's product on each of the named GEMMs
// (useGEMM: "" is the current one), alternating them, and returns the best
// GFLOP/s of each.
func measurePeaks(n, reps int, gemms []string) []float64 {
	a := make([]float32, n*n)
	b := make([]float32, n*n)
	c := make([]float32, n*n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range a {
		a[i] = rng.Float32() - 0.5
		b[i] = rng.Float32() - 0.5
	}
	best := make([]time.Duration, len(gemms))
	for rep := -1; rep < max(reps, 1); rep++ { // rep −1: warm-up
		for i, g := range gemms {
			restore, err := useGEMM(g)
			if err != nil {
				panic(err) // Run checked the names
			}
			start := time.Now()
			gb.MatMulF32(n, n, n, a, b, c)
			d := time.Since(start)
			restore()
			if rep == 0 || rep > 0 && d < best[i] {
				best[i] = d
			}
		}
	}
	peaks := make([]float64, len(gemms))
	for i, d := range best {
		peaks[i] = 2 * float64(n) * float64(n) * float64(n) / d.Seconds() / 1e9
	}
	return peaks
}
