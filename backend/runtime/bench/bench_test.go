package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/compiler"

	// Defines -update, which `go test ./... -update` hands to every test binary.
	_ "github.com/mhcc/mhcc/internal/golden"
)

func msd(xs ...float64) []time.Duration {
	var out []time.Duration
	for _, x := range xs {
		out = append(out, time.Duration(x*float64(time.Millisecond)))
	}
	return out
}

func TestSummarize(t *testing.T) {
	for _, c := range []struct {
		name                     string
		in                       []time.Duration
		median, q1, q3, min, max time.Duration
		mean                     time.Duration
	}{
		{"one", msd(5), msd(5)[0], msd(5)[0], msd(5)[0], msd(5)[0], msd(5)[0], msd(5)[0]},
		{"odd, unsorted", msd(9, 1, 5, 3, 7), msd(5)[0], msd(3)[0], msd(7)[0], msd(1)[0], msd(9)[0], msd(5)[0]},
		// type 7: ranks 0.75, 1.5 and 2.25 of 1 2 3 4
		{"even", msd(4, 3, 2, 1), msd(2.5)[0], msd(1.75)[0], msd(3.25)[0], msd(1)[0], msd(4)[0], msd(2.5)[0]},
		{"outlier", msd(10, 10, 10, 10, 100), msd(10)[0], msd(10)[0], msd(10)[0], msd(10)[0], msd(100)[0], msd(28)[0]},
	} {
		in := append([]time.Duration(nil), c.in...)
		s := Summarize(c.in)
		if s.N != len(c.in) || s.Median != c.median || s.Q1 != c.q1 || s.Q3 != c.q3 || s.Min != c.min || s.Max != c.max || s.Mean != c.mean {
			t.Errorf("%s: got %+v", c.name, s)
		}
		if s.IQR() != c.q3-c.q1 {
			t.Errorf("%s: IQR %v", c.name, s.IQR())
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Errorf("%s: Summarize modified its input", c.name)
			}
		}
	}
	if s := Summarize(nil); s != (Stats{}) {
		t.Errorf("empty sample: %+v", s)
	}
}

func TestMedianFloat(t *testing.T) {
	if m := MedianFloat([]float64{3, 1, 2}); m != 2 {
		t.Errorf("odd: %v", m)
	}
	if m := MedianFloat([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("even: %v", m)
	}
	if m := MedianFloat(nil); !math.IsNaN(m) {
		t.Errorf("empty: %v", m)
	}
}

func TestMemoryRead(t *testing.T) {
	rss, peak := RSS(), PeakRSS()
	if rss == 0 {
		t.Skip("no /proc/self/status")
	}
	if peak < rss {
		t.Errorf("VmHWM %d < VmRSS %d", peak, rss)
	}
	if ResetPeakRSS() && PeakRSS() == 0 {
		t.Error("no VmHWM after the reset")
	}
}

func TestMeasurePeak(t *testing.T) {
	if g := MeasurePeak(64, 2); !(g > 0) || math.IsInf(g, 0) {
		t.Errorf("peak %v GFLOP/s", g)
	}
}

const micro = `model micro {
  vocab 32
  context 8
  embed dim=16
  residual streams=2 constraint=birkhoff sinkhorn=3
  repeat 1 {
    block attn {
      norm rms
      attention heads=2
    }
    block mlp {
      norm rms
      mlp hidden=32
    }
  }
  norm rms
  head tied
}

train {
  batch 2
}
`

func spec(t *testing.T, src string, level compiler.Level) Spec {
	t.Helper()
	res, err := compiler.CompileSource("micro.mhc", []byte(src), compiler.Options{Level: level})
	if err != nil || res.Module == nil {
		t.Fatalf("compile: %v %v", err, res.Diags)
	}
	return Spec{File: "micro.mhc", Program: res.Program, Module: res.Module, Level: level}
}

// TestRun checks the report's bookkeeping on a tiny model (no timed
// assertion).
func TestRun(t *testing.T) {
	// the batch is the program's (mhcc bench --batch overrides it there)
	src := strings.Replace(micro, "batch 2", "batch 3", 1)
	a, b := spec(t, src, compiler.O2), spec(t, src, compiler.O0)
	rep, err := Run(Config{Steps: 3, Warmup: 1, PeakSize: 32, TopOps: 4}, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Models) != 2 || rep.Ratio == nil || rep.Ratio.Pairs != 3 {
		t.Fatalf("models %d, ratio %+v", len(rep.Models), rep.Ratio)
	}
	for _, m := range rep.Models {
		if m.Step.N != 3 || m.Batch != 3 || m.Context != 8 || m.Streams != 2 {
			t.Errorf("%s: %+v", m.Level, m.Step)
		}
		if m.Step.Min > m.Step.Median || m.Step.Median > m.Step.Max || m.Step.Min <= 0 {
			t.Errorf("%s: step stats out of order: %+v", m.Level, m.Step)
		}
		if m.FLOPsPerStep <= 0 || m.GFLOPS <= 0 || m.MFU <= 0 || m.TokensPerSec <= 0 || math.IsNaN(m.Loss) {
			t.Errorf("%s: flops %v gflops %v mfu %v tok/s %v loss %v", m.Level, m.FLOPsPerStep, m.GFLOPS, m.MFU, m.TokensPerSec, m.Loss)
		}
		// 4 op kinds + the rest + optimizer + other
		if len(m.Ops) != 7 || !strings.HasPrefix(m.Ops[5].Op, "optimizer") {
			t.Errorf("%s: ops %+v", m.Level, m.Ops)
		}
		if m.Memory.Theory() <= m.Memory.ActivationBytes || m.Memory.OptimizerBytes != 8*m.Params { // two float32 moments
			t.Errorf("%s: memory %+v", m.Level, m.Memory)
		}
	}
	// the same model at -O0 and -O2: the same FLOPs (the analysis does not
	// depend on the level), more graph nodes at -O0
	if rep.Models[0].FLOPsPerStep != rep.Models[1].FLOPsPerStep || rep.Models[0].Nodes >= rep.Models[1].Nodes {
		t.Errorf("FLOPs %v vs %v, nodes %d vs %d", rep.Models[0].FLOPsPerStep, rep.Models[1].FLOPsPerStep, rep.Models[0].Nodes, rep.Models[1].Nodes)
	}
	var text, js bytes.Buffer
	if err := WriteText(&text, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"BLAS: ", "matmul peak: ", "ratio micro.mhc -O2 / micro.mhc -O0: ", "time by op", "MFU"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Models) != 2 || back.Models[1].Step.Median != rep.Models[1].Step.Median {
		t.Errorf("JSON round trip: %v", err)
	}
}

// TestRunTwoGEMMs: two models on different GEMMs (gonum's, which every
// build has, against the one in use) get their own matmul peaks and
// GEMM names, the ratio of the peaks, and the GEMM in use is restored.
func TestRunTwoGEMMs(t *testing.T) {
	start := gb.CurrentGEMM()
	if start == gb.GEMMGo {
		t.Skip("this build or CPU has only gonum's GEMM: nothing to compare it with")
	}
	a, b := spec(t, micro, compiler.O2), spec(t, micro, compiler.O2)
	a.GEMM = gb.GEMMGo
	rep, err := Run(Config{Steps: 2, Warmup: 0, PeakSize: 64, TopOps: 4}, a, b)
	if err != nil {
		t.Fatal(err)
	}
	ma, mb := rep.Models[0], rep.Models[1]
	if ma.GEMM != gb.GEMMGo || mb.GEMM != start || gb.CurrentGEMM() != start {
		t.Errorf("GEMMs %q and %q (want go and %q); after the run %q", ma.GEMM, mb.GEMM, start, gb.CurrentGEMM())
	}
	if !(ma.PeakGFLOPS > 0) || !(mb.PeakGFLOPS > 0) || rep.PeakGFLOPS != ma.PeakGFLOPS || rep.Ratio.PeakRatio != ma.PeakGFLOPS/mb.PeakGFLOPS {
		t.Errorf("peaks %v, %v, report %v, ratio %v", ma.PeakGFLOPS, mb.PeakGFLOPS, rep.PeakGFLOPS, rep.Ratio.PeakRatio)
	}
	if ma.MFU != ma.GFLOPS/ma.PeakGFLOPS || mb.MFU != mb.GFLOPS/mb.PeakGFLOPS {
		t.Errorf("MFU %v, %v: not against each model's own peak", ma.MFU, mb.MFU)
	}
	var text bytes.Buffer
	if err := WriteText(&text, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"GFLOP/s on go, ", "  GEMM         go\n", "ratio micro.mhc on go / micro.mhc on " + start, "matmul peak ratio go / " + start} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	a.GEMM = "sse"
	if _, err := Run(Config{Steps: 1, PeakSize: -1}, a); err == nil || !strings.Contains(err.Error(), "micro.mhc") {
		t.Errorf("unknown GEMM: %v", err)
	}
}

func TestRunErrors(t *testing.T) {
	if _, err := Run(Config{}); err == nil {
		t.Error("no model: no error")
	}
	a := spec(t, micro, compiler.O2)
	if _, err := Run(Config{Steps: -1}, a); err == nil {
		t.Error("negative steps: no error")
	}
}

// TestOptimizerMemoryIsTheOptimizersState: the optimizer memory of the IR
// analysis (mhcc summary, the theory of mhcc bench) is the state the
// runtime's optimizer actually keeps, counted from its snapshot: AdamW's
// two float32 moments (float64 with moments=f64), SGD's float64 momentum
// buffer.
func TestOptimizerMemoryIsTheOptimizersState(t *testing.T) {
	for _, opt := range []string{"", "optimizer adamw", "optimizer adamw moments=f64", "optimizer sgd momentum=0.9", "optimizer sgd"} {
		src := strings.Replace(micro, "batch 2", "batch 2\n  "+opt, 1)
		m, err := newModel(spec(t, src, compiler.O2), Config{}, 1)
		if err != nil {
			t.Fatal(err)
		}
		var state int64
		for _, b := range m.opt.Snapshot().Buffers {
			state += 8*int64(len(b.Data)) + 4*int64(len(b.F32))
		}
		m.g.Close()
		if m.Memory.OptimizerBytes != state || state == 0 {
			t.Errorf("%q: the analysis counts %d bytes of optimizer state, the optimizer keeps %d", opt, m.Memory.OptimizerBytes, state)
		}
	}
}
