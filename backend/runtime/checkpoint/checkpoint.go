package checkpoint

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mhcc/mhcc/internal/fsinfo"
)

// File names inside a checkpoint folder.
const (
	// ModelFile holds the parameters, named by their IR parameter names.
	ModelFile = "model.safetensors"
	// OptimizerFile holds the optimizer's buffers, named
	// "<param>.<buffer>", e.g. "embed.weight.exp_avg": F32 for AdamW's
	// float32 moments (the default), F64 for float64 ones and SGD's
	// momentum (and AdamW's moments in checkpoints written before float32
	// moments existed, which a resume converts).
	OptimizerFile = "optimizer.safetensors"
	// StateFile is the loop state: step, RNG states, data cursor.
	StateFile = "state.json"
)

// Format and Version identify state.json.
const (
	Format  = "mhcc-checkpoint"
	Version = 1
)

// maxStateSize bounds state.json so that a forged file cannot exhaust memory.
const maxStateSize = 16 << 20

// PauseEnv names the test hook used by the crash-consistency tests: when
// it holds a step number, writing that step's checkpoint stops after the
// model file is written into the temporary folder, creates a file named
// PAUSED there and blocks for ever, so that a test can kill the process
// mid-write. It has no other effect.
const PauseEnv = "MHCC_TEST_CHECKPOINT_PAUSE"

var nameRE = regexp.MustCompile(`^ckpt-([0-9]{6,})$`)

// Name returns the folder name of the checkpoint at step: ckpt-000500.
func Name(step int) string { return fmt.Sprintf("ckpt-%06d", step) }

// State is the content of state.json: everything besides the tensors that
// a resumed run needs to continue exactly where the checkpoint was taken.
type State struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Step is the number of completed optimizer steps.
	Step int `json:"step"`
	// Seed is the run's seed.
	Seed int64 `json:"seed"`
	// RNG holds the binary state of each named generator (PCG
	// MarshalBinary; base64 in JSON).
	RNG map[string][]byte `json:"rng"`
	// Data is the data stream's position.
	Data DataState `json:"data"`
	// Log is the partial log window at the time of the checkpoint, so that
	// the first log line after a resume averages the same steps.
	Log LogWindow `json:"log_window"`
	// Optimizer is the optimizer kind ("adamw", "sgd").
	Optimizer string `json:"optimizer"`
	// RunID identifies the run that wrote the checkpoint: every checkpoint
	// of one run (across resumes) carries the same ID. Empty in checkpoints
	// written before runs had IDs.
	RunID string `json:"run_id,omitempty"`
	// LR is the learning rate of the checkpoint's step, so that a resume
	// with other settings can say how the schedule changes.
	LR float64 `json:"lr,omitempty"`
	// Settings are the run's settings that shape its training trajectory
	// (steps, batch, optimizer, schedule, data), by their --set paths, as
	// the run used them; a resume compares its own against them.
	Settings map[string]string `json:"settings,omitempty"`
	// History lists, oldest first, what happened to the run besides
	// training: forks, skipped batches, settings changed on a resume.
	History []string `json:"history,omitempty"`
	// SourceSHA256 and IRSHA256 identify the program that wrote it.
	SourceSHA256 string `json:"source_sha256,omitempty"`
	IRSHA256     string `json:"ir_sha256"`
	// Files maps each file of the checkpoint to its SHA-256.
	Files map[string]string `json:"files"`
	// Written is when the checkpoint was written (informational).
	Written string `json:"written,omitempty"`
}

// DataState is the data stream's position in state.json.
type DataState struct {
	Name     string `json:"name"`
	Sampling string `json:"sampling"`
	// Cursor is the next window start of sequential sampling.
	Cursor int `json:"cursor"`
	// Draws counts the steps' worth of batches drawn from the stream:
	// Step plus the batches skipped (--skip-batches). 0 in checkpoints
	// written before skipping existed, which means Step.
	Draws int `json:"draws,omitempty"`
	// Skip lists the draws still to be skipped (1-based: draw d is the
	// batch step d gets in a run that skips nothing), ascending.
	Skip []int `json:"skip,omitempty"`
}

// LogWindow is a partial log-averaging window.
type LogWindow struct {
	LossSum float64 `json:"loss_sum"`
	Steps   int     `json:"steps"`
}

// Contents is what Save writes.
type Contents struct {
	Model         []Tensor
	ModelMeta     map[string]string
	Optimizer     []Tensor
	OptimizerMeta map[string]string
	State         State
}

// Checkpoint is a loaded checkpoint folder.
type Checkpoint struct {
	Dir   string
	Model *File
	// Optimizer is nil when loaded without it.
	Optimizer *File
	State     State
}

// Save writes c as runDir/ckpt-NNNNNN (NNNNNN = c.State.Step) and returns
// that path. Everything is written and synced inside a temporary folder
// (.ckpt-NNNNNN.tmp-*) that is renamed into place only when complete, so
// an interrupted write leaves at most a hidden temporary folder (removed
// by CleanTemp) and never damages an existing checkpoint.
func Save(runDir string, c *Contents) (dir string, err error) {
	final := filepath.Join(runDir, Name(c.State.Step))
	tmp, err := os.MkdirTemp(runDir, "."+Name(c.State.Step)+".tmp-")
	if err != nil {
		return "", fmt.Errorf("writing checkpoint %s: %w", final, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	st := c.State
	st.Format, st.Version = Format, Version
	st.Files = map[string]string{}
	if st.Written == "" {
		st.Written = time.Now().UTC().Format(time.RFC3339)
	}
	write := func(name string, tensors []Tensor, meta map[string]string) error {
		h := sha256.New()
		err := writeSynced(filepath.Join(tmp, name), func(w io.Writer) error {
			return WriteSafetensors(io.MultiWriter(w, h), tensors, meta)
		})
		st.Files[name] = hex.EncodeToString(h.Sum(nil))
		return err
	}
	if err := write(ModelFile, c.Model, c.ModelMeta); err != nil {
		return "", fmt.Errorf("writing checkpoint %s: %w", final, err)
	}
	if s := os.Getenv(PauseEnv); s != "" && s == strconv.Itoa(c.State.Step) {
		os.WriteFile(filepath.Join(tmp, "PAUSED"), nil, 0o644)
		for {
			time.Sleep(time.Hour)
		}
	}
	if err := write(OptimizerFile, c.Optimizer, c.OptimizerMeta); err != nil {
		return "", fmt.Errorf("writing checkpoint %s: %w", final, err)
	}
	sb, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return "", fmt.Errorf("writing checkpoint %s: encoding state.json: %w", final, err)
	}
	if err := writeSynced(filepath.Join(tmp, StateFile), func(w io.Writer) error {
		_, err := w.Write(append(sb, '\n'))
		return err
	}); err != nil {
		return "", fmt.Errorf("writing checkpoint %s: %w", final, err)
	}
	if err := syncDir(tmp); err != nil {
		return "", fmt.Errorf("writing checkpoint %s: %w", final, err)
	}
	// Replace an existing checkpoint of the same step (a rewrite after a
	// resume): move it aside first, since a folder cannot be renamed over
	// a non-empty one.
	var old string
	if _, err := os.Stat(final); err == nil {
		old = tmp + ".old"
		if err := os.Rename(final, old); err != nil {
			return "", fmt.Errorf("writing checkpoint %s: %w", final, err)
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", fmt.Errorf("writing checkpoint %s: %w", final, err)
	}
	if old != "" {
		os.RemoveAll(old)
	}
	if err := syncDir(runDir); err != nil {
		return "", fmt.Errorf("writing checkpoint %s: %w", final, err)
	}
	return final, nil
}

func writeSynced(path string, fill func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		return err
	}
	return nil
}

// Expect is what a program needs of a checkpoint. Load checks each file's
// header against it before it hashes or reads any tensor data, so a forged
// or foreign file is refused without reading or allocating its size.
type Expect struct {
	// Model lists the program's tensors: the model file must hold exactly
	// these, as F32, with these shapes.
	Model []Spec
	// Optimizer asks for the optimizer file too. Its tensors must be
	// buffers of the model's tensors: named PARAM.BUFFER, F32 or F64, with
	// PARAM's number of elements, at most MaxOptimizerBuffers per
	// parameter.
	Optimizer bool
}

// MaxOptimizerBuffers bounds the optimizer buffers per parameter (AdamW
// keeps two, SGD with momentum one).
const MaxOptimizerBuffers = 4

// Load reads and verifies the checkpoint folder dir for a program that
// expects want: state.json must be a version this runtime reads and agree
// with the folder's name; every file must be a regular file whose header
// holds what want says (checked first), whose bytes match the SHA-256
// recorded in state.json, and whose data is valid. The optimizer file is
// read only if want.Optimizer is set (eval and sampling need the model
// only).
func Load(dir string, want Expect) (*Checkpoint, error) {
	st, err := readState(dir)
	if err != nil {
		return nil, err
	}
	if m := nameRE.FindStringSubmatch(filepath.Base(filepath.Clean(dir))); m != nil {
		if n, _ := strconv.Atoi(m[1]); n != st.Step {
			return nil, fmt.Errorf("checkpoint %s: %s says step %d, the folder's name says step %d (files from different checkpoints?)",
				dir, StateFile, st.Step, n)
		}
	}
	ck := &Checkpoint{Dir: dir, State: st}
	read := func(name string, check func(*File) error) (*File, error) {
		path := filepath.Join(dir, name)
		sum, ok := st.Files[name]
		if !ok {
			return nil, fmt.Errorf("checkpoint %s: state.json lists no %s", dir, name)
		}
		f, err := readSafetensors(path, func(f *File) error {
			if err := check(f); err != nil {
				return err
			}
			got, err := fileSHA256(path)
			if err != nil {
				return err
			}
			if got != sum {
				return fmt.Errorf("%s does not match the SHA-256 recorded in state.json (the file was modified or truncated)", path)
			}
			return nil
		})
		if err != nil {
			return nil, err // names path, which names dir
		}
		return f, nil
	}
	if ck.Model, err = read(ModelFile, func(f *File) error { return Match(f, want.Model) }); err != nil {
		return nil, err
	}
	if want.Optimizer {
		if ck.Optimizer, err = read(OptimizerFile, func(f *File) error { return matchOptimizer(f, want.Model) }); err != nil {
			return nil, err
		}
	}
	return ck, nil
}

// matchOptimizer checks an optimizer file's header against the model's
// tensors (see Expect.Optimizer).
func matchOptimizer(f *File, model []Spec) error {
	size := map[string]int{}
	for _, s := range model {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		size[s.Name] = n
	}
	per := map[string]int{}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		dot := strings.LastIndexByte(t.Name, '.')
		param := ""
		if dot > 0 {
			param = t.Name[:dot]
		}
		n, ok := size[param]
		switch {
		case !ok:
			return fmt.Errorf("%s: tensor %s is not a buffer of a parameter of the compiled model", f.Path, t.Name)
		case t.DType != F64 && t.DType != F32:
			return fmt.Errorf("%s: tensor %s has dtype %s, want F32 or F64", f.Path, t.Name, t.DType)
		case t.NumElements() != n:
			return fmt.Errorf("%s: tensor %s has %d elements, its parameter %d", f.Path, t.Name, t.NumElements(), n)
		}
		if per[param]++; per[param] > MaxOptimizerBuffers {
			return fmt.Errorf("%s: more than %d optimizer buffers for %s", f.Path, MaxOptimizerBuffers, param)
		}
	}
	return nil
}

func readState(dir string) (State, error) {
	var st State
	path := filepath.Join(dir, StateFile)
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return st, fmt.Errorf("checkpoint %s: %s is not a regular file (%s)", dir, StateFile, fsinfo.Kind(fi.Mode()))
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, derr := os.Stat(dir); derr != nil {
				return st, fmt.Errorf("checkpoint %s: %w", dir, unwrapPath(derr))
			}
			return st, fmt.Errorf("checkpoint %s: no %s (not a checkpoint folder, or an incomplete one)", dir, StateFile)
		}
		return st, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStateSize+1))
	if err != nil {
		return st, fmt.Errorf("checkpoint %s: reading %s: %w", dir, StateFile, err)
	}
	if len(b) > maxStateSize {
		return st, fmt.Errorf("checkpoint %s: %s is larger than %d bytes", dir, StateFile, maxStateSize)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("checkpoint %s: %s is damaged: %v", dir, StateFile, err)
	}
	if st.Format != Format {
		return st, fmt.Errorf("checkpoint %s: %s has format %q, want %q", dir, StateFile, st.Format, Format)
	}
	if st.Version != Version {
		return st, fmt.Errorf("checkpoint %s: version %d, this runtime reads version %d", dir, st.Version, Version)
	}
	if st.Step < 0 {
		return st, fmt.Errorf("checkpoint %s: %s has negative step %d", dir, StateFile, st.Step)
	}
	return st, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", filepath.Base(path), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Entry is one complete checkpoint folder of a run.
type Entry struct {
	Dir  string
	Step int
}

// List returns the checkpoints of runDir (folders named ckpt-NNNNNN that
// hold a state.json), oldest first. A missing runDir has none.
func List(runDir string) ([]Entry, error) {
	des, err := os.ReadDir(runDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing checkpoints in %s: %w", runDir, err)
	}
	var out []Entry
	for _, de := range des {
		m := nameRE.FindStringSubmatch(de.Name())
		if m == nil || !de.IsDir() {
			continue
		}
		step, err := strconv.Atoi(m[1])
		if err != nil {
			continue
		}
		dir := filepath.Join(runDir, de.Name())
		if _, err := os.Stat(filepath.Join(dir, StateFile)); err != nil {
			continue
		}
		out = append(out, Entry{Dir: dir, Step: step})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Step < out[j].Step })
	return out, nil
}

// Latest returns the newest checkpoint of runDir; ok is false when there
// is none.
func Latest(runDir string) (e Entry, ok bool, err error) {
	es, err := List(runDir)
	if err != nil || len(es) == 0 {
		return Entry{}, false, err
	}
	return es[len(es)-1], true, nil
}

// Resolve turns a --ckpt argument into a checkpoint folder: a checkpoint
// folder itself, or a run folder (its newest checkpoint).
func Resolve(path string) (string, error) {
	if _, err := os.Stat(filepath.Join(path, StateFile)); err == nil {
		return path, nil
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("checkpoint %s: %w", path, unwrapPath(err))
	}
	e, ok, err := Latest(path)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("%s is neither a checkpoint folder nor a run folder with checkpoints", path)
	}
	return e.Dir, nil
}

// Prune deletes the oldest checkpoints of the run runID in runDir so
// that at most keep of them remain (keep ≤ 0 keeps all) and returns the
// deleted folders. Checkpoints of other runs (another RunID, or none) and
// unreadable ones are never touched, so a run cannot prune away its own
// newest checkpoints in favour of another run's higher steps.
func Prune(runDir string, keep int, runID string) ([]string, error) {
	if keep <= 0 {
		return nil, nil
	}
	all, err := List(runDir)
	if err != nil {
		return nil, err
	}
	var es []Entry
	for _, e := range all {
		if st, err := ReadState(e.Dir); err == nil && st.RunID == runID {
			es = append(es, e)
		}
	}
	var removed []string
	for len(es) > keep {
		if err := os.RemoveAll(es[0].Dir); err != nil {
			return removed, fmt.Errorf("removing old checkpoint: %w", err)
		}
		removed = append(removed, es[0].Dir)
		es = es[1:]
	}
	return removed, nil
}

// ReadState reads and checks the state.json of the checkpoint folder dir
// (without the tensor files).
func ReadState(dir string) (State, error) { return readState(dir) }

// CleanTemp removes the temporary folders that interrupted checkpoint
// writes left in runDir and returns them; a checkpoint that an interrupted
// rewrite had moved aside is put back. Only one process may write a run
// folder at a time.
func CleanTemp(runDir string) ([]string, error) {
	des, err := os.ReadDir(runDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var removed []string
	for _, de := range des {
		n := de.Name()
		if !de.IsDir() || !strings.HasPrefix(n, ".ckpt-") || !strings.Contains(n, ".tmp-") {
			continue
		}
		p := filepath.Join(runDir, n)
		// Save moves a checkpoint it rewrites aside (.ckpt-N.tmp-X.old)
		// before renaming the new one into place: a kill between the two
		// renames leaves no ckpt-N, and the old one goes back.
		if strings.HasSuffix(n, ".old") {
			final := filepath.Join(runDir, strings.TrimPrefix(n[:strings.Index(n, ".tmp-")], "."))
			if _, err := os.Stat(final); errors.Is(err, fs.ErrNotExist) {
				if err := os.Rename(p, final); err != nil {
					return removed, err
				}
				continue
			}
		}
		if err := os.RemoveAll(p); err != nil {
			return removed, err
		}
		removed = append(removed, p)
	}
	return removed, nil
}

// Spec is the name and shape of one tensor a program expects.
type Spec struct {
	Name  string
	Shape []int
}

// MismatchError says how a checkpoint's tensors differ from a program's.
type MismatchError struct {
	Source   string   // the checkpoint or file
	Missing  []Spec   // in the program, not in the checkpoint
	Extra    []Spec   // in the checkpoint, not in the program
	Reshaped []string // "name: checkpoint [a b], program [c d]"
}

// Error lists every difference, one per line.
func (e *MismatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s does not match the compiled model:", e.Source)
	for _, s := range e.Missing {
		fmt.Fprintf(&b, "\n  missing tensor %s %v (the program has it, the checkpoint does not)", s.Name, s.Shape)
	}
	for _, s := range e.Extra {
		fmt.Fprintf(&b, "\n  extra tensor %s %v (the checkpoint has it, the program does not)", s.Name, s.Shape)
	}
	for _, s := range e.Reshaped {
		fmt.Fprintf(&b, "\n  reshaped tensor %s", s)
	}
	return b.String()
}

// Match checks that f holds exactly the tensors of want, as F32, with the
// same shapes; otherwise it returns a *MismatchError naming every missing,
// extra and reshaped tensor.
func Match(f *File, want []Spec) error {
	src := f.Path
	if src == "" {
		src = "checkpoint"
	}
	e := &MismatchError{Source: src}
	seen := map[string]bool{}
	for _, w := range want {
		seen[w.Name] = true
		t := f.Tensor(w.Name)
		switch {
		case t == nil:
			e.Missing = append(e.Missing, w)
		case !slices.Equal(t.Shape, w.Shape):
			e.Reshaped = append(e.Reshaped, fmt.Sprintf("%s: checkpoint %v, program %v", w.Name, t.Shape, w.Shape))
		case t.DType != F32:
			e.Reshaped = append(e.Reshaped, fmt.Sprintf("%s: checkpoint dtype %s, program F32", w.Name, t.DType))
		}
	}
	for _, t := range f.Tensors {
		if !seen[t.Name] {
			e.Extra = append(e.Extra, Spec{Name: t.Name, Shape: t.Shape})
		}
	}
	if len(e.Missing)+len(e.Extra)+len(e.Reshaped) == 0 {
		return nil
	}
	return e
}
