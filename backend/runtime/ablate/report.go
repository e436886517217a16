package ablate

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mhcc/mhcc/backend/runtime/train"
)

// Report is the comparison Run produces: one Row per file, in the order
// given.
type Report struct {
	// Steps is every run's training budget; Seeds the seeds every file was
	// trained with.
	Steps int     `json:"steps"`
	Seeds []int64 `json:"seeds"`
	// Data names the data source of the runs.
	Data   string    `json:"data"`
	Spikes SpikeRule `json:"spike_rule"`
	Rows   []Row     `json:"models"`
	// Plots are the written plot files, relative to the output folder.
	Plots []string `json:"plots,omitempty"`
}

// Files written into the output folder.
const (
	MarkdownFile = "ablation.md"
	JSONFile     = "ablation.json"
)

// finish computes what compares rows with the first file: the step-time
// ratios and the paired differences of the final validation loss.
func (r *Report) finish() {
	base := r.Rows[0]
	baseVal := map[int64]float64{}
	for _, run := range base.Runs {
		if run.FinalVal != nil && run.DivergedAt == 0 {
			baseVal[run.Seed] = *run.FinalVal
		}
	}
	for i := range r.Rows {
		w := &r.Rows[i]
		w.StepTimeRatio = math.NaN()
		if b := base.MsPerStep; b.N > 0 && b.Mean > 0 && w.MsPerStep.N > 0 {
			w.StepTimeRatio = w.MsPerStep.Mean / b.Mean
		}
		w.DeltaVal = Stat{}
		if i == 0 {
			continue
		}
		var deltas []float64
		for _, run := range w.Runs {
			if v, ok := baseVal[run.Seed]; ok && run.FinalVal != nil && run.DivergedAt == 0 {
				deltas = append(deltas, *run.FinalVal-v)
			}
		}
		w.DeltaVal = statOf(deltas)
	}
}

// Write writes the report as ablation.md (the table with timings) and
// ablation.json into dir.
func (r *Report) Write(dir string) error {
	if err := writeFile(filepath.Join(dir, MarkdownFile), []byte("# mhcc ablate\n\n"+r.Markdown(true))); err != nil {
		return err
	}
	b, err := r.JSON()
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, JSONFile), b)
}

// JSON returns the report as indented JSON: every statistic as
// {"mean", "std", "n"} (null when not measured) and every run.
func (r *Report) JSON() ([]byte, error) {
	type row struct {
		Row
		StepTimeRatio *float64 `json:"step_time_ratio"`
	}
	out := struct {
		Report
		Rows []row `json:"models"`
	}{Report: *r}
	for _, w := range r.Rows {
		x := row{Row: w}
		x.Runs = append([]RunStats(nil), w.Runs...)
		if finite(w.StepTimeRatio) {
			x.StepTimeRatio = ptr(w.StepTimeRatio)
		}
		for i := range x.Runs {
			run := &x.Runs[i]
			if !finite(run.MsPerStep) {
				run.MsPerStep, run.TokensPerS = 0, 0
			}
		}
		out.Rows = append(out.Rows, x)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Markdown renders the comparison: a line on the setup, the table, and a
// legend that defines every column. timing adds the tokens/s and step-time
// columns, which vary from run to run (golden tests leave them out).
//
// Columns: model file, residual, final and best validation loss, loss
// spikes, max gradient norm, max composite forward and backward gain,
// parameters, [tokens/s, step time vs the first file]. A statistic over
// several seeds is written mean ± sample standard deviation; `-` marks a
// value that was not measured.
func (r *Report) Markdown(timing bool) string {
	var b strings.Builder
	seeds := make([]string, len(r.Seeds))
	for i, s := range r.Seeds {
		seeds[i] = fmt.Sprint(s)
	}
	what := "seed"
	if len(r.Seeds) > 1 {
		what = "seeds"
	}
	fmt.Fprintf(&b, "%d steps per run, %s %s, data %s.", r.Steps, what, strings.Join(seeds, ", "), r.Data)
	if len(r.Seeds) > 1 {
		b.WriteString(" Values are mean ± standard deviation over the seeds.")
	}
	b.WriteString("\n\n")

	head := []string{"model", "residual", "final val", "Δ val", "best val", "spikes", "max gnorm", "max gain fwd", "max gain bwd", "params"}
	experts := slices.ContainsFunc(r.Rows, func(w Row) bool { return w.MaxLoad != nil })
	if experts {
		head = append(head, "max load")
	}
	if timing {
		head = append(head, "tok/s", "step time")
	}
	rows := [][]string{head}
	for _, w := range r.Rows {
		final := loss(w.FinalVal)
		if w.Diverged > 0 {
			if w.Diverged == len(w.Runs) {
				final = "diverged"
			} else {
				final += fmt.Sprintf(" (%d/%d diverged)", w.Diverged, len(w.Runs))
			}
		}
		delta := "-"
		if w.DeltaVal.N > 0 {
			delta = fmt.Sprintf("%+.4f", w.DeltaVal.Mean)
			if w.DeltaVal.N > 1 {
				delta += fmt.Sprintf(" ± %.4f", w.DeltaVal.Std)
			}
			if w.DeltaVal.significant() {
				delta += " *"
			}
		}
		cells := []string{w.File, w.Residual, final, delta, loss(w.BestVal), count(w.Spikes),
			general(w.MaxGradNorm), general(w.MaxGainFwd), general(w.MaxGainBwd), fmt.Sprint(w.Params)}
		if experts {
			load := "-"
			if w.MaxLoad != nil {
				load = stat(*w.MaxLoad, "%.2f×")
			}
			cells = append(cells, load)
		}
		if timing {
			ratio := "-"
			if finite(w.StepTimeRatio) {
				ratio = fmt.Sprintf("%.2f×", w.StepTimeRatio)
			}
			cells = append(cells, rate(w.TokensPerS), ratio)
		}
		rows = append(rows, cells)
	}
	writeTable(&b, rows, 2)

	b.WriteString("\n")
	legend := []string{
		"final val, best val: validation loss (nats/token) at the last step, and the lowest measured",
		"Δ val: final val minus the first file's, paired by seed (runs of one seed train on the same batches), mean ± standard deviation over the seeds; * marks a difference larger than twice its standard error (std/√seeds), i.e. beyond seed noise; with one seed there is no spread to compare with",
		"spikes: " + r.Spikes.String(),
		"max gnorm: the largest global gradient norm, before clipping",
		"max gain fwd, bwd: the largest composite Amax gain of the residual mixing measured during training (the product of every sublayer's H_res; forward = max absolute row sum, backward = max absolute column sum; docs/hyperconnections.md §5); `-` when not measured, as for the plain residual",
		"params: trainable parameters",
	}
	if experts {
		legend = append(legend, "max load: mixtures of experts: the busiest expert's share of the routed tokens relative to the mean share (1.00× is balanced; the largest over the MoE sublayers, averaged over the last 10 steps); no capacity limit, so no token is dropped; `-` for a model without experts")
	}
	if timing {
		legend = append(legend, "tok/s: training tokens per second; step time: mean time per step relative to the first file")
	}
	for _, l := range legend {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	return b.String()
}

// writeTable writes rows (the first is the header) as a Markdown table
// with padded columns; columns from the first right-aligned one on are
// right-aligned.
func writeTable(b *strings.Builder, rows [][]string, firstRight int) {
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)), 3)
		}
	}
	line := func(cells []string) {
		b.WriteString("|")
		for i, c := range cells {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i >= firstRight {
				fmt.Fprintf(b, " %s%s |", pad, c)
			} else {
				fmt.Fprintf(b, " %s%s |", c, pad)
			}
		}
		b.WriteString("\n")
	}
	line(rows[0])
	b.WriteString("|")
	for i, w := range width {
		if i >= firstRight {
			fmt.Fprintf(b, " %s: |", strings.Repeat("-", w-1))
		} else {
			fmt.Fprintf(b, " %s |", strings.Repeat("-", w))
		}
	}
	b.WriteString("\n")
	for _, r := range rows[1:] {
		line(r)
	}
}

// loss formats a loss statistic: 2.3456 or 2.3456 ± 0.0012.
func loss(s Stat) string { return stat(s, "%.4f") }

// count formats a count statistic: 3, or 1.5 ± 0.7 over seeds.
func count(s Stat) string {
	if s.N == 1 {
		return fmt.Sprintf("%.0f", s.Mean)
	}
	return stat(s, "%.1f")
}

// general formats a statistic with four significant digits in its mean
// (1.000, 12.35, 3142), and its spread to as many decimals.
func general(s Stat) string {
	if s.N == 0 || s.Mean == 0 || !finite(s.Mean) {
		return stat(s, "%.4g")
	}
	decimals := max(0, 3-int(math.Floor(math.Log10(math.Abs(s.Mean)))))
	return stat(s, fmt.Sprintf("%%.%df", decimals))
}

// rate formats a rate like 51.2k.
func rate(s Stat) string {
	if s.N == 0 {
		return "-"
	}
	return train.HumanCount(s.Mean)
}

func stat(s Stat, format string) string {
	if s.N == 0 {
		return "-"
	}
	out := fmt.Sprintf(format, s.Mean)
	if s.N > 1 {
		out += " ± " + fmt.Sprintf(format, s.Std)
	}
	return out
}

// writeFile writes data to path through a temporary file and a rename.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
