package ablate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/mhcc/mhcc/backend/runtime/train"
)

// SpikeRule defines a loss spike: a step whose training loss exceeds the
// median of the previous Window steps' losses by more than Ratio times
// that median. The first Window steps are never spikes.
type SpikeRule struct {
	Window int     `json:"window"`
	Ratio  float64 `json:"ratio"`
}

// DefaultSpikeRule counts a step as a spike when its loss is more than
// 10% above the median of the previous 20 steps. Per-step losses of the
// runs ablate is meant for (a few thousand tokens a batch) fluctuate by a
// few percent, so 10% is several standard deviations of that noise, while
// the surges the papers report are much larger.
var DefaultSpikeRule = SpikeRule{Window: 20, Ratio: 0.1}

// Count returns the number of spikes in losses (one per step).
func (r SpikeRule) Count(losses []float64) int {
	if r.Window < 1 {
		return 0
	}
	n := 0
	win := make([]float64, r.Window)
	for i := r.Window; i < len(losses); i++ {
		copy(win, losses[i-r.Window:i])
		if losses[i] > median(win)*(1+r.Ratio) {
			n++
		}
	}
	return n
}

// String describes the rule for the table's legend.
func (r SpikeRule) String() string {
	return fmt.Sprintf("steps whose training loss exceeds the median of the previous %d steps by more than %g%%", r.Window, 100*r.Ratio)
}

// median sorts xs and returns its median.
func median(xs []float64) float64 {
	sort.Float64s(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// RunStats is the outcome of one training run (one file, one seed).
type RunStats struct {
	Seed int64 `json:"seed"`
	// Dir is the run folder, relative to the output folder.
	Dir string `json:"dir"`
	// Steps is the number of steps completed.
	Steps int `json:"steps"`
	// DivergedAt is the step at which the loss or gradient became
	// non-finite (0: it did not).
	DivergedAt int `json:"diverged_at,omitempty"`
	// FinalTrain is the mean training loss of the last 10 steps.
	FinalTrain *float64 `json:"final_train_loss"`
	// FinalVal is the validation loss measured at the last step, BestVal
	// the lowest measured; nil without validation (or, for FinalVal, when
	// the run diverged).
	FinalVal *float64 `json:"final_val_loss"`
	BestVal  *float64 `json:"best_val_loss"`
	// Spikes counts the loss spikes (Report.Spikes).
	Spikes int `json:"spikes"`
	// MaxGradNorm is the largest global gradient norm, before clipping.
	MaxGradNorm float64 `json:"max_grad_norm"`
	// MaxGainFwd and MaxGainBwd are the largest composite forward and
	// backward gains in metrics.jsonl (composite_gain_fwd,
	// composite_gain_bwd); nil when the run did not measure them.
	MaxGainFwd *float64 `json:"max_composite_gain_fwd"`
	MaxGainBwd *float64 `json:"max_composite_gain_bwd"`
	Params     int      `json:"params"`
	// MaxLoad is, for a mixture of experts, the busiest expert's load
	// relative to the mean (moe_max_load in metrics.jsonl; the largest
	// over the sublayers), averaged over the last 10 steps; nil without
	// experts.
	MaxLoad *float64 `json:"moe_max_load,omitempty"`
	// MsPerStep is the mean time of a training step (evaluation
	// excluded); TokensPerS the training tokens per second.
	MsPerStep  float64 `json:"ms_per_step"`
	TokensPerS float64 `json:"tokens_per_s"`

	series series
}

// series are a run's curves, for the plots.
type series struct {
	step, loss         []float64
	valStep, val       []float64
	gainStep, fwd, bwd []float64
}

// metricLine is the part of a metrics.jsonl line ablate reads; the gain
// keys are written by the training diagnostics every N steps.
type metricLine struct {
	Step     int       `json:"step"`
	Loss     float64   `json:"loss"`
	GradNorm float64   `json:"grad_norm"`
	Ms       float64   `json:"ms"`
	TokS     float64   `json:"tok_s"`
	ValLoss  *float64  `json:"val_loss"`
	GainFwd  *float64  `json:"composite_gain_fwd"`
	GainBwd  *float64  `json:"composite_gain_bwd"`
	MaxLoad  []float64 `json:"moe_max_load"`
}

// readMetrics fills the run's statistics from dir/metrics.jsonl.
func (r *runResult) readMetrics(rule SpikeRule) error {
	path := filepath.Join(r.dir, train.MetricsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var lines []metricLine
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var m metricLine
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return fmt.Errorf("%s:%d: %v", path, n, err)
		}
		lines = append(lines, m)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	r.RunStats.fill(lines, rule)
	return nil
}

// fill computes the statistics of a run from its metrics lines.
func (r *RunStats) fill(lines []metricLine, rule SpikeRule) {
	s := &r.series
	var ms, tokens float64
	var loads []float64 // per step, the largest max/mean load of the sublayers
	for _, m := range lines {
		if len(m.MaxLoad) > 0 {
			loads = append(loads, slices.Max(m.MaxLoad))
		}
		s.step = append(s.step, float64(m.Step))
		s.loss = append(s.loss, m.Loss)
		r.MaxGradNorm = math.Max(r.MaxGradNorm, m.GradNorm)
		if m.ValLoss != nil && finite(*m.ValLoss) {
			s.valStep = append(s.valStep, float64(m.Step))
			s.val = append(s.val, *m.ValLoss)
			if r.BestVal == nil || *m.ValLoss < *r.BestVal {
				r.BestVal = ptr(*m.ValLoss)
			}
		}
		if m.GainFwd != nil || m.GainBwd != nil {
			s.gainStep = append(s.gainStep, float64(m.Step))
			s.fwd = append(s.fwd, deref(m.GainFwd))
			s.bwd = append(s.bwd, deref(m.GainBwd))
			r.MaxGainFwd = maxPtr(r.MaxGainFwd, m.GainFwd)
			r.MaxGainBwd = maxPtr(r.MaxGainBwd, m.GainBwd)
		}
		ms += m.Ms
		tokens += m.TokS * m.Ms / 1000
	}
	r.Steps = len(lines)
	if n := len(s.loss); n > 0 {
		r.FinalTrain = ptr(meanLast(s.loss, 10))
		last := lines[n-1]
		if r.DivergedAt == 0 && last.ValLoss != nil && finite(*last.ValLoss) {
			r.FinalVal = ptr(*last.ValLoss)
		}
	}
	if len(loads) > 0 {
		r.MaxLoad = ptr(meanLast(loads, 10))
	}
	r.Spikes = rule.Count(s.loss)
	r.MsPerStep, r.TokensPerS = math.NaN(), math.NaN()
	if ms > 0 {
		r.MsPerStep = ms / float64(len(lines))
		r.TokensPerS = tokens / (ms / 1000)
	}
}

// meanLast is the mean of the last k values of xs (all when fewer).
func meanLast(xs []float64, k int) float64 {
	k = min(k, len(xs))
	sum := 0.0
	for _, x := range xs[len(xs)-k:] {
		sum += x
	}
	return sum / float64(k)
}

func ptr(x float64) *float64 { return &x }

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// maxPtr returns the larger of a and b, either of which may be nil.
func maxPtr(a, b *float64) *float64 {
	switch {
	case b == nil || !finite(*b):
		return a
	case a == nil || *b > *a:
		return ptr(*b)
	}
	return a
}

// Stat is a mean and sample standard deviation over the seeds that
// measured a value.
type Stat struct {
	Mean float64
	Std  float64 // 0 for a single value
	N    int     // number of values; 0 means none was measured
}

// statOf summarises the finite values of xs.
func statOf(xs []float64) Stat {
	var s Stat
	for _, x := range xs {
		if finite(x) {
			s.N++
			s.Mean += x
		}
	}
	if s.N == 0 {
		return Stat{}
	}
	s.Mean /= float64(s.N)
	if s.N > 1 {
		for _, x := range xs {
			if finite(x) {
				d := x - s.Mean
				s.Std += float64(d * d) // no fused multiply-add: the same result on every platform
			}
		}
		s.Std = math.Sqrt(s.Std / float64(s.N-1))
	}
	return s
}

// MarshalJSON writes {"mean": M, "std": S, "n": N}, or null when nothing
// was measured.
func (s Stat) MarshalJSON() ([]byte, error) {
	if s.N == 0 {
		return []byte("null"), nil
	}
	return json.Marshal(struct {
		Mean float64 `json:"mean"`
		Std  float64 `json:"std"`
		N    int     `json:"n"`
	}{s.Mean, s.Std, s.N})
}

// Row is one file of the comparison: its runs and their statistics over
// the seeds.
type Row struct {
	File     string `json:"file"`
	Label    string `json:"label"`
	Residual string `json:"residual"`
	Params   int    `json:"params"`
	// Diverged counts the runs that diverged.
	Diverged    int  `json:"diverged"`
	FinalVal    Stat `json:"final_val_loss"`
	BestVal     Stat `json:"best_val_loss"`
	Spikes      Stat `json:"spikes"`
	MaxGradNorm Stat `json:"max_grad_norm"`
	MaxGainFwd  Stat `json:"max_composite_gain_fwd"`
	MaxGainBwd  Stat `json:"max_composite_gain_bwd"`
	// MaxLoad is the runs' MaxLoad (nil without experts).
	MaxLoad    *Stat `json:"moe_max_load,omitempty"`
	TokensPerS Stat  `json:"tokens_per_s"`
	MsPerStep  Stat  `json:"ms_per_step"`
	// DeltaVal is the final validation loss minus the first file's, paired
	// by seed (the runs of one seed see the same data and batches), over
	// the seeds both finished; the first file's own is not measured.
	DeltaVal Stat `json:"final_val_delta"`
	// StepTimeRatio is MsPerStep relative to the first file's (NaN when
	// either is unknown).
	StepTimeRatio float64    `json:"-"`
	Runs          []RunStats `json:"runs"`
}

// aggregate computes the row's statistics from its runs.
func (w *Row) aggregate() {
	col := func(f func(r *RunStats) float64) Stat {
		xs := make([]float64, len(w.Runs))
		for i := range w.Runs {
			xs[i] = f(&w.Runs[i])
		}
		return statOf(xs)
	}
	w.Diverged = 0
	for _, r := range w.Runs {
		if r.DivergedAt > 0 {
			w.Diverged++
		}
		w.Params = max(w.Params, r.Params)
	}
	w.FinalVal = col(func(r *RunStats) float64 { return deref(r.FinalVal) })
	w.BestVal = col(func(r *RunStats) float64 { return deref(r.BestVal) })
	w.Spikes = col(func(r *RunStats) float64 { return float64(r.Spikes) })
	w.MaxGradNorm = col(func(r *RunStats) float64 { return r.MaxGradNorm })
	w.MaxGainFwd = col(func(r *RunStats) float64 { return deref(r.MaxGainFwd) })
	w.MaxGainBwd = col(func(r *RunStats) float64 { return deref(r.MaxGainBwd) })
	if ml := col(func(r *RunStats) float64 { return deref(r.MaxLoad) }); ml.N > 0 {
		w.MaxLoad = &ml
	}
	w.TokensPerS = col(func(r *RunStats) float64 { return r.TokensPerS })
	w.MsPerStep = col(func(r *RunStats) float64 { return r.MsPerStep })
}

// significant reports whether a paired difference is larger than twice
// its standard error (std/√n); it needs at least two seeds.
func (s Stat) significant() bool {
	return s.N >= 2 && math.Abs(s.Mean) > 2*s.Std/math.Sqrt(float64(s.N))
}
