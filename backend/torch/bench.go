package torch

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/mhcc/mhcc/backend/runtime/bench"
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

//go:embed py/bench.py
var benchPy string

// BenchOptions configure the PyTorch side of `mhcc bench --vs-torch`.
type BenchOptions struct {
	// Threads is PyTorch's intra-op thread count (torch.set_num_threads);
	// 0 tries ThreadCounts() and keeps the fastest.
	Threads int
	// Probe is the number of timed steps per thread count tried, after
	// one untimed step (default 2).
	Probe int
}

// ThreadCounts are the thread counts BenchOptions.Threads = 0 tries: 1,
// 2, 4, … below the CPU count, and the CPU count.
func ThreadCounts() []int {
	n := runtime.NumCPU()
	var out []int
	for k := 1; k < n; k *= 2 {
		out = append(out, k)
	}
	return append(out, n)
}

// BenchModule is the module mhcc emits for a program, trained step by
// step by eager PyTorch on the CPU in a Python process (py/bench.py): the
// bench.External of `mhcc bench --vs-torch`. A step is forward, backward,
// global-norm clipping and the optimizer step, PyTorch's own AdamW (or
// SGD) with the train block's settings and the IR's decay groups.
type BenchModule struct {
	p      *lang.Program
	opts   BenchOptions
	dir    string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr *tail
	python string
}

// NewBenchModule emits m (compiled from program p, source its text, file
// its name in errors) and starts the Python process that will run it.
// Without an interpreter that imports torch it says so and how to
// install it.
func NewBenchModule(p *lang.Program, m *ir.Module, source []byte, file string, opts BenchOptions) (_ *BenchModule, err error) {
	if opts.Threads < 0 {
		return nil, fmt.Errorf("--torch-threads %d: want a positive count, or 0 to try several", opts.Threads)
	}
	if opts.Probe <= 0 {
		opts.Probe = 2
	}
	pk, err := Emit(p, m, source, "")
	if err != nil {
		return nil, fmt.Errorf("emitting the PyTorch module of %s: %w", file, err)
	}
	dir, err := os.MkdirTemp("", "mhcc-bench-torch-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	for name, text := range map[string]string{"model.py": pk.ModelPy, "bench.py": benchPy} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return nil, err
		}
	}
	var problems []string
	for _, py := range Interpreters() {
		b := &BenchModule{p: p, opts: opts, dir: dir}
		if err := b.launch(py); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", py, err))
			continue
		}
		return b, nil
	}
	return nil, fmt.Errorf("--vs-torch: PyTorch is not available (%s); install it: %s", strings.Join(problems, "; "), Install)
}

// tail keeps the last few KiB written to it (the Python process's stderr).
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if n := len(t.b) - 4096; n > 0 {
		t.b = t.b[n:]
	}
	return len(p), nil
}

func (t *tail) String() string { return strings.TrimSpace(string(t.b)) }

func (b *BenchModule) launch(python string) error {
	b.stderr = &tail{}
	cmd := exec.Command(python, filepath.Join(b.dir, "bench.py"), b.dir)
	cmd.Stderr = b.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	b.cmd, b.stdin, b.out, b.python = cmd, stdin, bufio.NewReader(stdout), python
	var hello struct {
		Ready bool   `json:"ready"`
		Error string `json:"error"`
	}
	if err := b.read(&hello); err != nil || !hello.Ready {
		b.stop()
		if err == nil {
			err = errors.New(hello.Error)
		}
		return err
	}
	return nil
}

// read reads one answer line into v.
func (b *BenchModule) read(v any) error {
	line, err := b.out.ReadBytes('\n')
	if err != nil {
		msg := "the Python process ended"
		if s := b.stderr.String(); s != "" {
			msg += ":\n" + s
		}
		return errors.New(msg)
	}
	if err := json.Unmarshal(line, v); err != nil {
		return fmt.Errorf("a malformed answer from the Python process: %q", strings.TrimSpace(string(line)))
	}
	return nil
}

// call sends one request and reads its answer into v, which embeds the
// ok/error fields.
func (b *BenchModule) call(req map[string]any, v interface{ failure() string }) error {
	line, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := b.stdin.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("PyTorch (%s): %w", b.python, err)
	}
	if err := b.read(v); err != nil {
		return fmt.Errorf("PyTorch (%s): %w", b.python, err)
	}
	if f := v.failure(); f != "" {
		return fmt.Errorf("PyTorch (%s): %s", b.python, f)
	}
	return nil
}

type answer struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

func (a *answer) failure() string {
	if a.OK {
		return ""
	}
	if a.Error == "" {
		return "failed"
	}
	return a.Error
}

// Start builds the model in PyTorch, runs the warm-up steps and picks
// the thread count (after one more untimed step with it).
func (b *BenchModule) Start(warmup int) (bench.ExternalInfo, error) {
	p := b.p
	o := p.Train.Optimizer
	threads := ThreadCounts()
	if b.opts.Threads > 0 {
		threads = []int{b.opts.Threads}
	}
	var a struct {
		answer
		Threads   int                `json:"threads"`
		Tried     map[string]float64 `json:"tried_ms"`
		Torch     string             `json:"torch"`
		Python    string             `json:"python"`
		Params    int64              `json:"params"`
		Optimizer string             `json:"optimizer"`
	}
	req := map[string]any{"cmd": "start", "seed": p.Train.Seed, "batch": p.Train.Batch, "context": p.Model.Context,
		"vocab": p.Model.Vocab, "warmup": warmup, "threads": threads, "probe": b.opts.Probe,
		"optimizer": map[string]any{"kind": o.Kind, "lr": o.LR, "betas": []float64{o.Beta1, o.Beta2}, "eps": o.Eps,
			"weight_decay": o.WeightDecay, "momentum": o.Momentum, "clip": o.Clip}}
	if err := b.call(req, &a); err != nil {
		return bench.ExternalInfo{}, err
	}
	rt := fmt.Sprintf("PyTorch %s (Python %s) eager on CPU, torch.optim.%s, %d thread%s", a.Torch, a.Python, a.Optimizer,
		a.Threads, map[bool]string{true: "", false: "s"}[a.Threads == 1])
	if len(threads) > 1 {
		var parts []string
		for _, k := range threads {
			parts = append(parts, fmt.Sprintf("%d: %.1f ms", k, a.Tried[strconv.Itoa(k)]))
		}
		rt += fmt.Sprintf(" (the fastest median of %d steps per thread count: %s)", b.opts.Probe, strings.Join(parts, ", "))
	} else {
		rt += " (set by --torch-threads)"
	}
	return bench.ExternalInfo{Label: "PyTorch", Level: "eager", Params: a.Params, Runtime: rt}, nil
}

// Step runs one timed training step in PyTorch.
func (b *BenchModule) Step() (bench.ExternalStep, error) {
	var a struct {
		answer
		Wall   int64   `json:"wall_ns"`
		CPU    int64   `json:"cpu_ns"`
		Loss   float64 `json:"loss"`
		MaxRSS int64   `json:"max_rss"`
	}
	if err := b.call(map[string]any{"cmd": "step"}, &a); err != nil {
		return bench.ExternalStep{}, err
	}
	return bench.ExternalStep{Wall: time.Duration(a.Wall), CPU: time.Duration(a.CPU), Loss: a.Loss, PeakRSS: a.MaxRSS}, nil
}

// stop ends the Python process (its stdin closes).
func (b *BenchModule) stop() error {
	var err error
	if b.cmd != nil {
		b.stdin.Close()
		err = b.cmd.Wait()
		b.cmd = nil
	}
	return err
}

// Close ends the Python process and removes its files.
func (b *BenchModule) Close() error {
	err := b.stop()
	if b.dir != "" {
		os.RemoveAll(b.dir)
		b.dir = ""
	}
	return err
}
