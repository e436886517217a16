package train

import (
	"bufio"
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
}

// ReadMetrics reads a run's metrics.jsonl (path is the run folder or the
// file itself). Malformed lines are reported with their line number.
func ReadMetrics(path string) ([]Record, error) {
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
	var out []Record
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
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
