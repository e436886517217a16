// Package train is the training loop behind `./train` and `mhcc run`: it
// builds the Gorgonia graphs of a compiled module, feeds batches from a data
// source, steps AdamW under the learning-rate schedule, evaluates on held-out
// data and logs progress for the person watching the run.
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
	"time"

	"github.com/mhcc/mhcc/backend/data"
	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/backend/optim"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// Options are the run settings that override the program's train block.
type Options struct {
	// Steps overrides train.steps when > 0.
	Steps int
	// Seed overrides train.seed when HasSeed is set.
	Seed    int64
	HasSeed bool
	// DataPath overrides the data statement with a byte-level text file.
	DataPath string
	// OutDir is the run folder (metrics.jsonl, summary.json); "" means
	// runs/<model name>.
	OutDir string
	// Log receives the human-readable log.
	Log io.Writer
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
}

// Run trains the module m compiled from program p.
func Run(p *lang.Program, m *ir.Module, opts Options) (*Result, error) {
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	tr := p.Train
	steps := tr.Steps
	if opts.Steps > 0 {
		steps = opts.Steps
	}
	seed := tr.Seed
	if opts.HasSeed {
		seed = opts.Seed
	}
	B, T := tr.Batch, p.Model.Context

	src, err := openData(p, opts.DataPath, seed)
	if err != nil {
		return nil, err
	}
	if src.Vocab() > p.Model.Vocab {
		return nil, fmt.Errorf("data %s has %d token ids but the model's vocab is %d", src.Name(), src.Vocab(), p.Model.Vocab)
	}

	binds := map[string]int{compiler.SymBatch: B, compiler.SymTime: T}
	g, err := gb.Build(m, gb.Options{Binds: binds, DType: gb.Float32, Grad: true})
	if err != nil {
		return nil, fmt.Errorf("building the training graph: %w", err)
	}
	defer g.Close()
	g.InitParams(seed)
	eval, err := gb.BuildShared(m, gb.Options{Binds: binds, DType: gb.Float32}, g)
	if err != nil {
		return nil, fmt.Errorf("building the evaluation graph: %w", err)
	}
	defer eval.Close()

	tensors := make([]optim.Tensor, 0, len(g.Params()))
	nparams := 0
	for _, prm := range g.Params() {
		tensors = append(tensors, optim.Tensor{Name: prm.Name, Data: prm.F32(), Grad: prm.GradF32(), Decay: prm.Decay})
		nparams += len(prm.F32())
	}
	oc := tr.Optimizer
	opt := optim.NewAdamW(tensors, optim.AdamWConfig{Beta1: oc.Beta1, Beta2: oc.Beta2, Eps: oc.Eps, WeightDecay: oc.WeightDecay})
	sched := schedule(tr, steps)

	outDir := opts.OutDir
	if outDir == "" {
		outDir = filepath.Join("runs", p.Model.Name)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the run folder: %w", err)
	}
	metricsFile, err := os.Create(filepath.Join(outDir, "metrics.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("creating metrics.jsonl: %w", err)
	}
	defer metricsFile.Close()
	metrics := json.NewEncoder(metricsFile)

	res := &Result{Steps: steps, Params: nparams, OutDir: outDir, DataName: src.Name(),
		ModelName: p.Model.Name, ResidualCfg: describeResidual(p.Model.Residual), ValLoss: math.NaN()}
	floor := math.NaN()
	if f, ok := src.(interface{ EntropyRate() float64 }); ok {
		floor = f.EntropyRate()
		res.LossFloor = floor
	}
	printHeader(log, p, res, steps, seed, g.NodeCount(), floor)

	tokens := make([]int, B*T)
	targets := make([]int, B*T)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x7472_6169_6e))
	logEvery := max(tr.Log.Every, 1)
	var windowLoss float64
	var windowN int
	var windowTime time.Duration
	var totalTime time.Duration
	for step := 1; step <= steps; step++ {
		start := time.Now()
		src.Batch(data.Train, rng, B, T, tokens, targets)
		if err := feed(g, tokens, targets); err != nil {
			return nil, err
		}
		loss, err := g.Run()
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", step, err)
		}
		gnorm := optim.ClipGlobalNorm(tensors, oc.Clip)
		if math.IsNaN(loss) || math.IsInf(loss, 0) || math.IsNaN(gnorm) || math.IsInf(gnorm, 0) {
			return nil, fmt.Errorf("step %d: loss %v, gradient norm %v: training diverged", step, loss, gnorm)
		}
		lr := sched.LR(step)
		opt.Step(lr)
		dt := time.Since(start)
		totalTime += dt
		windowTime += dt
		windowLoss += loss
		windowN++

		rec := map[string]any{"step": step, "loss": loss, "lr": lr, "grad_norm": gnorm, "ms": float64(dt.Microseconds()) / 1000}
		evalNow := tr.Eval.Every > 0 && (step%tr.Eval.Every == 0 || step == steps)
		if evalNow {
			vl, err := evaluate(eval, src, seed, B, T, tr.Eval.Batches)
			if err != nil {
				return nil, err
			}
			rec["val_loss"] = vl
			res.ValLoss = vl
		}
		if step%logEvery == 0 || step == steps {
			ms := float64(windowTime.Microseconds()) / 1000 / float64(windowN)
			tokS := float64(B*T*windowN) / windowTime.Seconds()
			res.FinalLoss = windowLoss / float64(windowN)
			fmt.Fprintf(log, "step %*d/%d | loss %.4f | lr %.1e | gnorm %.2f | %.0f ms | %s tok/s",
				len(fmt.Sprint(steps)), step, steps, res.FinalLoss, lr, gnorm, ms, humanRate(tokS))
			if v, ok := rec["val_loss"]; ok {
				fmt.Fprintf(log, " | val %.4f", v)
			}
			fmt.Fprintln(log)
			rec["tok_s"] = tokS
			windowLoss, windowN, windowTime = 0, 0, 0
		} else if v, ok := rec["val_loss"]; ok {
			fmt.Fprintf(log, "eval step %d | val %.4f\n", step, v)
		}
		if err := metrics.Encode(rec); err != nil {
			return nil, fmt.Errorf("writing metrics.jsonl: %w", err)
		}
	}
	res.MsPerStep = float64(totalTime.Microseconds()) / 1000 / float64(steps)
	res.TokensPerS = float64(B*T*steps) / totalTime.Seconds()
	fmt.Fprintf(log, "done: %d steps | train loss %.4f | val loss %.4f | %.0f ms/step | %s tok/s\n",
		steps, res.FinalLoss, res.ValLoss, res.MsPerStep, humanRate(res.TokensPerS))
	if !math.IsNaN(floor) {
		fmt.Fprintf(log, "loss floor (entropy rate of the data) %.4f nats/token\n", floor)
	}
	if err := writeSummary(outDir, res); err != nil {
		return nil, err
	}
	return res, nil
}

func feed(g *gb.Graph, tokens, targets []int) error {
	if err := g.SetInput(compiler.InputTokens, tokens); err != nil {
		return err
	}
	return g.SetInput(compiler.InputTargets, targets)
}

// evaluate returns the mean loss over the same K validation batches every
// time it is called (their rng depends only on the seed).
func evaluate(g *gb.Graph, src data.Source, seed int64, B, T, K int) (float64, error) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x7661_6c))
	tokens := make([]int, B*T)
	targets := make([]int, B*T)
	var sum float64
	for range K {
		src.Batch(data.Val, rng, B, T, tokens, targets)
		if err := feed(g, tokens, targets); err != nil {
			return 0, err
		}
		l, err := g.Run()
		if err != nil {
			return 0, fmt.Errorf("evaluation: %w", err)
		}
		sum += l
	}
	return sum / float64(K), nil
}

// openData opens the run's data source: an explicit --data file, the
// program's `data file=...`, or the built-in synthetic Markov source.
func openData(p *lang.Program, override string, seed int64) (data.Source, error) {
	d := p.Train.Data
	path := override
	if path == "" && d.Kind == lang.DataFile {
		path = d.Path
	}
	if path == "" {
		return data.NewMarkov(p.Model.Vocab, uint64(seed)), nil
	}
	val := d.ValFraction
	if d.Kind != lang.DataFile || val <= 0 {
		// A --data override of a synthetic program: hold out the default tail.
		val = defaultValFraction
	}
	txt, err := data.LoadText(path, val)
	if err != nil {
		return nil, err
	}
	if err := txt.Check(p.Model.Context); err != nil {
		return nil, err
	}
	return txt, nil
}

// defaultValFraction is the held-out tail of a text file when the program
// does not say (the language's default for `data file=... val=`).
const defaultValFraction = 0.1

func schedule(tr lang.Train, steps int) optim.Schedule {
	s := tr.Schedule
	if s.Kind == "constant" {
		return optim.Constant{Base: tr.Optimizer.LR, Warmup: s.Warmup}
	}
	return optim.Cosine{Base: tr.Optimizer.LR, MinFrac: s.MinLR, Warmup: s.Warmup, Total: steps}
}

func describeResidual(r lang.Residual) string {
	if r.Kind == lang.ResidualPlain {
		return "plain"
	}
	if r.Constraint == lang.ConstraintBirkhoff {
		return fmt.Sprintf("streams=%d constraint=birkhoff sinkhorn=%d init=%s", r.Streams, r.Sinkhorn, r.Init)
	}
	return fmt.Sprintf("streams=%d constraint=%s", r.Streams, r.Constraint)
}

func printHeader(w io.Writer, p *lang.Program, res *Result, steps int, seed int64, nodes int, floor float64) {
	tr := p.Train
	md := p.Model
	row := func(k, v string) { fmt.Fprintf(w, "  %-10s %s\n", k, v) }
	fmt.Fprintf(w, "mhcc train: %s (%s)\n", md.Name, filepath.Base(p.File))
	row("model", fmt.Sprintf("vocab %d, context %d, dim %d, %d sublayers, head %s", md.Vocab, md.Context, md.Embed.Dim, len(md.Blocks), map[bool]string{true: "tied", false: "untied"}[md.Head.Tied]))
	row("residual", res.ResidualCfg)
	row("params", fmt.Sprintf("%d (%s)", res.Params, humanCount(float64(res.Params))))
	row("graph", fmt.Sprintf("%d nodes", nodes))
	row("data", res.DataName)
	row("batch", fmt.Sprintf("%d × %d tokens", tr.Batch, md.Context))
	row("steps", fmt.Sprint(steps))
	o := tr.Optimizer
	row("optimizer", fmt.Sprintf("adamw lr %.1e betas [%g, %g] eps %g weight_decay %g clip %g", o.LR, o.Beta1, o.Beta2, o.Eps, o.WeightDecay, o.Clip))
	row("schedule", fmt.Sprintf("%s warmup %d min_lr %g", tr.Schedule.Kind, tr.Schedule.Warmup, tr.Schedule.MinLR))
	row("seed", fmt.Sprint(seed))
	row("out", res.OutDir)
	if !math.IsNaN(floor) {
		row("loss floor", fmt.Sprintf("%.4f nats/token (entropy rate of the synthetic source: the best achievable loss)", floor))
	}
}

func humanRate(x float64) string { return humanCount(x) }

func humanCount(x float64) string {
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
