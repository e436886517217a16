package ablate

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/backend/runtime/train"
	"github.com/mhcc/mhcc/internal/golden"
	"github.com/mhcc/mhcc/internal/testmodels"
)

func TestSpikeRule(t *testing.T) {
	flat := make([]float64, 30)
	for i := range flat {
		flat[i] = 2
	}
	r := SpikeRule{Window: 20, Ratio: 0.1}
	if n := r.Count(flat); n != 0 {
		t.Errorf("flat: %d spikes", n)
	}
	spiky := append([]float64(nil), flat...)
	spiky[5] = 9    // inside the first window: not counted
	spiky[20] = 2.2 // exactly 10% above the median: not a spike
	spiky[21] = 2.21
	spiky[25] = 5
	if n := r.Count(spiky); n != 2 {
		t.Errorf("spiky: %d spikes, want 2", n)
	}
	// The median ignores a single outlier in the window.
	if n := r.Count(append(spiky, 2.3)); n != 3 {
		t.Errorf("after a spike: %d spikes, want 3", n)
	}
	if n := (SpikeRule{}).Count(spiky); n != 0 {
		t.Errorf("zero rule: %d spikes", n)
	}
}

func TestStat(t *testing.T) {
	s := statOf([]float64{1, 2, 3, math.NaN()})
	if s.N != 3 || s.Mean != 2 || s.Std != 1 {
		t.Errorf("stat %+v", s)
	}
	if b, _ := json.Marshal(statOf(nil)); string(b) != "null" {
		t.Errorf("empty stat marshals as %s", b)
	}
	for _, c := range []struct {
		s    Stat
		want string
	}{
		{Stat{Mean: 1, N: 1}, "1.000"},
		{Stat{Mean: 1.00004, Std: 0.00001, N: 2}, "1.000 ± 0.000"},
		{Stat{Mean: 3141.6, Std: 12.3, N: 3}, "3142 ± 12"},
		{Stat{Mean: 0.012345, N: 1}, "0.01235"},
		{Stat{}, "-"},
	} {
		if got := general(c.s); got != c.want {
			t.Errorf("general(%+v) = %q, want %q", c.s, got, c.want)
		}
	}
}

// fakeRun writes the metrics.jsonl of a synthetic run into out/rel and
// reads it back as a run would be: steps steps whose loss falls from 4,
// with a spike at each step in spikes, validation every 10 steps, and the
// composite gains every 5 steps when gain > 0 (growing from 1 to gain).
func fakeRun(t *testing.T, out, rel string, seed int64, steps int, spikes []int, gain, load, ms float64, diverged int) RunStats {
	t.Helper()
	dir := filepath.Join(out, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	wobble := float64(seed%7) / 1000
	for s := 1; s <= steps; s++ {
		m := map[string]any{"step": s, "loss": 4 - 2*float64(s)/float64(steps) + wobble, "lr": 0.001,
			"grad_norm": 1 + float64(s%4)/4 + wobble, "ms": ms, "tok_s": 512 / ms * 1000}
		for _, x := range spikes {
			if s == x {
				m["loss"] = 6.0
				m["grad_norm"] = 40 + wobble
			}
		}
		if s%10 == 0 {
			m["val_loss"] = 4.1 - 2*float64(s)/float64(steps) + wobble
		}
		if load > 0 { // two MoE sublayers; the second is the busier one over the last 10 steps
			m["moe_max_load"] = []float64{1.5, load + float64(s%2)/10}
		}
		if gain > 0 && (s%5 == 0 || s == 1) {
			m["composite_gain_fwd"] = 1 + (gain-1)*float64(s)/float64(steps)
			m["composite_gain_bwd"] = 1 + (gain-1)*float64(s)/float64(steps)/2
		}
		line, _ := json.Marshal(m)
		b.Write(append(line, '\n'))
	}
	if err := os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &runResult{RunStats: RunStats{Seed: seed, Dir: rel, Params: 1000, DivergedAt: diverged}, dir: dir}
	if err := r.readMetrics(DefaultSpikeRule); err != nil {
		t.Fatal(err)
	}
	return r.RunStats
}

// TestTableGolden pins the layout of the table, the legend and the JSON
// on synthetic runs (so every number is exact): one seed per file and
// several, a file without gains, one with spikes, one whose runs all
// diverged and one where one of two did.
func TestTableGolden(t *testing.T) {
	out := t.TempDir()
	type spec struct {
		file, residual string
		spikes         []int
		gain, load, ms float64
		diverged       []int // per seed, 0: finished
	}
	build := func(seeds []int64, specs []spec) *Report {
		rep := &Report{Steps: 60, Seeds: seeds, Data: "markov(vocab=32)", Spikes: DefaultSpikeRule}
		models := make([]Model, len(specs))
		for i, s := range specs {
			models[i] = Model{File: s.file}
		}
		labels := Labels(models)
		for i, s := range specs {
			row := Row{File: s.file, Label: labels[i], Residual: s.residual}
			for k, seed := range seeds {
				steps, div := 60, 0
				if k < len(s.diverged) && s.diverged[k] > 0 {
					div = s.diverged[k]
					steps = div - 1
				}
				rel := filepath.Join("runs", labels[i], fmt.Sprintf("seed-%d", seed))
				row.Runs = append(row.Runs, fakeRun(t, out, rel, seed, steps, s.spikes, s.gain, s.load, s.ms, div))
			}
			row.aggregate()
			rep.Rows = append(rep.Rows, row)
		}
		rep.finish()
		return rep
	}
	one := build([]int64{7}, []spec{
		{file: "examples/plain.mhc", residual: "plain", ms: 10},
		{file: "examples/hc.mhc", residual: "none n=4", spikes: []int{30, 45}, gain: 3000, ms: 21},
		{file: "other/hc.mhc", residual: "birkhoff n=4", gain: 1.6, ms: 22.5},
		{file: "other/moe.mhc", residual: "birkhoff n=4", gain: 1.6, load: 2, ms: 30},
	})
	three := build([]int64{1, 2, 3}, []spec{
		{file: "plain.mhc", residual: "plain", ms: 10},
		{file: "hc.mhc", residual: "none n=4", spikes: []int{25}, gain: 120, ms: 20, diverged: []int{0, 50, 0}},
		{file: "deep_hc.mhc", residual: "none n=4", gain: 5000, ms: 40, diverged: []int{31, 41, 51}},
	})
	b, err := three.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Error("invalid JSON")
	}
	golden.RunFile(t, filepath.Join("testdata", "table.txtar"), func(t *testing.T, a *golden.Archive) {
		a.Out("one_seed.md", one.Markdown(true))
		a.Out("three_seeds.md", three.Markdown(true))
		a.Out("no_timing.md", one.Markdown(false))
		a.Out("three_seeds.json", string(b))
	})
	if ps, err := one.Plot(out, 5); err != nil || strings.Join(ps, " ") != "loss.png loss.svg gain.png gain.svg" {
		t.Errorf("plots %v, %v", ps, err)
	}
}

// number matches the numbers of a table, for the layout golden of a real
// run.
var number = regexp.MustCompile(`[0-9]+(\.[0-9]+)?(e[-+][0-9]+)?`)

// TestTinyAblation trains two tiny models (the plain residual and mHC)
// with two seeds for 25 steps through Run, checks the files it writes,
// and pins the table's layout with every number masked (the numbers
// themselves depend on the kernels' rounding).
func TestTinyAblation(t *testing.T) {
	src := func(residual, ffn string) []byte {
		return []byte(fmt.Sprintf(`model tiny {
  vocab 16
  context 8
  embed dim=8
  %s
  block attn {
    attention heads=2
  }
  block mlp {
    %s
  }
}

train {
  batch 2
  steps 1000
  eval every=10 batches=1
  diagnostics every=5
}
`, residual, ffn))
	}
	models := []Model{
		compileModel(t, "plain.mhc", src("residual plain", "mlp hidden=16")),
		compileModel(t, "mhc.mhc", src("residual streams=2 constraint=birkhoff", "mlp hidden=16")),
		compileModel(t, "moe.mhc", src("residual streams=2 constraint=birkhoff", "moe experts=4 active=2 hidden=8")),
	}
	out := t.TempDir()
	var log strings.Builder
	rep, err := Run(models, Options{Steps: 25, Seeds: 2, OutDir: out, Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	for _, f := range []string{MarkdownFile, JSONFile, "loss.png", "loss.svg", "gain.png", "gain.svg",
		"runs/plain/seed-1337/metrics.jsonl", "runs/mhc/seed-1338/train.log"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, JSONFile))
	if err != nil || !json.Valid(b) {
		t.Fatalf("ablation.json: %v", err)
	}
	if md, _ := os.ReadFile(filepath.Join(out, MarkdownFile)); !strings.Contains(string(md), rep.Markdown(true)) {
		t.Errorf("ablation.md does not hold the table:\n%s", md)
	}
	// Identical data and seeds: the two files start from the same batch,
	// and the plain residual measures no gains while mHC keeps them near 1.
	plain, mhc := rep.Rows[0], rep.Rows[1]
	if plain.Runs[0].series.loss[0] == plain.Runs[1].series.loss[0] {
		t.Error("the two seeds gave the same first loss")
	}
	if plain.MaxGainFwd.N != 0 || mhc.MaxGainFwd.N != 2 || math.Abs(mhc.MaxGainFwd.Mean-1) > 0.01 {
		t.Errorf("gains: plain %+v, mhc %+v", plain.MaxGainFwd, mhc.MaxGainFwd)
	}
	// The mixture of experts reports its load: at least the mean, at most
	// E/k = 2 times it; the models without experts have none.
	if moe := rep.Rows[2]; plain.MaxLoad != nil || mhc.MaxLoad != nil || moe.MaxLoad == nil || moe.MaxLoad.N != 2 ||
		moe.MaxLoad.Mean < 1 || moe.MaxLoad.Mean > 2 {
		t.Errorf("max load: plain %v, mhc %v, moe %v", plain.MaxLoad, mhc.MaxLoad, moe.MaxLoad)
	}
	if rep.Steps != 25 || len(rep.Seeds) != 2 || rep.Seeds[0] != 1337 || plain.Runs[0].Steps != 25 {
		t.Errorf("budget: %d steps, seeds %v, run steps %d", rep.Steps, rep.Seeds, plain.Runs[0].Steps)
	}
	masked := number.ReplaceAllString(rep.Markdown(false), "N")
	masked = regexp.MustCompile(` +`).ReplaceAllString(masked, " ")
	masked = regexp.MustCompile(`-{2,}`).ReplaceAllString(masked, "--")
	golden.RunFile(t, filepath.Join("testdata", "tiny.txtar"), func(t *testing.T, a *golden.Archive) {
		a.Out("table", masked)
		// the progress lines' time estimate appears only from a second on
		eta := regexp.MustCompile(`, about \S+ left`)
		a.Out("log", number.ReplaceAllString(eta.ReplaceAllString(log.String(), ""), "N"))
	})
}

// TestInterrupted: a closed Stop channel ends the ablation after the
// current step with an error matching train.ErrInterrupted.
func TestInterrupted(t *testing.T) {
	m := compileModel(t, "a.mhc", []byte(testmodels.Minimal()))
	stop := make(chan struct{})
	close(stop)
	out := t.TempDir()
	_, err := Run([]Model{m, m}, Options{Steps: 5, OutDir: out, Stop: stop})
	if !errors.Is(err, train.ErrInterrupted) || !strings.Contains(err.Error(), "a.mhc seed 1337 stopped after step 1") {
		t.Fatalf("error %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, MarkdownFile)); err == nil {
		t.Error("an interrupted ablation wrote a table")
	}
	if got := Labels([]Model{m, m, {File: "x/a.mhc"}}); strings.Join(got, " ") != "a a-2 a-3" {
		t.Errorf("labels %v", got)
	}
}

// TestDeltaValPairsBySeed: the Δ val column compares each run with the
// first file's run of the same seed, leaves out diverged runs, and marks
// a difference beyond twice its standard error.
func TestDeltaValPairsBySeed(t *testing.T) {
	runs := func(vals map[int64]float64, diverged ...int64) []RunStats {
		var out []RunStats
		for _, seed := range []int64{1, 2, 3} {
			v, ok := vals[seed]
			if !ok {
				continue
			}
			r := RunStats{Seed: seed, FinalVal: ptr(v)}
			if slices.Contains(diverged, seed) {
				r.DivergedAt = 10
			}
			out = append(out, r)
		}
		return out
	}
	rep := &Report{Rows: []Row{
		{Runs: runs(map[int64]float64{1: 2.0, 2: 2.2, 3: 2.1})},
		{Runs: runs(map[int64]float64{1: 1.9, 2: 2.1, 3: 2.0})},    // −0.1 on every seed: the seeds' spread (0.1) does not hide it
		{Runs: runs(map[int64]float64{1: 1.8, 2: 2.4, 3: 2.1})},    // −0.2, +0.2, 0: nothing beyond noise
		{Runs: runs(map[int64]float64{1: 1.5, 2: 2.0, 3: 2.0}, 1)}, // seed 1 diverged: −0.2, −0.1
	}}
	for i := range rep.Rows {
		rep.Rows[i].aggregate()
	}
	rep.finish()
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	if d := rep.Rows[0].DeltaVal; d.N != 0 {
		t.Errorf("the baseline's own Δ: %+v", d)
	}
	if d := rep.Rows[1].DeltaVal; d.N != 3 || !near(d.Mean, -0.1) || !near(d.Std, 0) || !d.significant() {
		t.Errorf("constant shift: %+v", d)
	}
	// mean 0, std sqrt((0.04+0.04+0)/2) = 0.2
	if d := rep.Rows[2].DeltaVal; d.N != 3 || !near(d.Mean, 0) || !near(d.Std, 0.2) || d.significant() {
		t.Errorf("noise: %+v", d)
	}
	// mean −0.15, std sqrt((0.0025+0.0025)/1) = 0.0707; 2·0.0707/√2 = 0.1 < 0.15
	if d := rep.Rows[3].DeltaVal; d.N != 2 || !near(d.Mean, -0.15) || !near(d.Std, math.Sqrt(0.005)) || !d.significant() {
		t.Errorf("with a diverged run: %+v", d)
	}
}
