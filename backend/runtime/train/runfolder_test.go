package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRunFolderLock: a second run in a folder that a run is training in
// is refused, naming the process; the lock goes with the first run.
func TestRunFolderLock(t *testing.T) {
	dir := t.TempDir()
	release, err := lockFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockFolder(dir)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), fmt.Sprintf("process %d is training there", os.Getpid())) {
		t.Errorf("second lock: %v", err)
	}
	release()
	release2, err := lockFolder(dir)
	if err != nil {
		t.Fatalf("the lock outlived its run: %v", err)
	}
	release2()
}

func TestParseSteps(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []int
		err  string
	}{
		{"33", []int{33}, ""},
		{"31-33,40", []int{31, 32, 33, 40}, ""},
		{" 5 , 2-3", []int{5, 2, 3}, ""},
		{"0", nil, "steps count from 1"},
		{"5-3", nil, "a range goes up"},
		{"x", nil, `"x" is not a step`},
		{"3-", nil, `"3-" is not a step`},
		{"1-99999999", nil, "a range of more than"},
	} {
		got, err := ParseSteps(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseSteps(%q) = %v, %v; want an error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParseSteps(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	if got := formatSteps([]int{2, 3, 4, 7, 9, 10}); got != "2-4,7,9-10" {
		t.Errorf("formatSteps = %q", got)
	}
}

// TestDivergedAdvice: the advice after a divergence is a command: the
// run's own, resuming from the last good checkpoint, skipping the batch
// that diverged, or with half the learning rate.
func TestDivergedAdvice(t *testing.T) {
	e := &DivergedError{Step: 7, What: "loss", Value: 1, LastCheckpoint: "my run/ckpt-000006", Draw: 8, LR: 3e-4,
		Relaunch: "./train --out 'my run'"}
	msg := e.Error()
	for _, want := range []string{
		"last good checkpoint: my run/ckpt-000006",
		"\n  ./train --out 'my run' --resume='my run/ckpt-000006' --skip-batches 8\n",
		"(this step's was 3.00e-04):\n  ./train --out 'my run' --resume='my run/ckpt-000006' --set train.optimizer.lr=0.00015 --allow-changes",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("advice lacks %q:\n%s", want, msg)
		}
	}
	e.LastCheckpoint = ""
	if msg := e.Error(); !strings.Contains(msg, "no checkpoint was written before it") ||
		!strings.Contains(msg, "./train --out 'my run' --overwrite --skip-batches 8") || strings.Contains(msg, "--allow-changes") {
		t.Errorf("advice without a checkpoint:\n%s", msg)
	}
}

// TestSplitMetrics: a line cut off by a crash is dropped, the rest split
// at the step.
func TestSplitMetrics(t *testing.T) {
	p := filepath.Join(t.TempDir(), MetricsFile)
	os.WriteFile(p, []byte("{\"step\":1,\"loss\":2}\n{\"step\":2,\"loss\":1}\n{\"step\":3,\"lo"), 0o644)
	head, tail, err := splitMetrics(p, 1)
	if err != nil || string(head) != "{\"step\":1,\"loss\":2}\n" || string(tail) != "{\"step\":2,\"loss\":1}\n" {
		t.Errorf("splitMetrics = %q, %q, %v", head, tail, err)
	}
}
