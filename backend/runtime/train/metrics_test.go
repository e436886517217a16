package train

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadMetricsCutLastLine: a last line cut off by a crash (with or
// without its newline) is left out and reported; a bad line before the
// last is an error naming it.
func TestReadMetricsCutLastLine(t *testing.T) {
	const good = `{"step":1,"loss":5,"lr":0.1,"grad_norm":1,"ms":1,"tok_s":1}` + "\n" +
		`{"step":2,"loss":4,"lr":0.1,"grad_norm":1,"ms":1,"tok_s":1}` + "\n"
	for _, c := range []struct {
		name, text string
		steps, cut int
		err        string
	}{
		{"clean", good, 2, 0, ""},
		{"cut without newline", good + `{"step":3,"lo`, 2, 3, ""},
		{"cut with newline", good + `{"step":3,"lo` + "\n\n", 2, 3, ""},
		{"bad line inside", `{"step":1,"lo` + "\n" + good, 0, 0, "metrics.jsonl:1: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, MetricsFile), []byte(c.text), 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := ReadMetricsFile(dir)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Records) != c.steps || m.CutLine != c.cut {
				t.Errorf("%d records, cut line %d; want %d and %d", len(m.Records), m.CutLine, c.steps, c.cut)
			}
			if recs, err := ReadMetrics(dir); err != nil || len(recs) != c.steps {
				t.Errorf("ReadMetrics: %d records, %v", len(recs), err)
			}
		})
	}
}
