package bench

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mhcc/mhcc/compiler"
)

// fakeExternal is an external model whose steps take the given times.
type fakeExternal struct {
	warmup int
	walls  []time.Duration
	steps  int
	failAt int // 1-based step that fails (0: none)
}

func (f *fakeExternal) Start(warmup int) (ExternalInfo, error) {
	f.warmup = warmup
	return ExternalInfo{Label: "Fake", Level: "eager", Params: 42, Runtime: "fake runtime, 3 threads"}, nil
}

func (f *fakeExternal) Step() (ExternalStep, error) {
	f.steps++
	if f.steps == f.failAt {
		return ExternalStep{}, errors.New("the fake broke")
	}
	w := f.walls[(f.steps-1)%len(f.walls)]
	return ExternalStep{Wall: w, CPU: 2 * w, Loss: 1.5, PeakRSS: 7 << 20}, nil
}

// TestRunVersusExternal: an external model is started with the warm-up
// count, stepped once per timed step interleaved with the model of this
// process, and reported with its own times (their median: 30 ms of 10,
// 30, 50), the first model's FLOPs, batch and context, its runtime, and
// the ratio of the medians over as many pairs as steps; the text report
// names its runtime and the speedup. An error of the external model ends
// the run with it.
func TestRunVersusExternal(t *testing.T) {
	a := spec(t, micro, compiler.O2)
	ms := time.Millisecond
	f := &fakeExternal{walls: []time.Duration{10 * ms, 50 * ms, 30 * ms}}
	rep, err := Run(Config{Steps: 3, Warmup: 2, PeakSize: -1, Versus: f}, a)
	if err != nil {
		t.Fatal(err)
	}
	if f.warmup != 2 || f.steps != 3 || len(rep.Models) != 2 || rep.Ratio == nil || rep.Ratio.Pairs != 3 {
		t.Fatalf("warm-up %d, steps %d, models %d, ratio %+v", f.warmup, f.steps, len(rep.Models), rep.Ratio)
	}
	mine, ext := rep.Models[0], rep.Models[1]
	if ext.Step.Median != 30*ms || ext.CPU.Median != 60*ms || ext.Params != 42 || ext.Loss != 1.5 || ext.Memory.PeakRSS != 7<<20 {
		t.Errorf("external model: %+v", ext)
	}
	if ext.FLOPsPerStep != mine.FLOPsPerStep || ext.Batch != mine.Batch || ext.Context != mine.Context || ext.Name != "micro" || len(ext.Ops) != 0 {
		t.Errorf("external model: FLOPs %v batch %d context %d name %s ops %v", ext.FLOPsPerStep, ext.Batch, ext.Context, ext.Name, ext.Ops)
	}
	if want := float64(mine.Step.Median) / float64(30*ms); rep.Ratio.OfMedians != want {
		t.Errorf("ratio %v, want %v", rep.Ratio.OfMedians, want)
	}
	var text bytes.Buffer
	if err := WriteText(&text, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\nFake (model micro, eager, B=2 T=8, 42 params, 2 streams)\n  runtime      fake runtime, 3 threads\n  step time    median 30.0 ms",
		"  memory       peak RSS 7.0 MiB (its own process)\n",
		"\nratio micro.mhc -O2 / Fake eager: ",
		"\nspeedup over Fake eager: ",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, text.String())
		}
	}

	f = &fakeExternal{walls: []time.Duration{ms}, failAt: 2}
	if _, err := Run(Config{Steps: 3, PeakSize: -1, Versus: f}, a); err == nil || !strings.Contains(err.Error(), "the fake broke") {
		t.Errorf("a failing external step: %v", err)
	}
	if _, err := Run(Config{Steps: 3, PeakSize: -1, Versus: f}, a, a); err == nil {
		t.Error("two specs and an external model: no error")
	}
}
