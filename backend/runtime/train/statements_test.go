package train

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/backend/runtime/checkpoint"
	"github.com/mhcc/mhcc/internal/testmodels"
)

// TestProgramSettingsDriveTheRun checks that the train block's checkpoint,
// optimizer, schedule and data statements set the run, and that Options
// override them (SetZero for an explicit 0).
func TestProgramSettingsDriveTheRun(t *testing.T) {
	text := textFile(t)
	prog := fmt.Sprintf(`eval every=0
  data file=%q sampling=sequential
  optimizer sgd lr=0.05 momentum=0.9 weight_decay=0 accumulate=2
  schedule step milestones=[0.5] factors=[0.25]
  checkpoint every=2 keep=1`, text)
	p, m := compile(t, testmodels.Small(prog))
	dir := t.TempDir()
	_, log := mustRun(t, p, m, Options{Steps: 5, OutDir: dir})
	for _, want := range []string{
		"  data       text " + fmt.Sprintf("%q", text) + ", sampling sequential\n",
		"  batch      2 × 8 tokens × 2 accumulated micro-batches\n",
		"  optimizer  sgd lr 5.0e-02 momentum 0.9 weight_decay 0 clip 1\n",
		"  schedule   step warmup 0, ×0.25 at 50%\n",
		"  checkpoint every 2 steps, at the end and on interrupt; keep 1\n",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("header lacks %q:\n%s", want, log)
		}
	}
	recs, err := ReadMetrics(dir)
	if err != nil {
		t.Fatal(err)
	}
	if recs[1].LR != 0.05 || recs[2].LR != 0.0125 {
		t.Errorf("step schedule: lr %v, %v, want 0.05, 0.0125", recs[1].LR, recs[2].LR)
	}
	var kept []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			kept = append(kept, e.Name())
		}
	}
	if !slices.Equal(kept, []string{checkpoint.Name(5)}) {
		t.Errorf("checkpoints kept: %v, want only the newest", kept)
	}

	// The flags' values override the program's.
	dir2 := t.TempDir()
	_, log = mustRun(t, p, m, Options{Steps: 5, OutDir: dir2, CheckpointEvery: SetZero, Keep: SetZero, Momentum: SetZero,
		Accumulate: 1, Sampling: "random", Schedule: "constant"})
	for _, want := range []string{
		", sampling random\n", "  batch      2 × 8 tokens\n", " momentum 0 ", "  schedule   constant warmup 0\n",
		"  checkpoint at the end and on interrupt\n",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("overridden header lacks %q:\n%s", want, log)
		}
	}

	// `accumulate=` in the program trains exactly like Options.Accumulate.
	q, qm := compile(t, testmodels.Small(fmt.Sprintf("eval every=0\n  data file=%q\n  optimizer sgd lr=0.05", text)))
	a, b := t.TempDir(), t.TempDir()
	mustRun(t, q, qm, Options{Steps: 3, OutDir: a, Accumulate: 2})
	r, rm := compile(t, testmodels.Small(fmt.Sprintf("eval every=0\n  data file=%q\n  optimizer sgd lr=0.05 accumulate=2", text)))
	mustRun(t, r, rm, Options{Steps: 3, OutDir: b})
	if la, lb := losses(t, a), losses(t, b); !slices.Equal(la, lb) {
		t.Errorf("accumulate=2 in the program %v, as an option %v", lb, la)
	}
}

// TestProgramDataFormat checks that `format=` and `vocab=` of the data
// statement reach the data source, also when a file replaces the
// program's, and that Options override them.
func TestProgramDataFormat(t *testing.T) {
	toks := make([]byte, 0, 4000)
	for i := 0; i < 2000; i++ {
		v := uint16((i*37 + i/7) % 200)
		toks = append(toks, byte(v), byte(v>>8))
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "tokens.dat") // not .bin: the format comes from the program
	if err := os.WriteFile(bin, toks, 0o644); err != nil {
		t.Fatal(err)
	}
	p, m := compile(t, testmodels.Small(fmt.Sprintf("eval every=0\n  data file=%q format=bin vocab=200", bin)))
	res, _ := mustRun(t, p, m, Options{Steps: 1, OutDir: t.TempDir()})
	if !strings.Contains(res.DataName, "uint16, vocab 200") {
		t.Errorf("format=bin vocab=200: data %s", res.DataName)
	}
	res, _ = mustRun(t, p, m, Options{Steps: 1, OutDir: t.TempDir(), DataFormat: "text"})
	if !strings.HasPrefix(res.DataName, "text ") {
		t.Errorf("--data-format text: data %s", res.DataName)
	}
	_, err := Run(p, m, Options{Steps: 1, OutDir: t.TempDir(), Vocab: 100})
	if err == nil || !strings.Contains(err.Error(), "outside the declared vocabulary of 100") {
		t.Errorf("--vocab 100: %v", err)
	}
	// A file given instead of the program's keeps its format and vocab.
	other := filepath.Join(tmp, "other.dat")
	if err := os.WriteFile(other, toks, 0o644); err != nil {
		t.Fatal(err)
	}
	res, _ = mustRun(t, p, m, Options{Steps: 1, OutDir: t.TempDir(), DataPath: other})
	if !strings.Contains(res.DataName, "other.dat") || !strings.Contains(res.DataName, "uint16, vocab 200") {
		t.Errorf("--data other.dat: data %s", res.DataName)
	}
}
