package train

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mhcc/mhcc/backend/runtime/checkpoint"
)

// start decides how the run begins in its folder (see runfolder.go): from
// scratch, or from a checkpoint (resumed is then true). It leaves the
// metrics file holding the lines of the steps before the run's first.
func (r *run) start(metricsPath string) (resumed bool, err error) {
	skip, err := normalizeSkips(r.opts.SkipBatches)
	if err != nil {
		return false, err
	}
	fresh := func(overwrite bool) error {
		deleted, err := claimFolder(r.outDir, overwrite, "starting a new run there")
		if err != nil {
			return err
		}
		if len(deleted) > 0 && r.opts.Overwrite {
			fmt.Fprintf(r.log, "--overwrite: deleted the earlier run in %s (%s)\n", r.outDir, strings.Join(deleted, ", "))
		}
		r.runID, r.skip = newRunID(), skip
		if len(skip) > 0 {
			r.history = append(r.history, "step 0: skipping "+batchesOf(skip))
		}
		return nil
	}
	if !r.opts.Resume {
		return false, fresh(r.opts.Overwrite)
	}
	dir, ok, err := resolveResume(r.outDir, r.opts.ResumeFrom)
	if err != nil {
		return false, err
	}
	if !ok {
		fmt.Fprintf(r.log, "--resume: no checkpoint in %s; starting from scratch\n", r.outDir)
		// What the folder holds (a metrics.jsonl) is this run's own start,
		// killed before its first checkpoint.
		return false, fresh(true)
	}
	fork := !sameFolder(filepath.Dir(dir), r.outDir)
	if !fork && r.opts.Overwrite {
		return false, refusef("--overwrite would delete the run that --resume=%s continues; pass one of them", dir)
	}
	st, err := r.resume(dir)
	if err != nil {
		return false, err
	}
	for _, d := range skip {
		if d <= r.draws {
			return false, refusef("--skip-batches %d: the checkpoint at step %d has drawn the batches of steps 1–%d already", d, st.Step, r.draws)
		}
	}
	if fork {
		deleted, err := claimFolder(r.outDir, r.opts.Overwrite, "forking "+dir+" into it")
		if err != nil {
			return false, err
		}
		if len(deleted) > 0 {
			fmt.Fprintf(r.log, "--overwrite: deleted the earlier run in %s (%s)\n", r.outDir, strings.Join(deleted, ", "))
		}
		r.runID = newRunID()
		r.history = append(r.history, fmt.Sprintf("step %d: forked from %s", st.Step, dir))
		// The new folder's metrics start with the history that led here.
		head, _, err := splitMetrics(filepath.Join(filepath.Dir(dir), MetricsFile), st.Step)
		if err != nil {
			return false, fmt.Errorf("reading the metrics of the run forked from: %w", err)
		}
		if err := os.WriteFile(metricsPath, head, 0o644); err != nil {
			return false, fmt.Errorf("writing metrics.jsonl: %w", err)
		}
		fmt.Fprintf(r.log, "forking %s into the new run folder %s\n", dir, r.outDir)
	} else {
		r.runID = st.RunID
		aside, err := setAside(r.outDir, st.Step, st.RunID)
		if err != nil {
			return false, fmt.Errorf("setting aside the checkpoints after %s: %w", dir, err)
		}
		if aside != "" {
			fmt.Fprintf(r.log, "note: the checkpoints after step %d and their metrics moved to %s (this run branches off at step %d)\n",
				st.Step, aside, st.Step)
			r.history = append(r.history, fmt.Sprintf("step %d: resumed from %s; the later checkpoints moved to %s", st.Step, dir, aside))
		}
		if err := truncateMetrics(metricsPath, st.Step); err != nil {
			return false, fmt.Errorf("trimming metrics.jsonl for the resume: %w", err)
		}
	}
	if len(skip) > 0 {
		r.history = append(r.history, fmt.Sprintf("step %d: skipping %s", st.Step, batchesOf(skip)))
	}
	r.skip = mergeSkips(st.Data.Skip, skip)
	return true, nil
}

// resume restores the checkpoint folder dir: parameters, optimizer state,
// data position and log window, after checking that it belongs to this
// model and that this run's settings continue it (settings.go).
func (r *run) resume(dir string) (checkpoint.State, error) {
	ck, err := openCheckpoint(r.p, dir, checkpoint.Expect{Model: specs(r.g, nil), Optimizer: true})
	if err != nil {
		return checkpoint.State{}, fmt.Errorf("--resume: %w", err)
	}
	st := ck.State
	if st.Seed != r.seed {
		// The seed is the run's: its synthetic data and validation batches
		// continue with the checkpoint's.
		fmt.Fprintf(r.log, "note: continuing with the checkpoint's seed %d\n", st.Seed)
		r.seed = st.Seed
		if err := r.openData(); err != nil {
			return st, fmt.Errorf("--resume: %w", err)
		}
		if r.hasVal {
			r.val, r.hasVal = valWindows(r.src, r.seed, r.B, r.T, r.p.Train.Eval.Batches)
		}
	}
	hist, err := r.checkChanges(st)
	if err != nil {
		return st, err
	}
	if err := loadModel(r.g, ck.Model, nil); err != nil {
		return st, fmt.Errorf("--resume: %w", err)
	}
	snap, err := optimizerSnapshot(ck.Optimizer)
	if err != nil {
		return st, fmt.Errorf("--resume: %w", err)
	}
	if err := r.opt.Restore(snap); err != nil {
		return st, fmt.Errorf("--resume: %s: %w", ck.Dir, err)
	}
	if err := r.pcg.UnmarshalBinary(st.RNG["train"]); err != nil {
		return st, fmt.Errorf("--resume: %s: the data generator state is damaged: %w", ck.Dir, err)
	}
	if st.Data.Sampling != r.sampler.Mode() {
		return st, refusef("--resume: %s was written with sampling=%s, this run uses sampling=%s", ck.Dir, st.Data.Sampling, r.sampler.Mode())
	}
	if err := r.sampler.SetCursor(st.Data.Cursor); err != nil {
		return st, fmt.Errorf("--resume: %s: %w", ck.Dir, err)
	}
	if st.Settings == nil && st.Data.Name != r.src.Name() {
		fmt.Fprintf(r.log, "note: %s was trained on %s; continuing on %s\n", ck.Dir, st.Data.Name, r.src.Name())
	}
	if r.sourceHash != "" && st.SourceSHA256 != "" && st.SourceSHA256 != r.sourceHash {
		fmt.Fprintf(r.log, "note: %s was written by a different version of the program; the model is the same, continuing\n", ck.Dir)
	}
	r.step, r.window = st.Step, st.Log
	r.draws = st.Data.Draws
	if r.draws == 0 {
		r.draws = st.Step
	}
	r.lastCkpt, r.savedStep = ck.Dir, st.Step
	r.history = append(slices.Clone(st.History), hist...)
	fmt.Fprintf(r.log, "resuming from %s (step %d)\n", ck.Dir, st.Step)
	return st, nil
}

// ParseSteps parses a --skip-batches list: step numbers and ranges,
// comma-separated ("33", "31-33,40").
func ParseSteps(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, errA := strconv.Atoi(lo)
		b, errB := a, error(nil)
		if isRange {
			b, errB = strconv.Atoi(hi)
		}
		switch {
		case errA != nil || errB != nil:
			return nil, fmt.Errorf("%q is not a step or a range of steps like 31-33", part)
		case a < 1 || b < a:
			return nil, fmt.Errorf("%q: steps count from 1, and a range goes up", part)
		case b-a >= 1<<20:
			return nil, fmt.Errorf("%q: a range of more than %d steps", part, 1<<20)
		}
		for n := a; n <= b; n++ {
			out = append(out, n)
		}
	}
	return out, nil
}

// normalizeSkips sorts the steps to skip and drops repeats.
func normalizeSkips(steps []int) ([]int, error) {
	for _, n := range steps {
		if n < 1 {
			return nil, refusef("--skip-batches %d: steps count from 1", n)
		}
	}
	out := slices.Clone(steps)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// mergeSkips merges two ascending lists of draws.
func mergeSkips(a, b []int) []int {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// batchesOf names the batches of ascending steps: "the batch of step 3",
// "the batches of steps 31-33,40".
func batchesOf(steps []int) string {
	if len(steps) == 1 {
		return "the batch of step " + strconv.Itoa(steps[0])
	}
	return "the batches of steps " + formatSteps(steps)
}

// formatSteps prints ascending steps with runs as ranges: "31-33, 40".
func formatSteps(steps []int) string {
	var parts []string
	for i := 0; i < len(steps); {
		j := i
		for j+1 < len(steps) && steps[j+1] == steps[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", steps[i], steps[j]))
		} else {
			parts = append(parts, strconv.Itoa(steps[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}
