package torch

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/mhcc/mhcc/backend"
	"github.com/mhcc/mhcc/ir"
)

// PythonEnv names the Python interpreter to use (default: python3 on the
// PATH if it can import torch, else /usr/bin/python3).
const PythonEnv = "MHCC_PYTHON"

// RequireEnv, set to 1, makes a missing PyTorch an error of the tests
// instead of a reason to skip them (CI sets it).
const RequireEnv = "MHCC_REQUIRE_TORCH"

// Install says how to get PyTorch where mhcc's tests look for it.
const Install = "apt-get install -y python3-torch (Debian), or pip install torch; " +
	PythonEnv + " selects the interpreter"

// worker is one persistent Python process that evaluates emitted modules:
// started on first use, shared by every run of the test binary or tool,
// and ended when the process exits (its stdin closes).
type worker struct {
	mu      sync.Mutex
	cmd     *exec.Cmd
	in      *bufio.Writer
	out     *bufio.Reader
	version string
	python  string
	broken  error
}

var (
	workerOnce sync.Once
	theWorker  *worker
	workerErr  error
)

// sharedWorker starts the worker once and returns it, or why there is none.
func sharedWorker() (*worker, error) {
	workerOnce.Do(func() { theWorker, workerErr = startWorker() })
	return theWorker, workerErr
}

// Interpreters returns the Python interpreters tried, in order.
func Interpreters() []string {
	if p := os.Getenv(PythonEnv); p != "" {
		return []string{p}
	}
	return []string{"python3", "/usr/bin/python3"}
}

func startWorker() (*worker, error) {
	dir, err := os.MkdirTemp("", "mhcc-torch-")
	if err != nil {
		return nil, fmt.Errorf("torch worker: %w", err)
	}
	defer os.RemoveAll(dir) // the worker has read its files once it answers
	var files []string
	for _, f := range []struct{ name, text string }{{"ops.py", OpsLibrary}, {"api.py", APILibrary}, {"worker.py", workerPy}} {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, []byte(f.text), 0o644); err != nil {
			return nil, fmt.Errorf("torch worker: %w", err)
		}
		files = append(files, p)
	}
	var problems []string
	for _, py := range Interpreters() {
		w, err := launch(py, files[2], files[:2])
		if err == nil {
			return w, nil
		}
		problems = append(problems, fmt.Sprintf("%s: %v", py, err))
	}
	return nil, fmt.Errorf("PyTorch is not available (%s); install it: %s", strings.Join(problems, "; "), Install)
}

func launch(python, script string, libs []string) (*worker, error) {
	cmd := exec.Command(python, append([]string{script}, libs...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &worker{cmd: cmd, in: bufio.NewWriterSize(stdin, 1<<20), out: bufio.NewReaderSize(stdout, 1<<20)}
	line, err := w.out.ReadBytes('\n')
	var hello struct {
		Ready  bool   `json:"ready"`
		Error  string `json:"error"`
		Torch  string `json:"torch"`
		Python string `json:"python"`
	}
	if err == nil {
		err = json.Unmarshal(line, &hello)
	}
	if err != nil || !hello.Ready {
		stdin.Close()
		_ = cmd.Wait()
		if err == nil {
			err = errors.New(hello.Error)
		}
		return nil, err
	}
	w.version = fmt.Sprintf("PyTorch %s, Python %s", hello.Torch, hello.Python)
	w.python = python
	return w, nil
}

// request is one evaluation: a class (emitted source), its dtype, the
// values of its parameters and inputs, and whether to differentiate.
type request struct {
	Src    string            `json:"src"`
	Class  string            `json:"class"`
	DType  string            `json:"dtype"`
	Params map[string]string `json:"params"`
	Inputs map[string]tensor `json:"inputs"`
	Sizes  map[string]int    `json:"sizes"`
	Grad   bool              `json:"grad"`
}

type tensor struct {
	Shape []int  `json:"shape"`
	Data  string `json:"data"`
}

type response struct {
	OK      bool              `json:"ok"`
	Error   string            `json:"error"`
	Trace   string            `json:"trace"`
	Outputs map[string]string `json:"outputs"`
	Grads   map[string]string `json:"grads"`
}

// do sends one request and reads its answer.
func (w *worker) do(req *request) (*response, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.broken != nil {
		return nil, w.broken
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var resp response
	if _, err = w.in.Write(append(b, '\n')); err == nil {
		err = w.in.Flush()
	}
	var line []byte
	if err == nil {
		line, err = w.out.ReadBytes('\n')
	}
	if err == nil {
		err = json.Unmarshal(line, &resp)
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("the worker exited")
		}
		w.broken = fmt.Errorf("torch worker (%s): %w", w.version, err)
		return nil, w.broken
	}
	if !resp.OK {
		return nil, fmt.Errorf("torch worker: %s\n%s", resp.Error, resp.Trace)
	}
	return &resp, nil
}

func encode(x []float64) string {
	b := make([]byte, 8*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func decode(s string) ([]float64, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%8 != 0 {
		return nil, fmt.Errorf("torch worker: a damaged tensor in the answer")
	}
	x := make([]float64, len(b)/8)
	for i := range x {
		x[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return x, nil
}

// run evaluates m in the worker.
func run(m *ir.Module, feed backend.Feed, grad, f64 bool) (*backend.Result, error) {
	if grad {
		for _, v := range m.Values {
			if d, ok := ir.LookupOp(v.Op); ok && d.ForwardOnly {
				return nil, fmt.Errorf("torch: cannot differentiate a module using the forward-only op %s", v.Op)
			}
		}
	}
	w, err := sharedWorker()
	if err != nil {
		return nil, err
	}
	src, err := Class(m, ClassOptions{Name: "Module"})
	if err != nil {
		return nil, err
	}
	req := &request{Src: src, Class: "Module", DType: "float32", Params: map[string]string{},
		Inputs: map[string]tensor{}, Sizes: feed.Binds, Grad: grad}
	if f64 {
		req.DType = "float64"
	}
	if req.Sizes == nil {
		req.Sizes = map[string]int{}
	}
	for _, v := range m.Values {
		switch v.Op {
		case ir.OpParam:
			vals, ok := feed.Params[v.Param()]
			if !ok {
				return nil, fmt.Errorf("torch: no value for param %s", v.Param())
			}
			req.Params[v.Param()] = encode(vals)
		case ir.OpInput:
			name := v.Attrs.String("name")
			shape, err := v.Type.Shape.Resolve(feed.Binds)
			if err != nil {
				return nil, fmt.Errorf("torch: input %s: %w", name, err)
			}
			vals, ok := feed.Floats[name]
			if v.Type.DType == ir.I32 {
				ints, ok := feed.Ints[name]
				if !ok {
					return nil, fmt.Errorf("torch: no value for input %s", name)
				}
				vals = make([]float64, len(ints))
				for i, n := range ints {
					vals[i] = float64(n)
				}
			} else if !ok {
				return nil, fmt.Errorf("torch: no value for input %s", name)
			}
			req.Inputs[name] = tensor{Shape: shape, Data: encode(vals)}
		}
	}
	resp, err := w.do(req)
	if err != nil {
		return nil, err
	}
	res := &backend.Result{Outputs: map[string][]float64{}}
	for k, s := range resp.Outputs {
		if res.Outputs[k], err = decode(s); err != nil {
			return nil, err
		}
	}
	if grad {
		res.Grads = map[string][]float64{}
		for k, s := range resp.Grads {
			if res.Grads[k], err = decode(s); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}
