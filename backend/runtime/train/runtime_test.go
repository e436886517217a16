package train

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/backend/ref"
	"github.com/mhcc/mhcc/backend/runtime/checkpoint"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/internal/testmodels"
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"

	// Defines -update, which `go test ./... -update` hands to every test binary.
	_ "github.com/mhcc/mhcc/internal/golden"
)

// textFile writes a few KB of varied text.
func textFile(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for i := 0; b.Len() < 6000; i++ {
		fmt.Fprintf(&b, "line %d: the quick brown fox %d jumps over the lazy dog %d.\n", i, i*7%13, i*i%17)
	}
	path := filepath.Join(t.TempDir(), "text.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func losses(t *testing.T, dir string) []float64 {
	t.Helper()
	recs, err := ReadMetrics(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []float64
	for i, r := range recs {
		if r.Step != i+1 {
			t.Fatalf("%s: metrics line %d has step %d", dir, i+1, r.Step)
		}
		out = append(out, r.Loss)
	}
	return out
}

func mustRun(t *testing.T, p *lang.Program, m *ir.Module, o Options) (*Result, string) {
	t.Helper()
	var log bytes.Buffer
	if o.Log == nil {
		o.Log = &log
	}
	res, err := Run(p, m, o)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	return res, log.String()
}

func TestSameSeedSameLossesDifferentSeedDifferent(t *testing.T) {
	p, m := compile(t, testmodels.Small("eval every=0"))
	run := func(seed int64) []float64 {
		dir := t.TempDir()
		mustRun(t, p, m, Options{Steps: 6, Seed: seed, HasSeed: true, OutDir: dir})
		return losses(t, dir)
	}
	a, b, c := run(1), run(1), run(2)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different losses:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("different seeds, same losses %v", a)
	}
}

// stopAt returns a log writer that closes stop when the log reports step n
// (non-TTY runs log every step with `log every=1`), interrupting the run
// right after that step, deterministically.
type stopAt struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	n    int
	stop chan struct{}
}

func (s *stopAt) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(b)
	if strings.Contains(s.buf.String(), fmt.Sprintf("\nstep %2d/", s.n)) || strings.Contains(s.buf.String(), fmt.Sprintf("\nstep %d/", s.n)) {
		select {
		case <-s.stop:
		default:
			close(s.stop)
		}
	}
	return len(b), nil
}

// TestResumeReproducesTheUninterruptedRun: for several configurations, a
// run interrupted after step k and resumed with --resume logs exactly the
// same per-step losses (bit for bit), learning rates and validation losses
// as the uninterrupted run, and ends with the same final losses; the same
// holds for a resume from a periodic checkpoint (20 steps, checkpoint at
// 10, resume 10 → 20).
func TestResumeReproducesTheUninterruptedRun(t *testing.T) {
	text := textFile(t)
	cases := []struct {
		name string
		prog string
		opts Options
		stop int
		src  string // the program; "" is testmodels.Small(prog)
	}{
		{"markov adamw cosine", "eval every=5 batches=2\n  schedule cosine warmup=3", Options{}, 7, ""},
		{"markov adamw float64 moments", "optimizer adamw moments=f64", Options{}, 8, ""},
		{"text sequential sgd accumulate step-schedule", "eval every=4 batches=1", Options{DataPath: text, Sampling: "sequential",
			Optimizer: "sgd", Momentum: 0.9, Accumulate: 2, Schedule: "step"}, 13, ""},
		{"text random recall-free", "eval every=3 batches=2", Options{DataPath: text}, 10, ""},
		{"recall constant", "eval every=5 batches=1\n  schedule constant", Options{Task: "recall"}, 4, ""},
		// mixtures of experts: the selection biases the balancing sets are
		// in the checkpoint; the auxiliary loss with accumulation
		{"moe bias", "", Options{}, 9, testmodels.MoE("residual streams=2 sinkhorn=5", "bias_rate=0.01", "eval every=5 batches=2")},
		{"moe aux accumulate", "", Options{Accumulate: 2}, 6, testmodels.MoE("residual plain", "balance=aux", "eval every=4 batches=1")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := c.src
			if src == "" {
				src = testmodels.Small(c.prog)
			}
			p, m := compile(t, src)
			o := c.opts
			o.Steps, o.Source = 20, []byte(c.name)
			full := o
			full.OutDir = t.TempDir()
			fullRes, _ := mustRun(t, p, m, full)
			want, _ := ReadMetrics(full.OutDir)

			// Interrupted after step c.stop, then resumed.
			dir := t.TempDir()
			part := o
			part.OutDir = dir
			sa := &stopAt{n: c.stop, stop: make(chan struct{})}
			part.Stop, part.Log = sa.stop, sa
			_, err := Run(p, m, part)
			var ie *InterruptedError
			if !errors.As(err, &ie) || !errors.Is(err, ErrInterrupted) || ie.Step != c.stop {
				t.Fatalf("interrupted run: %v\n%s", err, sa.buf.String())
			}
			if filepath.Base(ie.Checkpoint) != checkpoint.Name(c.stop) {
				t.Errorf("interrupt checkpoint %s", ie.Checkpoint)
			}
			res := o
			res.OutDir, res.Resume = dir, true
			resRes, log := mustRun(t, p, m, res)
			if !strings.Contains(log, fmt.Sprintf("resuming from %s (step %d)", ie.Checkpoint, c.stop)) {
				t.Errorf("log does not say where it resumed:\n%s", log)
			}
			got, _ := ReadMetrics(dir)
			compareRecords(t, got, want)
			if resRes.FinalLoss != fullRes.FinalLoss || !sameFloat(resRes.ValLoss, fullRes.ValLoss) {
				t.Errorf("final losses %v/%v, uninterrupted %v/%v", resRes.FinalLoss, resRes.ValLoss, fullRes.FinalLoss, fullRes.ValLoss)
			}
			sameSelectionBiases(t, p, fullRes.Checkpoint, resRes.Checkpoint)

			// From a periodic checkpoint: 20 steps with a checkpoint at 10;
			// drop the final one and resume 10 → 20.
			dir2 := t.TempDir()
			per := o
			per.OutDir, per.CheckpointEvery = dir2, 10
			mustRun(t, p, m, per)
			if err := os.RemoveAll(filepath.Join(dir2, checkpoint.Name(20))); err != nil {
				t.Fatal(err)
			}
			per.Resume = true
			mustRun(t, p, m, per)
			got2, _ := ReadMetrics(dir2)
			compareRecords(t, got2, want)
		})
	}
}

func sameFloat(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

func compareRecords(t *testing.T, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d metrics lines, uninterrupted run has %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Step != w.Step || g.Loss != w.Loss || g.LR != w.LR || g.GradNorm != w.GradNorm ||
			(g.ValLoss == nil) != (w.ValLoss == nil) || (g.ValLoss != nil && *g.ValLoss != *w.ValLoss) ||
			!slices.Equal(g.MoEMaxLoad, w.MoEMaxLoad) || !slices.Equal(g.MoEMinLoad, w.MoEMinLoad) ||
			(g.AuxLoss == nil) != (w.AuxLoss == nil) || (g.AuxLoss != nil && *g.AuxLoss != *w.AuxLoss) {
			t.Errorf("step %d: resumed %+v, uninterrupted %+v", w.Step, g, w)
		}
	}
}

// sameSelectionBiases checks that the final checkpoints of two runs hold
// the same selection biases, bit for bit, and that the balancing moved
// them (else the comparison would prove nothing).
func sameSelectionBiases(t *testing.T, p *lang.Program, a, b string) {
	t.Helper()
	for _, l := range compiler.MoELayers(p) {
		if l.Bias == "" {
			continue
		}
		var vals [2][]float32
		for i, dir := range []string{a, b} {
			f, err := checkpoint.ReadSafetensors(filepath.Join(dir, checkpoint.ModelFile))
			if err != nil {
				t.Fatal(err)
			}
			vals[i] = make([]float32, l.Experts)
			if err := f.Tensor(l.Bias).Float32s(vals[i]); err != nil {
				t.Fatal(err)
			}
		}
		if !slices.Equal(vals[0], vals[1]) || !slices.ContainsFunc(vals[0], func(x float32) bool { return x != 0 }) {
			t.Errorf("%s: uninterrupted %v, resumed %v", l.Bias, vals[0], vals[1])
		}
	}
}

func TestNaNStopsWithStepParamAndCheckpoint(t *testing.T) {
	p, m := compile(t, testmodels.Small("eval every=0"))
	for _, c := range []struct {
		inject string
		want   []string
	}{
		{"7:grad:blocks.0.attn.wk", []string{"step 7: the gradient norm is NaN", "first non-finite gradient: blocks.0.attn.wk"}},
		{"7:value:blocks.0.mlp.w1", []string{"step 7: the loss is NaN", "parameter blocks.0.mlp.w1 holds non-finite values"}},
	} {
		dir := t.TempDir()
		_, err := Run(p, m, Options{Steps: 10, OutDir: dir, CheckpointEvery: 5, InjectNaN: c.inject})
		var de *DivergedError
		if !errors.As(err, &de) {
			t.Fatalf("%s: error %v, want a DivergedError", c.inject, err)
		}
		want := append(c.want, "last good checkpoint: "+filepath.Join(dir, "ckpt-000005"))
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.inject, err, w)
			}
		}
		if recs, _ := ReadMetrics(dir); len(recs) != 6 {
			t.Errorf("%s: %d metrics lines, want the 6 good steps", c.inject, len(recs))
		}
		if _, err := checkpoint.Load(filepath.Join(dir, "ckpt-000005"), checkpoint.Expect{Model: moduleSpecs(m), Optimizer: true}); err != nil {
			t.Errorf("%s: last good checkpoint does not load: %v", c.inject, err)
		}
	}
	_, err := Run(p, m, Options{Steps: 2, OutDir: t.TempDir(), InjectNaN: "1:grad:nope"})
	if err == nil || !strings.Contains(err.Error(), `no parameter "nope"`) {
		t.Errorf("unknown injection param: %v", err)
	}
}

// TestEvalEqualsTrainingTimeEvaluation: `eval` of a checkpoint on the same
// windows gives exactly the validation loss the training loop logged at
// that step, whether it reads the validation split of the training file or
// a file holding just that split; a partial last batch works too.
func TestEvalEqualsTrainingTimeEvaluation(t *testing.T) {
	text := textFile(t)
	p, m := compile(t, testmodels.Small("eval every=5 batches=3"))
	dir := t.TempDir()
	mustRun(t, p, m, Options{Steps: 10, DataPath: text, OutDir: dir, CheckpointEvery: 5})
	recs, _ := ReadMetrics(dir)
	for _, step := range []int{5, 10} {
		want := *recs[step-1].ValLoss
		ck := filepath.Join(dir, checkpoint.Name(step))
		got, err := Evaluate(p, m, EvalOptions{Checkpoint: ck, Data: DataSpec{Path: text}, Split: "val", Windows: 6})
		if err != nil {
			t.Fatal(err)
		}
		if got.Loss != want || got.Windows != 6 || got.Step != step || got.Tokens != 48 {
			t.Errorf("step %d: eval %+v, training-time val loss %v", step, got, want)
		}
	}
	// The validation split as a file of its own, the whole file evaluated.
	src, err := os.ReadFile(text)
	if err != nil {
		t.Fatal(err)
	}
	valOnly := filepath.Join(t.TempDir(), "val.txt")
	os.WriteFile(valOnly, src[len(src)-int(float64(len(src))*0.1):], 0o644)
	got, err := Evaluate(p, m, EvalOptions{Checkpoint: dir, Data: DataSpec{Path: valOnly}, Windows: 6})
	if err != nil {
		t.Fatal(err)
	}
	if got.Loss != *recs[9].ValLoss || got.Split != "all" {
		t.Errorf("val.txt: eval %+v, training-time %v", got, *recs[9].ValLoss)
	}
	// Deterministic, and a partial last batch (5 windows, batch 2).
	a, _ := Evaluate(p, m, EvalOptions{Checkpoint: dir, Data: DataSpec{Path: valOnly}, Windows: 5})
	b, _ := Evaluate(p, m, EvalOptions{Checkpoint: dir, Data: DataSpec{Path: valOnly}, Windows: 5})
	if a == nil || b == nil || a.Loss != b.Loss || a.Windows != 5 || math.IsNaN(a.Loss) {
		t.Errorf("partial batch eval %+v / %+v", a, b)
	}
	// Synthetic data: eval without --data uses the training-time batches.
	dir2 := t.TempDir()
	mustRun(t, p, m, Options{Steps: 5, OutDir: dir2})
	recs2, _ := ReadMetrics(dir2)
	got, err = Evaluate(p, m, EvalOptions{Checkpoint: dir2})
	if err != nil || got.Loss != *recs2[4].ValLoss {
		t.Errorf("synthetic eval %+v (%v), training-time %v", got, err, *recs2[4].ValLoss)
	}
}

func TestCheckpointOfAnotherModelIsRefused(t *testing.T) {
	p, m := compile(t, testmodels.Small("eval every=0"))
	dir := t.TempDir()
	mustRun(t, p, m, Options{Steps: 1, OutDir: dir})
	p2, m2 := compile(t, strings.Replace(testmodels.Replace(testmodels.Small("eval every=0"), "embed dim=16", "embed dim=24"), "head tied", "head untied", 1))
	_, err := Evaluate(p2, m2, EvalOptions{Checkpoint: dir})
	var me *checkpoint.MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("eval with another model: %v", err)
	}
	for _, w := range []string{"does not match the compiled model", "missing tensor head.weight [24 256]",
		"reshaped tensor embed.weight: checkpoint [256 16], program [256 24]"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	_, err = Run(p2, m2, Options{Steps: 2, OutDir: dir, Resume: true})
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("resume with another model: %v", err)
	}
}

func TestDataErrorsNameTheFile(t *testing.T) {
	p, m := compile(t, testmodels.Small("eval every=0"))
	dir := t.TempDir()
	short := filepath.Join(dir, "short.txt")
	os.WriteFile(short, []byte("tiny"), 0o644)
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, nil, 0o644)
	odd := filepath.Join(dir, "odd.bin")
	os.WriteFile(odd, []byte{1, 2, 3}, 0o644)
	for path, want := range map[string]string{
		filepath.Join(dir, "missing.txt"): "no such file",
		empty:                             "file is empty",
		short:                             "training split has 3 bytes, need at least 9 for context 8",
		odd:                               "not a whole number of uint16 tokens",
	} {
		_, err := Run(p, m, Options{Steps: 1, DataPath: path, OutDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to name the file and say %q", filepath.Base(path), err, want)
		}
	}
	_, err := Run(p, m, Options{Steps: 1, Sampling: "sequential", OutDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "needs a data file") {
		t.Errorf("sequential synthetic: %v", err)
	}
}

// TestTokenBinTraining trains on a uint16 token file with a declared
// vocabulary and evaluates it.
func TestTokenBinTraining(t *testing.T) {
	toks := make([]byte, 0, 4000)
	for i := 0; i < 2000; i++ {
		v := uint16((i*37 + i/7) % 200)
		toks = append(toks, byte(v), byte(v>>8))
	}
	path := filepath.Join(t.TempDir(), "tokens.bin")
	os.WriteFile(path, toks, 0o644)
	p, m := compile(t, testmodels.Small("eval every=2 batches=1"))
	dir := t.TempDir()
	res, _ := mustRun(t, p, m, Options{Steps: 3, DataPath: path, Vocab: 200, OutDir: dir})
	if !strings.Contains(res.DataName, "uint16, vocab 200") || math.IsNaN(res.ValLoss) {
		t.Errorf("result %+v", res)
	}
	_, err := Run(p, m, Options{Steps: 1, DataPath: path, Vocab: 100, OutDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "outside the declared vocabulary of 100") {
		t.Errorf("too-small vocab: %v", err)
	}
}

// TestAccumulationEqualsTheLargerBatch: two accumulated micro-batches of B
// take the same SGD step as one batch of 2B over the same windows (random
// text sampling draws the same offsets in the same order), up to float32
// rounding of the gradient sums.
func TestAccumulationEqualsTheLargerBatch(t *testing.T) {
	text := textFile(t)
	p, m := compile(t, testmodels.Small("eval every=0", "optimizer adamw lr=0.05 clip=0"))
	dirA := t.TempDir()
	mustRun(t, p, m, Options{Steps: 4, DataPath: text, Optimizer: "sgd", Accumulate: 2, Schedule: "constant", OutDir: dirA})
	p2, m2 := compile(t, strings.Replace(testmodels.Small("eval every=0", "optimizer adamw lr=0.05 clip=0"), "batch 2", "batch 4", 1))
	dirB := t.TempDir()
	mustRun(t, p2, m2, Options{Steps: 4, DataPath: text, Optimizer: "sgd", Schedule: "constant", OutDir: dirB})
	a, b := losses(t, dirA), losses(t, dirB)
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-5*math.Abs(b[i]) {
			t.Errorf("step %d: accumulated loss %v, large batch %v", i+1, a[i], b[i])
		}
	}
	if a[0] == a[3] {
		t.Error("loss did not change: the steps were not applied")
	}
}

// TestParamGroups checks the IR's decay attribute, which the optimizer's
// parameter groups use: no weight decay on norm gains, the mHC static
// bias and α; decay on every matrix (embedding, projections, phi).
func TestParamGroups(t *testing.T) {
	_, m := compile(t, strings.Replace(testmodels.Small(), "head tied", "head untied", 1))
	for _, v := range m.Values {
		name := v.Param()
		if name == "" {
			continue
		}
		noDecay := strings.HasSuffix(name, "norm.weight") || strings.HasSuffix(name, ".hc.bias") || strings.HasSuffix(name, ".hc.alpha")
		if v.Attrs.Bool("decay") == noDecay {
			t.Errorf("%s %s: decay=%v", name, v.Type, v.Attrs.Bool("decay"))
		}
		if noDecay != (v.Type.Shape.Rank() == 1) {
			t.Errorf("%s: rank %d, decay group should follow: matrices decay, vectors do not", name, v.Type.Shape.Rank())
		}
	}
}

// TestDecoderGivesTheLogits: decoding token by token with the key/value
// caches gives, at every position, the logits the full forward pass of the
// reference interpreter gives for the same weights (float32 against
// float64); once the cache is full, the decoder continues from the newest
// half of the context, and its logits are those of the full forward pass
// over that window.
func TestDecoderGivesTheLogits(t *testing.T) {
	for name, src := range map[string]string{
		"mhc":  testmodels.Small(),
		"hc":   testmodels.Replace(testmodels.Small(), "constraint=birkhoff", "constraint=none"),
		"tiny": testmodels.Tiny("residual streams=2 collapse=learned"),
		// grouped-query attention (the cache holds the 2 key/value heads),
		// a head width of its own and normalised queries and keys
		"gqa_qk_norm": testmodels.Replace(testmodels.Tiny("residual streams=2"), "heads=2 rope=true", "heads=4 kv_heads=2 head_dim=6 qk_norm=true rope=true"),
		"mqa":         testmodels.Replace(testmodels.Tiny("residual plain"), "heads=2 rope=true", "heads=2 kv_heads=1 rope=true"),
		"moe":         testmodels.MoE("residual streams=2 sinkhorn=5", "route_scale=2.5"),
		// multi-head latent attention (the cache holds one latent and one
		// rotary key per position), with and without a query latent,
		// under mHC and a plain residual
		"mla_mhc":          testmodels.Replace(testmodels.Small(), "attention heads=2", "attention mla heads=2 kv_rank=12"),
		"mla_q_rank_mhc":   testmodels.Replace(testmodels.Tiny("residual streams=2"), "attention heads=2 rope=true", "attention mla heads=4 head_dim=3 kv_rank=6 q_rank=5 rope_dim=2"),
		"mla_plain":        testmodels.Replace(testmodels.Tiny("residual plain"), "attention heads=2 rope=true", "attention mla heads=2 kv_rank=6"),
		"mla_q_rank_plain": testmodels.Replace(testmodels.Tiny("residual plain"), "attention heads=2 rope=true", "attention mla heads=2 kv_rank=6 q_rank=4"),
	} {
		t.Run(name, func(t *testing.T) {
			p, _ := compile(t, src)
			params := map[string][]float64{}
			dec, err := NewDecoder(p, func(g *gb.Graph) error {
				g.InitParams(3)
				for _, prm := range g.Params() {
					for i := range prm.F32() {
						prm.F32()[i] += float32(0.3 * math.Sin(float64(i+len(prm.Name))))
					}
					params[prm.Name] = f64(prm.F32())
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			T, V := p.Model.Context, p.Model.Vocab
			text := make([]int, T+3)
			for i := range text {
				text[i] = (7*i + 3) % V
			}
			lm, err := compiler.LowerLogits(p)
			if err != nil {
				t.Fatal(err)
			}
			// full returns the reference logits at the last of window's positions.
			full := func(window []int) []float64 {
				n := len(window)
				outs, err := ref.Eval(lm, map[string]int{compiler.SymBatch: 1, compiler.SymTime: n}, params,
					map[string][]int{compiler.InputTokens: window, compiler.InputTargets: make([]int, n)})
				if err != nil {
					t.Fatal(err)
				}
				return outs[compiler.OutputLogits].Data[(n-1)*V : n*V]
			}
			start := 0 // the first token in the decoder's window
			for i, tok := range text {
				if i-start == T {
					start = i - (max(T/2, 1) - 1)
				}
				got, err := dec.Feed(tok)
				if err != nil {
					t.Fatal(err)
				}
				if dec.Len() != i-start+1 {
					t.Fatalf("token %d: the cache holds %d positions, want %d", i, dec.Len(), i-start+1)
				}
				want := full(text[start : i+1])
				for k := range want {
					if math.Abs(got[k]-want[k]) > 2e-4*(1+math.Abs(want[k])) {
						t.Fatalf("token %d (window %d…%d): logit %d = %v, full forward %v", i, start, i, k, got[k], want[k])
					}
				}
			}
		})
	}
}

func f64(xs []float32) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x)
	}
	return out
}

func TestSampleIsDeterministic(t *testing.T) {
	text := textFile(t)
	p, m := compile(t, testmodels.Small("eval every=0", "optimizer adamw lr=0.01"))
	dir := t.TempDir()
	mustRun(t, p, m, Options{Steps: 30, DataPath: text, OutDir: dir})
	gen := func(seed uint64, temp float64) []int {
		r, err := Sample(p, SampleOptions{Checkpoint: dir, Prompt: []int{'l', 'i', 'n', 'e'}, Tokens: 12, Temperature: temp, TopK: 5, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Tokens) != 12 || r.Step != 30 {
			t.Fatalf("sample %+v", r)
		}
		return r.Tokens
	}
	if a, b := gen(1, 1), gen(1, 1); !slices.Equal(a, b) {
		t.Errorf("same seed, different samples %v / %v", a, b)
	}
	if a, b := gen(1, 0), gen(2, 0); !slices.Equal(a, b) {
		t.Errorf("greedy sampling depends on the seed: %v / %v", a, b)
	}
	if _, err := Sample(p, SampleOptions{Checkpoint: dir, Prompt: []int{300}, Tokens: 1}); err == nil || !strings.Contains(err.Error(), "outside the model's vocabulary") {
		t.Errorf("bad prompt: %v", err)
	}
	var out bytes.Buffer
	WriteTokens(&out, 256, []int{'h', 'i'})
	WriteTokens(&out, 1000, []int{5, 700})
	if out.String() != "hi5 700" {
		t.Errorf("WriteTokens: %q", out.String())
	}
}

func TestPlotWritesPNGAndSVG(t *testing.T) {
	p, m := compile(t, testmodels.Small("eval every=2 batches=1"))
	a, b := filepath.Join(t.TempDir(), "run-a"), filepath.Join(t.TempDir(), "run-b")
	mustRun(t, p, m, Options{Steps: 4, OutDir: a})
	mustRun(t, p, m, Options{Steps: 4, Seed: 9, HasSeed: true, OutDir: b})
	out := filepath.Join(t.TempDir(), "loss")
	paths, err := PlotRuns([]string{a, b}, PlotOptions{Out: out, Smooth: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(paths, []string{out + ".png", out + ".svg"}) {
		t.Fatalf("paths %v", paths)
	}
	png, _ := os.ReadFile(out + ".png")
	svg, _ := os.ReadFile(out + ".svg")
	if !bytes.HasPrefix(png, []byte("\x89PNG")) || !bytes.Contains(svg, []byte("<svg")) ||
		!bytes.Contains(svg, []byte("run-a")) || !bytes.Contains(svg, []byte("run-b")) {
		t.Errorf("png %d bytes, svg %d bytes without both run names", len(png), len(svg))
	}
	if _, err := PlotRuns([]string{t.TempDir()}, PlotOptions{Out: out}); err == nil || !strings.Contains(err.Error(), "metrics.jsonl") {
		t.Errorf("plot of a folder without metrics: %v", err)
	}
}

// TestKeepAndHeader: keep=K prunes old checkpoints; the header shows the
// parameter groups and the checkpoint policy.
func TestKeepAndHeader(t *testing.T) {
	p, m := compile(t, testmodels.Small("eval every=0"))
	dir := t.TempDir()
	_, log := mustRun(t, p, m, Options{Steps: 7, OutDir: dir, CheckpointEvery: 2, Keep: 2})
	es, _ := checkpoint.List(dir)
	var steps []int
	for _, e := range es {
		steps = append(steps, e.Step)
	}
	if !slices.Equal(steps, []int{6, 7}) {
		t.Errorf("checkpoints %v, want [6 7]", steps)
	}
	for _, w := range []string{"decay", "no decay", "every 2 steps", "keep 2", "checkpoint " + filepath.Join(dir, "ckpt-000007")} {
		if !strings.Contains(log, w) {
			t.Errorf("log lacks %q:\n%s", w, log)
		}
	}
	ck, err := checkpoint.Load(es[1].Dir, checkpoint.Expect{Model: moduleSpecs(m), Optimizer: true})
	if err != nil {
		t.Fatal(err)
	}
	md := ck.Model.Metadata
	if md["ir_sha256"] == "" || md["step"] != "7" || !strings.Contains(md["runtime"], `"optimizer":"adamw"`) {
		t.Errorf("model metadata %v", md)
	}
	if ck.Optimizer.Tensor("embed.weight.exp_avg_sq") == nil {
		t.Error("optimizer file lacks embed.weight.exp_avg_sq")
	}
}

// TestStatusLine: on a terminal the progress is one line redrawn in place
// (carriage return + erase line), with evaluations and checkpoints
// printed as permanent lines; elsewhere one plain line per log interval.
func TestStatusLine(t *testing.T) {
	p, m := compile(t, testmodels.Small("eval every=2 batches=1"))
	_, tty := mustRun(t, p, m, Options{Steps: 4, OutDir: t.TempDir(), TTY: true, CheckpointEvery: 3})
	if strings.Count(tty, "\r\x1b[Kstep 3/4 | loss") != 1 || !strings.Contains(tty, "\r\x1b[Kcheckpoint ") ||
		!strings.Contains(tty, "\r\x1b[Kstep 2 | val ") || regexp.MustCompile(`step 1/4 [^\r]*\n`).MatchString(tty) {
		t.Errorf("TTY output:\n%q", tty)
	}
	_, plain := mustRun(t, p, m, Options{Steps: 4, OutDir: t.TempDir()})
	if strings.Contains(plain, "\r") || strings.Count(plain, "\nstep ") != 4 {
		t.Errorf("plain output:\n%s", plain)
	}
}
