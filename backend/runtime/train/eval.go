package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/backend/runtime/checkpoint"
	"github.com/mhcc/mhcc/backend/runtime/data"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// windowSet is a fixed, ordered list of evaluation windows.
type windowSet struct {
	n    int
	fill func(i int, tokens, targets []int)
	desc string
}

// fileWindows is the first k non-overlapping windows of the split (all
// that fit when k ≤ 0 or k is larger).
func fileWindows(src data.Windowed, split data.Split, T, k int) windowSet {
	n := data.NumWindows(src, split, T)
	if k > 0 && k < n {
		n = k
	}
	return windowSet{n: n, fill: func(i int, tok, tgt []int) { src.Window(split, i*T, T, tok, tgt) }}
}

// syntheticWindows is batches·B validation windows drawn from a generated
// source with a generator that depends on the seed only, so every pass
// over them gives the same windows. They are generated as they are read,
// one batch of B at a time (the generator's state runs from batch to
// batch), so their memory does not grow with their number; reading them
// in order, as the evaluator does, generates each batch once.
func syntheticWindows(src data.Source, seed int64, B, T, batches int) windowSet {
	var rng *rand.Rand
	tok, tgt := make([]int, B*T), make([]int, B*T)
	cur := -1 // the batch held in tok and tgt
	return windowSet{n: batches * B, fill: func(i int, to, tg []int) {
		b := i / B
		if b < cur || cur < 0 {
			rng, cur = rand.New(rand.NewPCG(uint64(seed), 0x7661_6c)), -1
		}
		for cur < b {
			src.Batch(data.Val, rng, B, T, tok, tgt)
			cur++
		}
		j := i % B
		copy(to, tok[j*T:(j+1)*T])
		copy(tg, tgt[j*T:(j+1)*T])
	}}
}

// evaluator computes mean losses over window sets with forward-only graphs
// (no backward pass, no optimizer state; RunOutputs reads the loss, as
// sampling reads the logits) that share the parameters of a base graph: one of batch B, and one per
// remainder size for a last partial batch. Training-time evaluation and
// `eval` use the same evaluator code with the same B, so they give the
// same number for the same windows.
type evaluator struct {
	m     *ir.Module
	B, T  int
	base  *gb.Graph // owner of the parameters
	full  *gb.Graph
	part  map[int]*gb.Graph
	built []*gb.Graph
}

func newEvaluator(m *ir.Module, base *gb.Graph, B, T int) (*evaluator, error) {
	e := &evaluator{m: m, B: B, T: T, base: base, part: map[int]*gb.Graph{}}
	g, err := e.graph(B)
	if err != nil {
		return nil, err
	}
	e.full = g
	return e, nil
}

func (e *evaluator) graph(b int) (*gb.Graph, error) {
	if b == e.B && e.full != nil {
		return e.full, nil
	}
	if g, ok := e.part[b]; ok {
		return g, nil
	}
	g, err := gb.BuildShared(e.m, gb.Options{Binds: map[string]int{compiler.SymBatch: b, compiler.SymTime: e.T}, DType: gb.Float32}, e.base)
	if err != nil {
		return nil, fmt.Errorf("building the evaluation graph: %w", err)
	}
	e.part[b] = g
	e.built = append(e.built, g)
	return g, nil
}

func (e *evaluator) close() {
	for _, g := range e.built {
		g.Close()
	}
}

// meanLoss returns the mean next-token loss (the cross-entropy, without
// auxiliary balance losses) over the windows, evaluated in
// order in batches of B (the last one possibly smaller): each batch's mean
// weighted by its number of windows.
func (e *evaluator) meanLoss(ws windowSet) (float64, error) {
	if ws.n == 0 {
		return math.NaN(), fmt.Errorf("no evaluation windows")
	}
	tokens := make([]int, e.B*e.T)
	targets := make([]int, e.B*e.T)
	var sum float64
	for start := 0; start < ws.n; start += e.B {
		b := min(e.B, ws.n-start)
		for i := 0; i < b; i++ {
			ws.fill(start+i, tokens[i*e.T:(i+1)*e.T], targets[i*e.T:(i+1)*e.T])
		}
		g, err := e.graph(b)
		if err != nil {
			return 0, err
		}
		if err := feed(g, tokens[:b*e.T], targets[:b*e.T]); err != nil {
			return 0, err
		}
		name := compiler.OutputLoss // the cross-entropy, unless auxiliary losses are in it
		if e.m.Output(compiler.OutputCE) != nil {
			name = compiler.OutputCE
		}
		out, err := g.RunOutputs(name)
		if err != nil {
			return 0, fmt.Errorf("evaluation: %w", err)
		}
		l := out[name][0]
		sum += l * float64(b)
	}
	return sum / float64(ws.n), nil
}

// valWindows are the windows of training-time evaluation: the first
// batches·B non-overlapping windows of a file's validation split, or
// batches fixed batches of a synthetic source's validation stream. ok is
// false when the data has no validation split.
func valWindows(src data.Source, seed int64, B, T, batches int) (ws windowSet, ok bool) {
	if w, isFile := src.(data.Windowed); isFile {
		ws = fileWindows(w, data.Val, T, batches*B)
		ws.desc = fmt.Sprintf("the first %d windows of the validation split", ws.n)
		return ws, ws.n > 0
	}
	ws = syntheticWindows(src, seed, B, T, batches)
	ws.desc = fmt.Sprintf("%d fixed validation batches", batches)
	return ws, true
}

// maxWindows bounds the windows of an evaluation: 2⁴⁰ windows are beyond
// any run's time, and counting them stays far from overflowing.
const maxWindows = 1 << 40

// EvalOptions configure Evaluate.
type EvalOptions struct {
	// Checkpoint is a checkpoint folder or a run folder (its newest).
	Checkpoint string
	// Data selects the data; an empty Path means the program's data.
	Data DataSpec
	// Split is "all" (the whole file), "train" or "val"; "" means "all"
	// with a Data.Path and "val" for the program's own data.
	Split string
	// Windows is the number of windows K; 0 means the training-time
	// evaluation's count (eval.batches × batch).
	Windows int
}

// EvalResult is the outcome of Evaluate.
type EvalResult struct {
	Checkpoint string  `json:"checkpoint"`
	Step       int     `json:"step"`
	Data       string  `json:"data"`
	Split      string  `json:"split"`
	Windows    int     `json:"windows"`
	Context    int     `json:"context"`
	Tokens     int     `json:"tokens"`
	Loss       float64 `json:"loss"`
	Perplexity float64 `json:"perplexity"`
}

// Evaluate loads a checkpoint of the model compiled from p into m's
// forward graph and returns the mean loss over the first K
// non-overlapping context-length windows of the data: window k holds
// tokens [k·T, k·T+T) and predicts [k·T+1, k·T+T]. The result is
// deterministic and, for the same windows, equal to the validation loss
// the training loop logged at the checkpoint's step. For synthetic data
// the windows are the training loop's fixed validation batches.
func Evaluate(p *lang.Program, m *ir.Module, opts EvalOptions) (*EvalResult, error) {
	dir, err := checkpoint.Resolve(opts.Checkpoint)
	if err != nil {
		return nil, err
	}
	B, T := p.Train.Batch, p.Model.Context
	split := opts.Split
	if split == "" {
		split = "val"
		if opts.Data.Path != "" {
			split = "all"
		}
	}
	sp := data.Val
	switch split {
	case "all", "train":
		sp = data.Train
	case "val":
	default:
		return nil, fmt.Errorf("unknown split %q (want all, train or val)", split)
	}
	val := valFraction(p)
	if split == "all" {
		val = 0
	}
	k := opts.Windows
	if k <= 0 {
		k = p.Train.Eval.Batches * B
	}
	if k > maxWindows {
		return nil, fmt.Errorf("%d windows are more than an evaluation can go through (at most %d)", k, maxWindows)
	}
	// The windows: the first k of a file's split, or ⌈k/B⌉ batches of
	// synthetic data generated from the checkpoint's seed (opened once the
	// checkpoint is read; a file does not depend on the seed).
	var src data.Source
	var ws windowSet
	if dataPath(p, opts.Data) != "" {
		if src, err = openData(p, opts.Data, 0, val); err != nil {
			return nil, err
		}
		ws = fileWindows(src.(data.Windowed), sp, T, k)
		if ws.n == 0 {
			return nil, fmt.Errorf("data %s: the %s split is too short for one window of context %d", src.Name(), split, T)
		}
	}
	windows := ws.n
	if src == nil {
		windows = (k + B - 1) / B * B
	}
	if err := checkEvalMemory(p, m, B, T, windows, src); err != nil {
		return nil, err
	}
	ck, err := openCheckpoint(p, dir, checkpoint.Expect{Model: moduleSpecs(m)})
	if err != nil {
		return nil, err
	}
	if src == nil {
		split = "val"
		if src, err = openData(p, opts.Data, ck.State.Seed, val); err != nil {
			return nil, err
		}
		ws = syntheticWindows(src, ck.State.Seed, B, T, windows/B)
	}
	g, err := gb.Build(m, gb.Options{Binds: map[string]int{compiler.SymBatch: B, compiler.SymTime: T}, DType: gb.Float32})
	if err != nil {
		return nil, fmt.Errorf("building the evaluation graph: %w", err)
	}
	defer g.Close()
	if err := loadModel(g, ck.Model, nil); err != nil {
		return nil, err
	}
	ev, err := newEvaluator(m, g, B, T)
	if err != nil {
		return nil, err
	}
	defer ev.close()
	loss, err := ev.meanLoss(ws)
	if err != nil {
		return nil, err
	}
	return &EvalResult{Checkpoint: dir, Step: ck.State.Step, Data: src.Name(), Split: split, Windows: ws.n,
		Context: T, Tokens: ws.n * T, Loss: loss, Perplexity: math.Exp(loss)}, nil
}
