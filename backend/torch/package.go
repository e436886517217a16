package torch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	_ "embed"

	"github.com/mhcc/mhcc/backend/runtime/data"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

//go:embed py/train.py
var trainPy string

//go:embed py/README.md
var readmeTemplate string

// Package is what `mhcc FILE --emit torch -o DIR` writes: model.py,
// train.py and README.md.
type Package struct {
	ModelPy, TrainPy, Readme string
}

// Emit builds the package of program p compiled to m (the training
// module, at the level it was compiled at); source is the .mhc text and
// dataPath the program's data file resolved against the .mhc's folder
// ("" for synthetic data).
func Emit(p *lang.Program, m *ir.Module, source []byte, dataPath string) (*Package, error) {
	sum := sha256.Sum256([]byte(m.String()))
	irHash := hex.EncodeToString(sum[:])
	class, err := Class(m, ClassOptions{Name: "Model", Model: p.Model.Name, Source: source, IRSHA256: irHash})
	if err != nil {
		return nil, err
	}
	file := filepath.Base(p.File)
	var b strings.Builder
	fmt.Fprintf(&b, `"""model.py: the model %s of %s as a PyTorch nn.Module, emitted by mhcc from its
optimised IR (IR SHA-256 %s).

  build(dtype=torch.float32, seed=%d) -> Model     forward(tokens, targets) returns the mean loss
  load_checkpoint(module, path) / save_checkpoint(module, run_dir, step=...)   mhcc's checkpoints

Parameter names are mhcc's checkpoint tensor names. The op library below has one
function per IR op; Model.compute has one line per IR value, headed by the .mhc line
it comes from. Edit freely: this file is yours.
"""
import torch
import torch.nn as nn

`, p.Model.Name, file, irHash, p.Train.Seed)
	b.WriteString(OpsLibrary)
	b.WriteString("\n\n")
	b.WriteString(APILibrary)
	b.WriteString("\n\n# ---------------------------------------------------------------------------\n# The model.\n# ---------------------------------------------------------------------------\n")
	b.WriteString(class)
	fmt.Fprintf(&b, `

def build(dtype=torch.float32, seed=%d):
    """The model with its parameters initialised from seed (see init_values)."""
    module = Model().to(dtype)
    init_params(module, seed)
    return module
`, p.Train.Seed)

	cfg, err := trainConfig(p, dataPath)
	if err != nil {
		return nil, err
	}
	cj, err := json.MarshalIndent(cfg, "", " ")
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("#!/usr/bin/env python3\n# train.py: trains the model %s of %s (model.py beside it); emitted by mhcc.\n"+
		"# CONFIG_JSON is the resolved train block and model sizes; edit it or override with --set.\nCONFIG_JSON = r'''\n%s\n'''\n",
		p.Model.Name, file, cj)
	readme := strings.NewReplacer("{{MODEL}}", p.Model.Name, "{{FILE}}", file, "{{BATCH}}", fmt.Sprint(p.Train.Batch)).Replace(readmeTemplate)
	return &Package{ModelPy: b.String(), TrainPy: head + trainPy, Readme: readme}, nil
}

// Write writes the package into dir (created if needed).
func (pk *Package) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--emit torch: %w", err)
	}
	for _, f := range []struct {
		name, text string
		mode       os.FileMode
	}{{"model.py", pk.ModelPy, 0o644}, {"train.py", pk.TrainPy, 0o755}, {"README.md", pk.Readme, 0o644}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.text), f.mode); err != nil {
			return fmt.Errorf("--emit torch: %w", err)
		}
	}
	return nil
}

// trainConfig is train.py's CONFIG: the model's sizes, the resolved
// settings and the train block, the mixture-of-experts sublayers (their
// balancing and load outputs, compiler.MoELayers), and for synthetic
// Markov data the chain of the program's seed.
func trainConfig(p *lang.Program, dataPath string) (map[string]any, error) {
	tr := p.Train
	var settings strings.Builder
	for _, s := range p.Settings {
		fmt.Fprintf(&settings, "%s = %s\n", s.Path, s.Value)
	}
	d := tr.Data
	path := d.Path
	if dataPath != "" {
		path = dataPath
	}
	o, s := tr.Optimizer, tr.Schedule
	cfg := map[string]any{
		"model": p.Model.Name, "file": filepath.Base(p.File), "vocab": p.Model.Vocab, "context": p.Model.Context,
		"residual": residualName(p.Model.Residual), "settings": settings.String(),
		"train": map[string]any{
			"data": map[string]any{"kind": d.Kind, "task": d.Task, "path": path, "val": d.ValFraction, "format": d.Format,
				"vocab": d.Vocab, "sampling": d.Sampling},
			"batch": tr.Batch, "steps": tr.Steps, "seed": tr.Seed,
			"optimizer": map[string]any{"kind": o.Kind, "lr": o.LR, "betas": []float64{o.Beta1, o.Beta2}, "eps": o.Eps,
				"momentum": o.Momentum, "weight_decay": o.WeightDecay, "clip": o.Clip, "accumulate": o.Accumulate, "moments": o.Moments},
			"schedule": map[string]any{"kind": s.Kind, "warmup": s.Warmup, "min_lr": s.MinLR, "milestones": nonNil(s.Milestones),
				"factors": nonNil(s.Factors)},
			"eval":        map[string]any{"every": tr.Eval.Every, "batches": tr.Eval.Batches},
			"checkpoint":  map[string]any{"every": tr.Checkpoint.Every, "keep": tr.Checkpoint.Keep},
			"log":         map[string]any{"every": tr.Log.Every},
			"diagnostics": map[string]any{"every": tr.Diagnostics.Every},
		},
	}
	var moe []map[string]any
	for _, l := range compiler.MoELayers(p) {
		moe = append(moe, map[string]any{"path": l.Path, "experts": l.Experts, "active": l.Active, "shared": l.Shared,
			"balance": l.Balance, "bias_rate": l.BiasRate, "bias": l.Bias, "load": l.Load})
	}
	if moe != nil {
		cfg["moe"] = moe
	}
	if d.Kind != lang.DataFile && (d.Task == "" || d.Task == "markov") {
		cfg["markov"] = markovChain(p.Model.Vocab, tr.Seed)
	}
	return cfg, nil
}

// markovChain is the synthetic Markov chain ./train builds for the seed,
// as the tables its batches are drawn from (data.Markov.Batch).
func markovChain(vocab int, seed int64) map[string]any {
	m := data.NewMarkov(vocab, uint64(seed))
	tokens := m.States()
	pi := m.Stationary()
	K := len(tokens)
	succ := make([][]int, K)
	cum := make([][]float64, K)
	piCum := make([]float64, K)
	var c float64
	for i, t := range tokens {
		c += pi[t]
		piCum[i] = c
		var ci float64
		for j, u := range tokens {
			if x := m.Prob(t, u); x > 0 {
				ci += x
				succ[i] = append(succ[i], j)
				cum[i] = append(cum[i], ci)
			}
		}
		cum[i][len(cum[i])-1] = 1
	}
	piCum[K-1] = 1
	return map[string]any{"seed": seed, "vocab": vocab, "name": m.Name(), "tokens": tokens, "succ": succ, "cum": cum,
		"pi_cum": piCum, "rate": m.EntropyRate()}
}

func nonNil(x []float64) []float64 {
	if x == nil {
		return []float64{}
	}
	return x
}

// residualName describes the residual for summary.json.
func residualName(r lang.Residual) string {
	if r.Kind == lang.ResidualPlain {
		return "plain"
	}
	return fmt.Sprintf("streams=%d constraint=%s", r.Streams, r.Constraint)
}
