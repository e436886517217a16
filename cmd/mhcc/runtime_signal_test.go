package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mhcc/mhcc/backend/runtime/checkpoint"
	"github.com/mhcc/mhcc/backend/runtime/train"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/internal/testmodels"
)

// signalModel is small enough that a step takes a few milliseconds.
var signalModel = testmodels.Small("eval every=4 batches=1")

// signalExpect is what a checkpoint of signalModel holds: its parameters
// and the optimizer's buffers.
func signalExpect(t *testing.T) checkpoint.Expect {
	t.Helper()
	res, err := compiler.CompileSource("signal.mhc", []byte(signalModel))
	if err != nil || res.Module == nil {
		t.Fatalf("compiling the signal model: %v %v", err, res.Diags)
	}
	var want checkpoint.Expect
	for _, v := range res.Module.Params() {
		shape, _ := v.Type.Shape.Resolve(nil)
		want.Model = append(want.Model, checkpoint.Spec{Name: v.Param(), Shape: shape})
	}
	want.Optimizer = true
	return want
}

// buildProgram compiles src into a training executable: a copy of this
// test binary with the program appended, which TestMain runs as the
// program.
func buildProgram(t *testing.T, src string) (dir, exe string) {
	t.Helper()
	dir = t.TempDir()
	mhc := filepath.Join(dir, "m.mhc")
	if err := os.WriteFile(mhc, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	exe = filepath.Join(dir, "train")
	var out, errb bytes.Buffer
	if code := Main([]string{mhc, "-o", exe}, &out, &errb); code != 0 {
		t.Fatalf("compiling: exit %d\n%s", code, errb.String())
	}
	return dir, exe
}

func runProgram(t *testing.T, exe string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// waitFor polls until cond holds; the generous deadline only guards
// against a hung process, it is not a timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func metricLines(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte("\n"))
}

func sameLosses(t *testing.T, got, want string) {
	t.Helper()
	g, err := train.ReadMetrics(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := train.ReadMetrics(want)
	if err != nil {
		t.Fatal(err)
	}
	if len(g) != len(w) {
		t.Fatalf("%d steps in %s, %d in %s", len(g), got, len(w), want)
	}
	for i := range w {
		if g[i].Step != w[i].Step || g[i].Loss != w[i].Loss || g[i].LR != w[i].LR {
			t.Errorf("step %d: loss %v lr %v, uninterrupted %v %v", w[i].Step, g[i].Loss, g[i].LR, w[i].Loss, w[i].LR)
		}
	}
}

// TestSIGINTWritesALoadableCheckpoint: Ctrl-C during training finishes the
// step, writes a checkpoint, exits with code 130, and `--resume` then
// completes the run with exactly the uninterrupted run's losses.
func TestSIGINTWritesALoadableCheckpoint(t *testing.T) {
	dir, exe := buildProgram(t, signalModel)
	const steps = "400"
	run := filepath.Join(dir, "run")
	cmd := exec.Command(exe, "--steps", steps, "--checkpoint-every", "0", "--out", run)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three steps", func() bool { return metricLines(filepath.Join(run, train.MetricsFile)) >= 3 })
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exit %v, want code %d\n%s", err, exitInterrupted, out.String())
	}
	if !strings.Contains(out.String(), "interrupted after step") || strings.Contains(out.String(), "panic") {
		t.Errorf("output:\n%s", out.String())
	}
	e, ok, err := checkpoint.Latest(run)
	if err != nil || !ok {
		t.Fatalf("no checkpoint after SIGINT (%v)\n%s", err, out.String())
	}
	if _, err := checkpoint.Load(e.Dir, signalExpect(t)); err != nil {
		t.Fatalf("the SIGINT checkpoint does not load: %v", err)
	}
	// The message names the checkpoint it wrote, which exists.
	if !strings.Contains(out.String(), fmt.Sprintf("interrupted after step %d; checkpoint %s written", e.Step, e.Dir)) {
		t.Errorf("the message does not name %s:\n%s", e.Dir, out.String())
	}
	if n := metricLines(filepath.Join(run, train.MetricsFile)); n != e.Step {
		t.Errorf("checkpoint at step %d, metrics has %d steps", e.Step, n)
	}
	if o, code := runProgram(t, exe, nil, "eval", "--ckpt", run); code != 0 {
		t.Errorf("eval of the SIGINT checkpoint: exit %d\n%s", code, o)
	}

	o, code := runProgram(t, exe, nil, "--steps", steps, "--checkpoint-every", "0", "--out", run, "--resume")
	if code != 0 || !strings.Contains(o, "resuming from "+e.Dir) {
		t.Fatalf("resume: exit %d\n%s", code, o)
	}
	full := filepath.Join(dir, "full")
	if o, code := runProgram(t, exe, nil, "--steps", steps, "--checkpoint-every", "0", "--out", full); code != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s", code, o)
	}
	sameLosses(t, run, full)
}

// TestSIGKILLDuringCheckpointWrite: a process killed while writing a
// checkpoint (paused there by the checkpoint package's test hook) leaves
// the previous checkpoint intact and loadable and no half checkpoint under
// a checkpoint's name; resuming continues from the previous one and gives
// the uninterrupted run's losses.
func TestSIGKILLDuringCheckpointWrite(t *testing.T) {
	dir, exe := buildProgram(t, signalModel)
	run := filepath.Join(dir, "run")
	args := []string{"--steps", "9", "--checkpoint-every", "3", "--keep", "0", "--out", run}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), checkpoint.PauseEnv+"=6")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	paused := func() bool {
		m, _ := filepath.Glob(filepath.Join(run, ".ckpt-000006.tmp-*", "PAUSED"))
		return len(m) == 1
	}
	waitFor(t, "the paused checkpoint write", paused)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	es, err := checkpoint.List(run)
	if err != nil || len(es) != 1 || es[0].Step != 3 {
		t.Fatalf("checkpoints after the kill: %+v (%v)\n%s", es, err, out.String())
	}
	if _, err := checkpoint.Load(es[0].Dir, signalExpect(t)); err != nil {
		t.Fatalf("the previous checkpoint does not load: %v", err)
	}
	if _, err := os.Stat(filepath.Join(run, "ckpt-000006")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a half-written ckpt-000006 exists (%v)", err)
	}
	o, code := runProgram(t, exe, nil, append(args, "--resume")...)
	if code != 0 || !strings.Contains(o, "removed 1 incomplete checkpoint folder") || !strings.Contains(o, "resuming from "+es[0].Dir) {
		t.Fatalf("resume: exit %d\n%s", code, o)
	}
	full := filepath.Join(dir, "full")
	if o, code := runProgram(t, exe, nil, "--steps", "9", "--checkpoint-every", "3", "--out", full); code != 0 {
		t.Fatalf("uninterrupted: exit %d\n%s", code, o)
	}
	sameLosses(t, run, full)
}

// TestDamagedCheckpointsAreRefused: a truncated model file, a tampered
// weight and a forged safetensors header (with state.json's hash updated
// so that the parser itself must refuse it) all give a clear error, exit
// code 3 and no panic.
func TestDamagedCheckpointsAreRefused(t *testing.T) {
	dir, exe := buildProgram(t, signalModel)
	run := filepath.Join(dir, "run")
	if o, code := runProgram(t, exe, nil, "--steps", "2", "--out", run); code != 0 {
		t.Fatalf("train: exit %d\n%s", code, o)
	}
	ck := filepath.Join(run, "ckpt-000002")
	model := filepath.Join(ck, checkpoint.ModelFile)
	good, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	rehash := func(b []byte) {
		st, _ := os.ReadFile(filepath.Join(ck, checkpoint.StateFile))
		var s map[string]any
		json.Unmarshal(st, &s)
		sum := sha256.Sum256(b)
		s["files"].(map[string]any)[checkpoint.ModelFile] = hex.EncodeToString(sum[:])
		nb, _ := json.Marshal(s)
		os.WriteFile(filepath.Join(ck, checkpoint.StateFile), nb, 0o644)
	}
	forged := append([]byte(nil), good...)
	binary.LittleEndian.PutUint64(forged, 1<<60)
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)-1] ^= 0x10
	cases := []struct {
		name    string
		content []byte
		rehash  bool
		want    string
	}{
		{"truncated", good[:len(good)/2], false, "not a valid safetensors file"},
		{"tampered weight", flipped, false, "model.safetensors does not match the SHA-256 recorded in state.json"},
		{"truncated, rehashed", good[:len(good)/2], true, "not a valid safetensors file"},
		{"tampered weight, rehashed", flipped, true, "the tensor data does not match its recorded SHA-256"},
		{"forged header length, rehashed", forged, true, "header length 1152921504606846976 exceeds the 100000000-byte limit"},
	}
	for _, c := range cases {
		os.WriteFile(model, c.content, 0o644)
		if c.rehash {
			rehash(c.content)
		}
		refusedByAll(t, exe, ck, run, c.name, c.want)
	}

	// A 5 GB model file (sparse: it costs no disk) whose valid header adds
	// a tensor the model does not have is refused from its header, before
	// a byte of its data is hashed or read: the process stays small.
	forgedBig := forgedModel(t, good, 5<<30)
	os.Remove(model)
	if err := os.WriteFile(model, forgedBig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(model, int64(len(forgedBig))+5<<30); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"eval", "--ckpt", ck}, {"--steps", "3", "--out", run, "--resume"}} {
		cmd := exec.Command(exe, args...)
		o, _ := cmd.CombinedOutput()
		rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB
		if !strings.Contains(string(o), "extra tensor forged [1342177280]") || rss > 300<<10 {
			t.Errorf("5 GB forged file, %s: peak RSS %d KiB:\n%s", args[0], rss, o)
		}
	}
	// A model file that is a link to /dev/zero, and a state.json that
	// contradicts its folder's name, are refused at once.
	os.Remove(model)
	if err := os.Symlink("/dev/zero", model); err != nil {
		t.Fatal(err)
	}
	refusedByAll(t, exe, ck, run, "/dev/zero", "model.safetensors: not a regular file (a device)")
	st, _ := os.ReadFile(filepath.Join(ck, checkpoint.StateFile))
	os.WriteFile(filepath.Join(ck, checkpoint.StateFile), bytes.Replace(st, []byte(`"step":2`), []byte(`"step":5`), 1), 0o644)
	refusedByAll(t, exe, ck, run, "step 5 in ckpt-000002", "state.json says step 5, the folder's name says step 2")
}

// refusedByAll runs eval, sample and --resume on checkpoint ck and wants
// each to exit with code 3 and a message containing want, without a panic.
func refusedByAll(t *testing.T, exe, ck, run, what, want string) {
	t.Helper()
	for _, args := range [][]string{{"eval", "--ckpt", ck}, {"sample", "--ckpt", ck, "--tokens", "1"}, {"--steps", "3", "--out", run, "--resume"}} {
		o, code := runProgram(t, exe, nil, args...)
		if code != exitRuntime || !strings.Contains(o, want) || strings.Contains(o, "panic") || strings.Contains(o, "goroutine") {
			t.Errorf("%s, %s: exit %d, want %d and %q:\n%s", what, args[0], code, exitRuntime, want, o)
		}
	}
}

// forgedModel returns the header and data of the model file good with one
// more F32 tensor "forged" of extra bytes appended to its header (the
// caller extends the file to its full size).
func forgedModel(t *testing.T, good []byte, extra int64) []byte {
	t.Helper()
	n := binary.LittleEndian.Uint64(good)
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(good[8:8+n], &hdr); err != nil {
		t.Fatal(err)
	}
	dataLen := int64(len(good)) - 8 - int64(n)
	entry, _ := json.Marshal(map[string]any{"dtype": "F32", "shape": []int64{extra / 4}, "data_offsets": []int64{dataLen, dataLen + extra}})
	hdr["forged"] = entry
	delete(hdr, "__metadata__") // its data hash no longer holds
	nh, _ := json.Marshal(hdr)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(nh)))
	out = append(out, nh...)
	return append(out, good[8+n:]...)
}
