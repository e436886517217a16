package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// MetricsFile is the per-step log in the run folder, one JSON object per
// line.
const MetricsFile = "metrics.jsonl"

// Record is one line of metrics.jsonl.
type Record struct {
	Step     int      `json:"step"`
	Loss     float64  `json:"loss"`
	LR       float64  `json:"lr"`
	GradNorm float64  `json:"grad_norm"`
	Ms       float64  `json:"ms"`
	TokS     float64  `json:"tok_s"`
	ValLoss  *float64 `json:"val_loss,omitempty"`

	// The hyper-connection diagnostics (diagnostics.go), present on the
	// steps that compute them (`diagnostics every=N`: step 1, every N-th
	// step and the last) and absent for a plain residual. The lists have
	// one entry per sublayer k = 0, 1, ...
	GainFwd          []float64 `json:"gain_fwd,omitempty"`           // Amax forward gain (max |row sum|) of H_res, mean over tokens
	GainBwd          []float64 `json:"gain_bwd,omitempty"`           // Amax backward gain (max |column sum|) of H_res, mean over tokens
	CompositeGainFwd *float64  `json:"composite_gain_fwd,omitempty"` // the same for H_res^(L−1)···H_res^(0)
	CompositeGainBwd *float64  `json:"composite_gain_bwd,omitempty"`
	HPreMean         []float64 `json:"hpre_mean,omitempty"`        // mean of H_pre over tokens and streams
	HPostMean        []float64 `json:"hpost_mean,omitempty"`       // mean of H_post over tokens and streams
	SinkhornRowErr   *float64  `json:"sinkhorn_row_err,omitempty"` // birkhoff: max |row sum − 1| over sublayers and tokens
	SinkhornColErr   *float64  `json:"sinkhorn_col_err,omitempty"` // birkhoff: max |column sum − 1|

	// The mixture-of-experts statistics (moe.go), every step of a model
	// with `moe` sublayers, one entry per sublayer in block order: the
	// load of the busiest and of the idlest expert relative to the mean
	// load (1 and 1 when balanced), over the step's tokens. There is no
	// capacity limit, so no token is ever dropped.
	MoEMaxLoad []float64 `json:"moe_max_load,omitempty"`
	MoEMinLoad []float64 `json:"moe_min_load,omitempty"`
	// AuxLoss is the step's auxiliary balance loss (balance=aux), which
	// the optimised objective adds to Loss (the cross-entropy).
	AuxLoss *float64 `json:"aux_loss,omitempty"`
}

// ReadMetrics reads a run's metrics.jsonl (path is the run folder or the
// file itself). A last line that a crash cut off (not valid JSON) is left
// out; use ReadMetricsFile to learn about it. Other malformed lines are
// errors naming their line.
func ReadMetrics(path string) ([]Record, error) {
	m, err := ReadMetricsFile(path)
	if err != nil {
		return nil, err
	}
	return m.Records, nil
}

// Metrics is a run's metrics.jsonl as read.
type Metrics struct {
	// Path is the file.
	Path    string
	Records []Record
	// CutLine is the number of the last line when a crash cut it off
	// (it is not valid JSON) and it was left out; 0 when the file ends
	// cleanly.
	CutLine int
}

// ReadMetricsFile reads a run's metrics.jsonl (path is the run folder or
// the file itself), leaving out a last line that a crash cut off.
func ReadMetricsFile(path string) (*Metrics, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, MetricsFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such file (is it a run folder?)", path)
		}
		return nil, err
	}
	m := &Metrics{Path: path}
	lines := bytes.Split(b, []byte("\n"))
	last := len(lines) - 1
	for last >= 0 && len(bytes.TrimSpace(lines[last])) == 0 {
		last--
	}
	for i, ln := range lines[:last+1] {
		if len(bytes.TrimSpace(ln)) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(ln, &r); err != nil {
			if i == last {
				m.CutLine = i + 1
				break
			}
			return nil, fmt.Errorf("%s:%d: %v", path, i+1, err)
		}
		m.Records = append(m.Records, r)
	}
	return m, nil
}

// truncateMetrics rewrites the metrics file keeping only the lines of
// steps ≤ step (a resumed run redoes the later ones), atomically.
func truncateMetrics(path string, step int) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	head, _, err := splitMetrics(path, step)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, head, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
