package ablate

import (
	"math"
	"path/filepath"
	"sort"

	"github.com/mhcc/mhcc/backend/runtime/train"
)

// Plot draws the comparison's curves into dir, with backend/train's
// plotting: loss.png/.svg (per file the training loss, smoothed over about
// smooth steps, and the validation loss, dashed, each the mean over the
// seeds) and, when any run measured it, gain.png/.svg (the composite
// forward gain, solid, and backward gain, dashed, on a log scale). It
// returns the written files' names.
func (r *Report) Plot(dir string, smooth int) ([]string, error) {
	var loss, gain []train.Curve
	for i, w := range r.Rows {
		st, tr := meanSeries(w.Runs, func(s *series) ([]float64, []float64) { return s.step, s.loss })
		loss = append(loss, train.Curve{Name: w.Label + " train", X: st, Y: train.Smooth(tr, smooth), Color: i})
		if vs, v := meanSeries(w.Runs, func(s *series) ([]float64, []float64) { return s.valStep, s.val }); len(vs) > 0 {
			loss = append(loss, train.Curve{Name: w.Label + " val", X: vs, Y: v, Color: i, Dashed: true, Points: true})
		}
		if gs, f := meanSeries(w.Runs, func(s *series) ([]float64, []float64) { return s.gainStep, s.fwd }); len(gs) > 0 {
			gain = append(gain, train.Curve{Name: w.Label + " fwd", X: gs, Y: f, Color: i})
			gs, bw := meanSeries(w.Runs, func(s *series) ([]float64, []float64) { return s.gainStep, s.bwd })
			gain = append(gain, train.Curve{Name: w.Label + " bwd", X: gs, Y: bw, Color: i, Dashed: true})
		}
	}
	var out []string
	written := func(paths []string) {
		for _, p := range paths {
			out = append(out, filepath.Base(p))
		}
	}
	paths, err := train.PlotCurves(loss, train.CurveOptions{Out: filepath.Join(dir, "loss"),
		Title: "loss (mean over seeds)", XLabel: "step", YLabel: "loss (nats/token)"})
	written(paths)
	if err != nil {
		return out, err
	}
	if len(gain) > 0 {
		opts := train.CurveOptions{Out: filepath.Join(dir, "gain"), Title: "composite Amax gain of the residual mixing (mean over seeds)",
			XLabel: "step", YLabel: "gain", LegendLeft: true}
		// A log scale when the gains span orders of magnitude (HC);
		// otherwise a linear one from 0 that shows how close to 1 they stay.
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, c := range gain {
			for _, y := range c.Y {
				if y > 0 && finite(y) {
					lo, hi = math.Min(lo, y), math.Max(hi, y)
				}
			}
		}
		if hi > 20*lo {
			opts.LogY = true
		} else {
			opts.YMin, opts.YMax = 0, 2
		}
		paths, err = train.PlotCurves(gain, opts)
		written(paths)
	}
	return out, err
}

// meanSeries averages one series over runs, step by step: the mean at
// each step of the values of the runs that have it (a diverged run stops
// early).
func meanSeries(runs []RunStats, get func(*series) ([]float64, []float64)) ([]float64, []float64) {
	sum, n := map[float64]float64{}, map[float64]int{}
	for i := range runs {
		xs, ys := get(&runs[i].series)
		for j, x := range xs {
			if j < len(ys) && finite(ys[j]) {
				sum[x] += ys[j]
				n[x]++
			}
		}
	}
	xs := make([]float64, 0, len(sum))
	for x := range sum {
		xs = append(xs, x)
	}
	sort.Float64s(xs)
	ys := make([]float64, len(xs))
	for i, x := range xs {
		ys[i] = sum[x] / float64(n[x])
	}
	return xs, ys
}
