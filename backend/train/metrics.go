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
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var keep bytes.Buffer
	for _, ln := range bytes.SplitAfter(b, []byte("\n")) {
		var r struct {
			Step int `json:"step"`
		}
		if len(bytes.TrimSpace(ln)) == 0 || json.Unmarshal(ln, &r) != nil || r.Step > step {
			continue
		}
		keep.Write(ln)
		if !bytes.HasSuffix(ln, []byte("\n")) {
			keep.WriteByte('\n')
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, keep.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
