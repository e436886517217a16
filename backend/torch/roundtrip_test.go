package torch_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/backend/runtime/train"
	"github.com/mhcc/mhcc/backend/torch"
	"github.com/mhcc/mhcc/internal/testmodels"
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// roundTripModel is small.mhc (byte-level, width 16, one layer, context
// 8, batch 2) with the residual statement res, 4 steps with a checkpoint
// and an evaluation every 2.
func roundTripModel(t *testing.T, res string) (*lang.Program, *ir.Module, []byte) {
	t.Helper()
	src := testmodels.Small("steps 4", "checkpoint every=2", "eval every=2 batches=2")
	return compileSource(t, "small.mhc", testmodels.Replace(src, "  residual streams=2 constraint=birkhoff sinkhorn=5\n", "  "+res+"\n"))
}

// textFile writes a deterministic byte text of n bytes.
func textFile(t *testing.T, dir string, n int) string {
	t.Helper()
	words := strings.Fields("the of hyper connection stream mixes residual doubly stochastic matrix sinkhorn layer norm attention head token")
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		b.WriteString(words[(i*7+i/5)%len(words)])
		b.WriteByte(" \n,."[(i*3)%4])
	}
	path := filepath.Join(dir, "data.txt")
	if err := os.WriteFile(path, []byte(b.String()[:n]), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// emitPackage writes the torch package of the program into dir.
func emitPackage(t *testing.T, p *lang.Program, m *ir.Module, src []byte, dir string) {
	t.Helper()
	pk, err := torch.Emit(p, m, src, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := pk.Write(dir); err != nil {
		t.Fatal(err)
	}
}

// python runs the interpreter with args in dir and returns its output.
func python(t *testing.T, py, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(py, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", py, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// metrics reads a run folder's metrics.jsonl by step.
func metrics(t *testing.T, dir string) map[int]train.Record {
	t.Helper()
	recs, err := train.ReadMetrics(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]train.Record{}
	for _, r := range recs {
		out[r.Step] = r
	}
	return out
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func near(a, b, rel float64) bool { return math.Abs(a-b) <= rel*math.Max(math.Abs(b), 1e-12) }

// TestRoundTrips, for an mHC, an HC and a plain model: a checkpoint of
// ./train (train.Run) evaluates in train.py eval to the loss ./train
// logged for it and resumes in train.py, whose next loss is ./train's
// (same weights, same batch); a checkpoint of train.py evaluates in mhcc
// eval (train.Evaluate) to the loss train.py logged, samples with mhcc
// sample (train.Sample) and resumes in ./train, whose next loss is
// train.py's. Equal losses: relative 1e-5; after one more optimizer step
// in the other runtime: 1e-4.
func TestRoundTrips(t *testing.T) {
	py := requireTorch(t)
	for _, c := range []struct{ name, res string }{
		{"mhc", "residual streams=2 constraint=birkhoff sinkhorn=5"},
		{"hc", "residual streams=2 constraint=none"},
		{"plain", "residual plain"},
	} {
		res := c.res
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p, m, src := roundTripModel(t, res)
			data := textFile(t, dir, 6000)
			pkg := filepath.Join(dir, "pkg")
			emitPackage(t, p, m, src, pkg)
			run := func(out string, resume bool) map[int]train.Record {
				_, err := train.Run(p, m, train.Options{DataPath: data, OutDir: out, Resume: resume, Log: io.Discard})
				if err != nil {
					t.Fatal(err)
				}
				return metrics(t, out)
			}

			// ./train → train.py
			goRun := filepath.Join(dir, "go")
			goM := run(goRun, false)
			var ev struct{ Loss float64 }
			out := python(t, py, pkg, "train.py", "eval", "--ckpt", filepath.Join(goRun, "ckpt-000004"), "--data", data,
				"--split", "val", "--windows", "4", "--json")
			if err := json.Unmarshal([]byte(out), &ev); err != nil {
				t.Fatalf("train.py eval: %v\n%s", err, out)
			}
			if want := *goM[4].ValLoss; !near(ev.Loss, want, 1e-5) {
				t.Errorf("train.py eval of ./train's checkpoint: loss %.9g, ./train logged %.9g", ev.Loss, want)
			}
			pyResume := filepath.Join(dir, "py-resume")
			copyDir(t, filepath.Join(goRun, "ckpt-000002"), filepath.Join(pyResume, "ckpt-000002"))
			python(t, py, pkg, "train.py", "--resume", "--out", pyResume, "--data", data)
			pyR := metrics(t, pyResume)
			if len(pyR) != 2 || !near(pyR[3].Loss, goM[3].Loss, 1e-5) || !near(pyR[4].Loss, goM[4].Loss, 1e-4) {
				t.Errorf("train.py resumed from ./train's step 2: losses %v %v, ./train %v %v", pyR[3].Loss, pyR[4].Loss, goM[3].Loss, goM[4].Loss)
			}

			// train.py → ./train
			pyRun := filepath.Join(dir, "py")
			python(t, py, pkg, "train.py", "--out", pyRun, "--data", data)
			pyM := metrics(t, pyRun)
			e, err := train.Evaluate(p, m, train.EvalOptions{Checkpoint: pyRun, Data: train.DataSpec{Path: data}, Split: "val", Windows: 4})
			if err != nil {
				t.Fatalf("mhcc eval of train.py's checkpoint: %v", err)
			}
			if e.Step != 4 || !near(e.Loss, *pyM[4].ValLoss, 1e-5) {
				t.Errorf("mhcc eval of train.py's checkpoint (step %d): loss %.9g, train.py logged %.9g", e.Step, e.Loss, *pyM[4].ValLoss)
			}
			var toks bytes.Buffer
			if _, err := train.Sample(p, train.SampleOptions{Checkpoint: pyRun, Tokens: 5, Emit: func(int) { toks.WriteByte('.') }}); err != nil || toks.Len() != 5 {
				t.Errorf("mhcc sample of train.py's checkpoint: %v (%d tokens)", err, toks.Len())
			}
			goResume := filepath.Join(dir, "go-resume")
			copyDir(t, filepath.Join(pyRun, "ckpt-000002"), filepath.Join(goResume, "ckpt-000002"))
			goR := run(goResume, true)
			if !near(goR[3].Loss, pyM[3].Loss, 1e-5) || !near(goR[4].Loss, pyM[4].Loss, 1e-4) {
				t.Errorf("./train resumed from train.py's step 2: losses %v %v, train.py %v %v", goR[3].Loss, goR[4].Loss, pyM[3].Loss, pyM[4].Loss)
			}
			t.Logf("./train %v; train.py resumed %v | train.py %v; ./train resumed %v", fmt.Sprint(goM[3].Loss, goM[4].Loss),
				fmt.Sprint(pyR[3].Loss, pyR[4].Loss), fmt.Sprint(pyM[3].Loss, pyM[4].Loss), fmt.Sprint(goR[3].Loss, goR[4].Loss))
		})
	}
}
