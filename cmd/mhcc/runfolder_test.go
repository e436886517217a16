package main

// The run folder, resume and checkpoint-use rules of the CLI
// (docs/runtime.md), each reproducing the failure a user met.

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/backend/runtime/checkpoint"
	"github.com/mhcc/mhcc/backend/runtime/optim"
	"github.com/mhcc/mhcc/backend/runtime/train"
	"github.com/mhcc/mhcc/lang"
)

// folderModel is a tiny model with a cosine schedule, checkpoints every 2
// steps, and the newest 2 kept.
const folderModel = `model m {
  vocab 32
  context 8
  embed dim=16
  residual streams=2 constraint=birkhoff sinkhorn=5
  repeat 1 {
    block attn { norm rms; attention heads=2 }
    block mlp { norm rms; mlp hidden=16 }
  }
}
train {
  batch 2
  steps 6
  optimizer adamw lr=3e-3
  schedule cosine warmup=1 min_lr=0.1
  checkpoint every=2 keep=2
  eval every=3 batches=1
  log every=1
}
`

// cli runs mhcc in-process and returns the exit code, stdout and stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	if s := out.String() + errb.String(); strings.Contains(s, "goroutine ") || strings.Contains(s, "panic") {
		t.Fatalf("mhcc %s shows a Go panic:\n%s", strings.Join(args, " "), s)
	}
	return code, out.String(), errb.String()
}

// mustRun runs mhcc and fails the test on a non-zero exit.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := cli(t, args...)
	if code != 0 {
		t.Fatalf("mhcc %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// refused runs mhcc, expects exit code want and returns stderr.
func refused(t *testing.T, want int, args ...string) string {
	t.Helper()
	code, out, errs := cli(t, args...)
	if code != want {
		t.Fatalf("mhcc %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errs)
	}
	return errs
}

// losses reads the per-step losses of a run folder's metrics.jsonl.
func losses(t *testing.T, path string) map[int]float64 {
	t.Helper()
	recs, err := train.ReadMetrics(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]float64{}
	for _, r := range recs {
		if _, dup := out[r.Step]; dup {
			t.Errorf("%s: step %d twice", path, r.Step)
		}
		out[r.Step] = r.Loss
	}
	return out
}

// snapshot lists every file below dir with its contents.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != ".lock" {
			b, _ := os.ReadFile(p)
			out[p] = string(b)
		}
		return nil
	})
	return out
}

func state(t *testing.T, dir string) checkpoint.State {
	t.Helper()
	st, err := checkpoint.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func writeModel(t *testing.T, src string) (dir, file string) {
	t.Helper()
	dir = t.TempDir()
	file = filepath.Join(dir, "m.mhc")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, file
}

// TestFreshRunRefusesUsedFolder: a fresh run in a folder holding another
// run deleted its own checkpoints as it wrote them (pruning kept the older
// run's higher steps) and a later --resume continued the other run. Now
// the folder is refused, untouched, unless --overwrite says to replace it.
func TestFreshRunRefusesUsedFolder(t *testing.T) {
	dir, m := writeModel(t, folderModel)
	R := filepath.Join(dir, "R")
	mustRun(t, "run", m, "--out", R)
	before := snapshot(t, R)
	first := state(t, filepath.Join(R, "ckpt-000006")).RunID

	errs := refused(t, exitUsage, "run", m, "--out", R, "--seed", "99", "--steps", "4")
	for _, want := range []string{"the run folder " + R + " holds another run (2 checkpoints ckpt-000004 … ckpt-000006, metrics.jsonl, summary.json)",
		"continue that run with --resume", "--out DIR", "--overwrite"} {
		if !strings.Contains(errs, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, errs)
		}
	}
	if after := snapshot(t, R); !maps.Equal(before, after) {
		t.Errorf("a refused run changed the folder")
	}

	out := mustRun(t, "run", m, "--out", R, "--seed", "99", "--steps", "4", "--overwrite")
	if !strings.Contains(out, "--overwrite: deleted the earlier run in "+R) {
		t.Errorf("--overwrite does not say what it deleted:\n%s", out)
	}
	es, _ := checkpoint.List(R)
	if len(es) != 2 || es[0].Step != 2 || es[1].Step != 4 {
		t.Errorf("checkpoints after --overwrite: %+v, want steps 2 and 4", es)
	}
	if id := state(t, es[1].Dir).RunID; id == "" || id == first {
		t.Errorf("the new run's ID %q, the old one's %q: want a fresh one", id, first)
	}
	if got := losses(t, R); len(got) != 4 {
		t.Errorf("metrics.jsonl after --overwrite holds steps %v, want 1–4 of the new run", got)
	}
	// The new run's resume continues the new run.
	out = mustRun(t, "run", m, "--out", R, "--seed", "99", "--steps", "4", "--resume")
	if !strings.Contains(out, "nothing to do") {
		t.Errorf("resuming the finished new run:\n%s", out)
	}
}

// TestResumeFromChosenCheckpoint: --resume=CKPT continues from an earlier
// checkpoint (later ones and their metrics move aside, never deleted) or
// forks another folder's checkpoint into --out; both continue exactly as
// the original run did.
func TestResumeFromChosenCheckpoint(t *testing.T) {
	dir, m := writeModel(t, folderModel)
	R, F := filepath.Join(dir, "R"), filepath.Join(dir, "F")
	mustRun(t, "run", m, "--out", R, "--keep", "0")
	orig := losses(t, R)

	// A fork into a new folder: R stays as it is.
	before := snapshot(t, R)
	out := mustRun(t, "run", m, "--out", F, "--resume="+filepath.Join(R, "ckpt-000002"), "--keep", "0")
	if !strings.Contains(out, "forking "+filepath.Join(R, "ckpt-000002")+" into the new run folder "+F) {
		t.Errorf("the fork is not announced:\n%s", out)
	}
	if !maps.Equal(before, snapshot(t, R)) {
		t.Errorf("forking changed the folder forked from")
	}
	if got := losses(t, F); !maps.Equal(got, orig) {
		t.Errorf("the fork's losses %v, the original's %v", got, orig)
	}
	st := state(t, filepath.Join(F, "ckpt-000006"))
	if st.RunID == state(t, filepath.Join(R, "ckpt-000006")).RunID {
		t.Errorf("a fork kept the ID of the run it forked from")
	}
	if !slices.Contains(st.History, "step 2: forked from "+filepath.Join(R, "ckpt-000002")) {
		t.Errorf("history %q lacks the fork", st.History)
	}

	// In place from step 2 (by step number): 4 and 6 move aside.
	out = mustRun(t, "run", m, "--out", R, "--resume=2", "--keep", "0")
	aside := filepath.Join(R, "abandoned-from-ckpt-000002")
	if !strings.Contains(out, "moved to "+aside) {
		t.Errorf("the move is not announced:\n%s", out)
	}
	for _, name := range []string{"ckpt-000004", "ckpt-000006"} {
		if _, err := checkpoint.ReadState(filepath.Join(aside, name)); err != nil {
			t.Errorf("%s was not kept aside: %v", name, err)
		}
	}
	tail := losses(t, filepath.Join(aside, train.MetricsFile))
	if len(tail) != 4 || tail[3] != orig[3] || tail[6] != orig[6] {
		t.Errorf("the metrics set aside: %v, want steps 3–6 of %v", tail, orig)
	}
	if got := losses(t, R); !maps.Equal(got, orig) {
		t.Errorf("the branch's losses %v, the original's %v", got, orig)
	}
	// Its name may also be a folder name; a bare --resume followed by a
	// checkpoint as a separate word gets the spelling that works.
	if out := mustRun(t, "run", m, "--out", R, "--resume=ckpt-000006", "--keep", "0"); !strings.Contains(out, "nothing to do") {
		t.Errorf("--resume=ckpt-000006:\n%s", out)
	}
	errs := refused(t, exitUsage, "run", m, "--out", R, "--resume", "ckpt-000004")
	if !strings.Contains(errs, "--resume takes its checkpoint after '=': --resume=ckpt-000004") {
		t.Errorf("bare --resume CKPT: %s", errs)
	}
	errs = refused(t, exitUsage, "run", m, "--out", R, "--resume=9")
	if !strings.Contains(errs, "--resume=9: no checkpoint at "+filepath.Join(R, "ckpt-000009")) ||
		!strings.Contains(errs, "ckpt-000002, ckpt-000004, ckpt-000006") {
		t.Errorf("--resume=9: %s", errs)
	}
	errs = refused(t, exitUsage, "run", m, "--out", R, "--resume=2", "--overwrite")
	if !strings.Contains(errs, "--overwrite would delete the run that --resume") {
		t.Errorf("--resume with --overwrite in place: %s", errs)
	}
	errs = refused(t, exitUsage, "run", m, "--out", R, "--resume=4", "--skip-batches", "3")
	if !strings.Contains(errs, "--skip-batches 3: the checkpoint at step 4 has drawn the batches of steps 1–4 already") {
		t.Errorf("skipping a past batch: %s", errs)
	}
	// A fork into a used folder is refused like a fresh run.
	errs = refused(t, exitUsage, "run", m, "--out", F, "--resume="+filepath.Join(R, "ckpt-000004"))
	if !strings.Contains(errs, "the run folder "+F+" holds another run") {
		t.Errorf("fork into a used folder: %s", errs)
	}
}

// TestResumeReportsChangedSettings: --resume with other settings used to
// change the run silently (steps 30 → 60 made the cosine schedule's lr
// jump). Every change is printed with what it does; changes of the
// trajectory need --allow-changes and are recorded; impossible ones are
// refused.
func TestResumeReportsChangedSettings(t *testing.T) {
	dir, m := writeModel(t, folderModel)
	R := filepath.Join(dir, "R")
	mustRun(t, "run", m, "--out", R)

	// The learning rates the message must give, from the schedules.
	old := optim.Cosine{Base: 3e-3, MinFrac: 0.1, Warmup: 1, Total: 6}.LR(6)
	new := optim.Cosine{Base: 3e-3, MinFrac: 0.1, Warmup: 1, Total: 12}.LR(6)
	errs := refused(t, exitUsage, "run", m, "--out", R, "--resume", "--steps", "12")
	want := fmt.Sprintf("train.steps 6 → 12: the run now ends at step 12, which reshapes a schedule that depends on the run's length: the learning rate at step 6 was %.2e, the new schedule gives %.2e", old, new)
	if !strings.Contains(errs, want) || !strings.Contains(errs, "pass --allow-changes") {
		t.Errorf("stretching the schedule:\n%s\nwant %q", errs, want)
	}
	errs = refused(t, exitUsage, "run", m, "--out", R, "--resume", "--set", "train.optimizer.lr=1e-3", "--optimizer", "sgd", "--allow-changes")
	for _, want := range []string{"train.optimizer adamw → sgd: the checkpoint holds the state of adamw; sgd cannot continue from it",
		"train.optimizer.lr 0.003 → 0.001: changes the learning-rate schedule", "train.optimizer cannot change in a resumed run"} {
		if !strings.Contains(errs, want) {
			t.Errorf("lr and optimizer changes: lacks %q:\n%s", want, errs)
		}
	}
	// The seed is not a change of the run: noted, the checkpoint's kept.
	if out := mustRun(t, "run", m, "--out", R, "--resume", "--seed", "5"); !strings.Contains(out, "continuing with the checkpoint's seed 1337") {
		t.Errorf("--seed on resume:\n%s", out)
	}
	out := mustRun(t, "run", m, "--out", R, "--resume", "--steps", "8", "--set", "train.optimizer.lr=1e-3", "--allow-changes")
	if !strings.Contains(out, "resuming with changed settings:\n  train.optimizer.lr 0.003 → 0.001") {
		t.Errorf("--allow-changes does not list the changes:\n%s", out)
	}
	st := state(t, filepath.Join(R, "ckpt-000008"))
	if !slices.Contains(st.History, "step 6: train.optimizer.lr 0.003 → 0.001") || !slices.Contains(st.History, "step 6: train.steps 6 → 8") {
		t.Errorf("history %q lacks the changes", st.History)
	}
	if st.Settings["train.optimizer.lr"] != "0.001" || st.Settings["train.steps"] != "8" {
		t.Errorf("the checkpoint records settings %v, want the new ones", st.Settings)
	}

	// A schedule that does not depend on the length: more steps are fine.
	_, c := writeModel(t, strings.Replace(folderModel, "schedule cosine warmup=1 min_lr=0.1", "schedule constant", 1))
	C := filepath.Join(dir, "C")
	mustRun(t, "run", c, "--out", C)
	out = mustRun(t, "run", c, "--out", C, "--resume", "--steps", "8")
	if !strings.Contains(out, fmt.Sprintf("train.steps 6 → 8: the run now ends at step 8; the learning rate at step 6 stays %.2e", 3e-3)) {
		t.Errorf("a longer constant schedule:\n%s", out)
	}
}

// TestCheckpointsWithNonFiniteWeightsAreRefused: eval printed "loss NaN"
// and exited 0 for a checkpoint holding NaN weights. eval, sample and
// --resume refuse it, naming the tensor.
func TestCheckpointsWithNonFiniteWeightsAreRefused(t *testing.T) {
	dir, m := writeModel(t, folderModel)
	R, bad := filepath.Join(dir, "R"), filepath.Join(dir, "bad")
	mustRun(t, "run", m, "--out", R, "--steps", "2")
	ck, err := checkpoint.Load(filepath.Join(R, "ckpt-000002"), checkpoint.Expect{Model: expectOf(t, m).Model, Optimizer: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &checkpoint.Contents{ModelMeta: ck.Model.Metadata, OptimizerMeta: ck.Optimizer.Metadata, State: ck.State}
	for i, tn := range ck.Model.Tensors {
		v := make([]float32, tn.NumElements())
		if err := tn.Float32s(v); err != nil {
			t.Fatal(err)
		}
		if tn.Name == "blocks.0.attn.wq" {
			v[3], v[5] = float32(math.NaN()), float32(math.Inf(1))
		}
		c.Model = append(c.Model, checkpoint.F32Tensor(tn.Name, ck.Model.Tensors[i].Shape, v))
	}
	c.Optimizer = append(c.Optimizer, ck.Optimizer.Tensors...) // as they are (F32 moments)
	os.MkdirAll(bad, 0o755)
	if _, err := checkpoint.Save(bad, c); err != nil {
		t.Fatal(err)
	}
	want := "tensor blocks.0.attn.wq holds 2 non-finite values (NaN or ±Inf) among its 256"
	for _, args := range [][]string{
		{"eval", m, "--ckpt", bad},
		{"sample", m, "--ckpt", bad, "--tokens", "3"},
		{"run", m, "--out", bad, "--resume", "--steps", "2"},
	} {
		if errs := refused(t, exitRuntime, args...); !strings.Contains(errs, want) {
			t.Errorf("mhcc %s: %s", args[0], errs)
		}
	}
}

// expectOf compiles the model file and returns its checkpoint tensors.
func expectOf(t *testing.T, file string) checkpoint.Expect {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	res, err := compileSource(file, src, lang.Options{})
	if err != nil || res.Module == nil {
		t.Fatalf("compiling %s: %v", file, err)
	}
	var e checkpoint.Expect
	for _, v := range res.Module.Params() {
		shape, _ := v.Type.Shape.Resolve(nil)
		e.Model = append(e.Model, checkpoint.Spec{Name: v.Param(), Shape: shape})
	}
	return e
}
