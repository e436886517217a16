package torch_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mhcc/mhcc/backend/runtime/train"
)

// TestTorchrunEqualsOneProcess: train.py under torchrun with two processes
// (DDP over gloo, each reading its half of every global batch of 4
// windows) logs, for 5 steps, the losses, gradient norms and validation
// losses of one process with the same global batch (relative 1e-5); so
// does --fsdp where this PyTorch can import FSDP (PyTorch 1.13 under
// Python 3.11, Debian's, cannot: its torch.distributed._shard fails to
// import there).
func TestTorchrunEqualsOneProcess(t *testing.T) {
	py := requireTorch(t)
	dir := t.TempDir()
	p, m, src := roundTripModel(t, "residual streams=2 constraint=birkhoff sinkhorn=5")
	data := textFile(t, dir, 6000)
	pkg := filepath.Join(dir, "pkg")
	emitPackage(t, p, m, src, pkg)
	common := []string{"--steps", "5", "--data", data, "--set", "train.batch=4"}
	one := filepath.Join(dir, "one")
	python(t, py, pkg, append([]string{"train.py", "--out", one}, common...)...)
	a := metrics(t, one)
	t.Run("ddp", func(t *testing.T) { compareTorchrun(t, py, pkg, dir, "DDP", a, common) })
	t.Run("fsdp", func(t *testing.T) {
		if err := exec.Command(py, "-c", "from torch.distributed.fsdp import FullyShardedDataParallel").Run(); err != nil {
			t.Skipf("this PyTorch cannot import FSDP (%v); --fsdp reports that and exits", err)
		}
		compareTorchrun(t, py, pkg, dir, "FSDP", a, append(common, "--fsdp"))
	})
}

// compareTorchrun runs train.py under torchrun with two processes and
// compares its metrics with one process's; it returns the run folder and
// its metrics.
func compareTorchrun(t *testing.T, py, pkg, dir, kind string, a map[int]train.Record, args []string) (string, map[int]train.Record) {
	two := filepath.Join(dir, kind)
	// --redirects/--tee: the default "0" does not parse under Python 3.11
	// in PyTorch 1.13's torchrun (Debian's); these values work everywhere.
	// a bound on the run: a hang (a collective one process never reaches)
	// fails this test with the output so far, not the whole suite's timeout
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append([]string{"-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
		"--redirects", "1", "--tee", "1", "--log_dir", filepath.Join(dir, "logs-"+kind), "train.py", "--out", two}, args...)...)
	cmd.Dir = pkg
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("torchrun: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "2 processes ("+kind+")") {
		t.Errorf("torchrun did not run two %s processes:\n%s", kind, out)
	}
	b := metrics(t, two)
	if len(a) != 5 || len(b) != 5 {
		t.Fatalf("one process logged %d steps, two processes %d", len(a), len(b))
	}
	for s := 1; s <= 5; s++ {
		x, y := a[s], b[s]
		if !near(y.Loss, x.Loss, 1e-5) || !near(y.GradNorm, x.GradNorm, 1e-5) {
			t.Errorf("step %d: two processes loss %.9g gnorm %.9g, one process %.9g %.9g", s, y.Loss, y.GradNorm, x.Loss, x.GradNorm)
		}
		if (x.ValLoss == nil) != (y.ValLoss == nil) || x.ValLoss != nil && !near(*y.ValLoss, *x.ValLoss, 1e-5) {
			t.Errorf("step %d: validation losses differ: %v, %v", s, y.ValLoss, x.ValLoss)
		}
		t.Logf("step %d: one process %.9g, two processes %.9g", s, x.Loss, y.Loss)
	}
	return two, b
}

// TestTorchrunMoE: with mixture-of-experts sublayers, two processes under
// torchrun (each routing its half of the global batch of 4) log what one
// process logs for 5 steps: the losses, gradient norms, auxiliary losses
// (relative 1e-5) and the experts' loads of the global batch (exactly),
// and end with the selection biases of one process, bit for bit: the
// counts behind the load are summed over the processes before the biases
// move and before the auxiliary loss uses them.
func TestTorchrunMoE(t *testing.T) {
	py := requireTorch(t)
	for _, c := range moeCases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p, m, src := moeModel(t, c.res, c.attrs, 5)
			pkg := filepath.Join(dir, "pkg")
			emitPackage(t, p, m, src, pkg)
			common := []string{"--set", "train.batch=4"}
			one := filepath.Join(dir, "one")
			python(t, py, pkg, append([]string{"train.py", "--out", one}, common...)...)
			a := metrics(t, one)
			two, b := compareTorchrun(t, py, pkg, dir, "DDP", a, common)
			sameMoESteps(t, "two processes", b, a, 1, 5)
			last := "ckpt-000005"
			if x, y := selectionBiases(t, p, filepath.Join(two, last)), selectionBiases(t, p, filepath.Join(one, last)); !slices.Equal(x, y) {
				t.Errorf("selection biases at step 5: two processes %v, one process %v", x, y)
			}
		})
	}
}
