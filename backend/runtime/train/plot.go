package train

import (
	"fmt"
	"io"
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
	// Log, when set, receives notes about the runs (a last line of
	// metrics.jsonl that a crash cut off, left out).
	Log io.Writer
}

// PlotRuns draws the training loss (and the validation loss where it was
// measured, dashed) of every run folder against the step, one colour per
// run, and writes opts.Out+".png" and opts.Out+".svg". It returns the
// written paths.
func PlotRuns(runs []string, opts PlotOptions) ([]string, error) {
	if len(runs) == 0 {
		return nil, fmt.Errorf("no runs to plot")
	}
	var curves []Curve
	for i, run := range runs {
		m, err := ReadMetricsFile(run)
		if err != nil {
			return nil, err
		}
		if m.CutLine > 0 && opts.Log != nil {
			fmt.Fprintf(opts.Log, "note: %s:%d: the last line was cut off (the run stopped while writing it); plotting the %d steps before it\n",
				m.Path, m.CutLine, len(m.Records))
		}
		recs := m.Records
		if len(recs) == 0 {
			return nil, fmt.Errorf("%s: metrics.jsonl has no steps", run)
		}
		name := filepath.Base(filepath.Clean(run))
		train := Curve{Name: name + " train", Color: i}
		val := Curve{Name: name + " val", Color: i, Dashed: true, Points: true}
		for _, r := range recs {
			train.X = append(train.X, float64(r.Step))
			train.Y = append(train.Y, r.Loss)
			if r.ValLoss != nil {
				val.X = append(val.X, float64(r.Step))
				val.Y = append(val.Y, *r.ValLoss)
			}
		}
		train.Y = Smooth(train.Y, opts.Smooth)
		curves = append(curves, train)
		if len(val.X) > 0 {
			curves = append(curves, val)
		}
	}
	title := opts.Title
	if title == "" {
		title = "training loss"
	}
	return PlotCurves(curves, CurveOptions{Out: opts.Out, Title: title, XLabel: "step", YLabel: "loss (nats/token)"})
}

// Smooth returns the exponential moving average of ys over about window
// points (α = 2/(window+1)); window ≤ 1 returns ys unchanged.
func Smooth(ys []float64, window int) []float64 {
	if window <= 1 {
		return ys
	}
	alpha := 2 / float64(window+1)
	out := make([]float64, len(ys))
	ema := math.NaN()
	for i, y := range ys {
		if math.IsNaN(ema) {
			ema = y
		} else {
			ema = alpha*y + (1-alpha)*ema
		}
		out[i] = ema
	}
	return out
}

// Curve is one line of a plot drawn by PlotCurves.
type Curve struct {
	// Name is the legend entry.
	Name string
	// X and Y are the points, of equal length.
	X, Y []float64
	// Color indexes the palette (plotutil.Color); curves of one run share
	// it.
	Color int
	// Dashed draws a dashed line; Points marks every point with a circle.
	Dashed, Points bool
}

// CurveOptions configure PlotCurves.
type CurveOptions struct {
	// Out is the output path without extension; Out.png and Out.svg are
	// written.
	Out string
	// Title, XLabel and YLabel label the plot and its axes.
	Title, XLabel, YLabel string
	// LogY draws the Y axis on a logarithmic scale (every Y must then be
	// positive; other points are left out).
	LogY bool
	// YMin and YMax, when YMax > YMin, widen the Y axis to show at least
	// that range.
	YMin, YMax float64
	// LegendLeft puts the legend in the top left corner instead of the
	// top right.
	LegendLeft bool
}

// PlotCurves draws curves into one plot with a legend and writes
// opts.Out+".png" and opts.Out+".svg" (8 × 5 inches). It returns the
// written paths.
func PlotCurves(curves []Curve, opts CurveOptions) ([]string, error) {
	if len(curves) == 0 {
		return nil, fmt.Errorf("no curves to plot")
	}
	p := plot.New()
	p.Title.Text = opts.Title
	p.X.Label.Text = opts.XLabel
	p.Y.Label.Text = opts.YLabel
	p.Legend.Top = true
	p.Legend.Left = opts.LegendLeft
	if opts.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	for _, c := range curves {
		var xys plotter.XYs
		for i := range c.X {
			if i < len(c.Y) && (!opts.LogY || c.Y[i] > 0) {
				xys = append(xys, plotter.XY{X: c.X[i], Y: c.Y[i]})
			}
		}
		if len(xys) == 0 {
			continue
		}
		col := plotutil.Color(c.Color)
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		l.Color, pts.Color = col, col
		l.Width = vg.Points(1.2)
		if c.Dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		if c.Points {
			pts.Shape = draw.CircleGlyph{}
			pts.Radius = vg.Points(2)
			p.Add(l, pts)
			p.Legend.Add(c.Name, l, pts)
		} else {
			p.Add(l)
			p.Legend.Add(c.Name, l)
		}
	}
	if opts.YMax > opts.YMin {
		p.Y.Min, p.Y.Max = math.Min(p.Y.Min, opts.YMin), math.Max(p.Y.Max, opts.YMax)
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
