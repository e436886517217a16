package train

import (
	"fmt"
	"math"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// PlotOptions configure PlotRuns.
type PlotOptions struct {
	// Out is the output path without extension; Out.png and Out.svg are
	// written.
	Out string
	// Smooth is the window of the exponential moving average drawn over
	// the training loss (α = 2/(Smooth+1)); ≤ 1 draws the raw loss.
	Smooth int
	// Title is the plot title ("" for "training loss").
	Title string
}

// PlotRuns draws the training loss (and the validation loss where it was
// measured, dashed) of every run folder against the step, one colour per
// run, and writes opts.Out+".png" and opts.Out+".svg". It returns the
// written paths.
func PlotRuns(runs []string, opts PlotOptions) ([]string, error) {
	if len(runs) == 0 {
		return nil, fmt.Errorf("no runs to plot")
	}
	p := plot.New()
	p.Title.Text = opts.Title
	if p.Title.Text == "" {
		p.Title.Text = "training loss"
	}
	p.X.Label.Text = "step"
	p.Y.Label.Text = "loss (nats/token)"
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	for i, run := range runs {
		recs, err := ReadMetrics(run)
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			return nil, fmt.Errorf("%s: metrics.jsonl has no steps", run)
		}
		name := filepath.Base(filepath.Clean(run))
		var train, val plotter.XYs
		ema := math.NaN()
		alpha := 1.0
		if opts.Smooth > 1 {
			alpha = 2 / float64(opts.Smooth+1)
		}
		for _, r := range recs {
			if math.IsNaN(ema) {
				ema = r.Loss
			} else {
				ema = alpha*r.Loss + (1-alpha)*ema
			}
			train = append(train, plotter.XY{X: float64(r.Step), Y: ema})
			if r.ValLoss != nil {
				val = append(val, plotter.XY{X: float64(r.Step), Y: *r.ValLoss})
			}
		}
		col := plotutil.Color(i)
		l, err := plotter.NewLine(train)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", run, err)
		}
		l.Color = col
		l.Width = vg.Points(1.2)
		p.Add(l)
		p.Legend.Add(name+" train", l)
		if len(val) > 0 {
			vl, vp, err := plotter.NewLinePoints(val)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", run, err)
			}
			vl.Color, vp.Color = col, col
			vl.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			vp.Shape = draw.CircleGlyph{}
			vp.Radius = vg.Points(2)
			p.Add(vl, vp)
			p.Legend.Add(name+" val", vl, vp)
		}
	}
	var out []string
	for _, ext := range []string{".png", ".svg"} {
		path := opts.Out + ext
		if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
			return out, fmt.Errorf("writing %s: %w", path, err)
		}
		out = append(out, path)
	}
	return out, nil
}
