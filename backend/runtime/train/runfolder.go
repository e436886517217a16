package train

// A run folder belongs to one run. This file decides, before a step is
// trained, what a run does with the folder it is given: a fresh run takes
// an unused folder (or, with --overwrite, clears an earlier run's files),
// a resumed run continues the run whose checkpoint it starts from, and a
// run resumed from another folder's checkpoint is a fork that starts a
// folder of its own. Nothing an earlier run wrote is deleted without
// --overwrite: checkpoints after the one a run resumes from are moved
// aside, not replaced.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mhcc/mhcc/backend/runtime/checkpoint"
)

// SummaryFile is the result of a finished run in its run folder.
const SummaryFile = "summary.json"

// lockFile is the run folder's lock (lock_unix.go).
const lockFile = ".lock"

// ErrRefused is matched (errors.Is) by the errors of a run refused for
// how it was asked to start — a used run folder, a resume with changed
// settings, a checkpoint that does not exist — as opposed to one that
// failed while running. The CLI reports them as usage errors.
var ErrRefused = errors.New("refused")

// refusal is an error matching ErrRefused.
type refusal struct{ msg string }

func (e *refusal) Error() string        { return e.msg }
func (e *refusal) Is(target error) bool { return target == ErrRefused }

func refusef(format string, args ...any) error {
	return &refusal{msg: fmt.Sprintf(format, args...)}
}

// newRunID returns a fresh random run ID.
func newRunID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on the supported systems
	}
	return hex.EncodeToString(b[:])
}

// earlierRun lists what an earlier run left in dir (its checkpoints,
// metrics.jsonl, summary.json), or nil for an unused folder.
func earlierRun(dir string) ([]string, error) {
	es, err := checkpoint.List(dir)
	if err != nil {
		return nil, err
	}
	var what []string
	switch len(es) {
	case 0:
	case 1:
		what = append(what, "checkpoint "+filepath.Base(es[0].Dir))
	default:
		what = append(what, fmt.Sprintf("%d checkpoints %s … %s", len(es), filepath.Base(es[0].Dir), filepath.Base(es[len(es)-1].Dir)))
	}
	for _, name := range []string{MetricsFile, SummaryFile} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			what = append(what, name)
		}
	}
	aside, err := abandoned(dir)
	if err != nil {
		return nil, err
	}
	for _, a := range aside {
		what = append(what, filepath.Base(a))
	}
	return what, nil
}

// abandoned lists the folders of dir that setAside made.
func abandoned(dir string) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(dir, "abandoned-from-ckpt-*"))
	if err != nil {
		return nil, err
	}
	return m, nil
}

// UsedRunFolder lists what an earlier run left in dir (checkpoints,
// metrics.jsonl, summary.json, abandoned branches), or nil when a new run
// may start there without --overwrite.
func UsedRunFolder(dir string) ([]string, error) { return earlierRun(dir) }

// claimFolder makes dir the folder of a run that starts there from
// scratch (or as a fork): an earlier run's files are refused, or deleted
// with overwrite.
func claimFolder(dir string, overwrite bool, how string) (deleted []string, err error) {
	what, err := earlierRun(dir)
	if err != nil || len(what) == 0 {
		return nil, err
	}
	if !overwrite {
		return nil, refusef("the run folder %s holds another run (%s); %s would mix the two: continue that run with --resume, "+
			"write this one elsewhere with --out DIR, or pass --overwrite to delete that run and start afresh",
			dir, strings.Join(what, ", "), how)
	}
	es, err := checkpoint.List(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		if err := os.RemoveAll(e.Dir); err != nil {
			return deleted, fmt.Errorf("--overwrite: %w", err)
		}
	}
	for _, name := range []string{MetricsFile, SummaryFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return deleted, fmt.Errorf("--overwrite: %w", err)
		}
	}
	aside, err := abandoned(dir)
	if err != nil {
		return deleted, err
	}
	for _, a := range aside {
		if err := os.RemoveAll(a); err != nil {
			return deleted, fmt.Errorf("--overwrite: %w", err)
		}
	}
	return what, nil
}

// resolveResume finds the checkpoint a resume starts from: from is ""
// (the newest checkpoint of runDir), a step number, a checkpoint folder
// name inside runDir, or the path of a checkpoint folder anywhere. ok is
// false when from is "" and runDir has no checkpoint.
func resolveResume(runDir, from string) (dir string, ok bool, err error) {
	if from == "" {
		e, ok, err := checkpoint.Latest(runDir)
		return e.Dir, ok, err
	}
	var tried []string
	try := func(d string) bool {
		tried = append(tried, d)
		st, err := os.Stat(filepath.Join(d, checkpoint.StateFile))
		return err == nil && st.Mode().IsRegular()
	}
	if n, err := strconv.Atoi(from); err == nil && n >= 0 {
		if d := filepath.Join(runDir, checkpoint.Name(n)); try(d) {
			return d, true, nil
		}
	} else if try(from) {
		return from, true, nil
	} else if !filepath.IsAbs(from) && !strings.HasPrefix(from, "."+string(filepath.Separator)) {
		if d := filepath.Join(runDir, from); try(d) {
			return d, true, nil
		}
	}
	msg := fmt.Sprintf("--resume=%s: no checkpoint at %s", from, strings.Join(tried, " or "))
	if es, _ := checkpoint.List(runDir); len(es) > 0 {
		var names []string
		for _, e := range es {
			names = append(names, filepath.Base(e.Dir))
		}
		msg += fmt.Sprintf(" (the checkpoints of %s: %s)", runDir, strings.Join(names, ", "))
	}
	return "", false, refusef("%s", msg)
}

// sameFolder reports whether the paths a and b name the same folder.
func sameFolder(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(sa, sb)
	}
	return filepath.Clean(a) == filepath.Clean(b)
}

// setAside moves the checkpoints of run runID in runDir that are later
// than step, and the metrics.jsonl lines after step, into a new folder
// abandoned-from-ckpt-NNNNNN[-K] of runDir: a resume from an earlier
// checkpoint branches off the run, and the branch it leaves stays on
// disk. It returns that folder ("" when there was nothing later).
func setAside(runDir string, step int, runID string) (string, error) {
	es, err := checkpoint.List(runDir)
	if err != nil {
		return "", err
	}
	var later []checkpoint.Entry
	for _, e := range es {
		if st, err := checkpoint.ReadState(e.Dir); err == nil && e.Step > step && st.RunID == runID {
			later = append(later, e)
		}
	}
	if len(later) == 0 {
		return "", nil
	}
	base := filepath.Join(runDir, "abandoned-from-"+checkpoint.Name(step))
	aside := base
	for k := 2; ; k++ {
		if _, err := os.Lstat(aside); errors.Is(err, fs.ErrNotExist) {
			break
		}
		aside = fmt.Sprintf("%s-%d", base, k)
	}
	if err := os.Mkdir(aside, 0o755); err != nil {
		return "", err
	}
	for _, e := range later {
		if err := os.Rename(e.Dir, filepath.Join(aside, filepath.Base(e.Dir))); err != nil {
			return "", err
		}
	}
	metrics := filepath.Join(runDir, MetricsFile)
	if _, tail, err := splitMetrics(metrics, step); err != nil {
		return "", err
	} else if len(tail) > 0 {
		if err := os.WriteFile(filepath.Join(aside, MetricsFile), tail, 0o644); err != nil {
			return "", err
		}
	}
	return aside, nil
}

// splitMetrics splits the metrics file at path into the lines of steps
// ≤ step and the later ones (a missing file has neither). Lines that are
// not records (a line cut off by a crash) are dropped.
func splitMetrics(path string, step int) (head, tail []byte, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var h, t bytes.Buffer
	for _, ln := range bytes.SplitAfter(b, []byte("\n")) {
		s, ok := recordStep(ln)
		if !ok {
			continue
		}
		out := &h
		if s > step {
			out = &t
		}
		out.Write(bytes.TrimRight(ln, "\n"))
		out.WriteByte('\n')
	}
	return h.Bytes(), t.Bytes(), nil
}

// recordStep returns the step of a complete metrics.jsonl line.
func recordStep(ln []byte) (int, bool) {
	var r struct {
		Step *int `json:"step"`
	}
	if len(bytes.TrimSpace(ln)) == 0 || json.Unmarshal(ln, &r) != nil || r.Step == nil {
		return 0, false
	}
	return *r.Step, true
}
