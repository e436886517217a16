package torch_test

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/backend/runtime/bench"
	"github.com/mhcc/mhcc/backend/torch"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/internal/testmodels"
	"github.com/mhcc/mhcc/ir"
)

// TestBenchModule: the PyTorch module of `mhcc bench --vs-torch` runs in
// its own process: it reports its parameter count (the model's: the
// selection biases of the MoE model are not trained, so not counted),
// the thread counts it tried and the one it kept, and one step per
// request with positive times and a finite loss of about ln(vocab) from
// the initial weights; bench.Run interleaves it with mhcc's steps. No
// timing is asserted.
func TestBenchModule(t *testing.T) {
	requireTorch(t)
	for _, c := range []struct {
		name, src string
		threads   int
	}{
		{"small, thread search", testmodels.Small(), 0},
		{"moe, one thread", testmodels.MoE("residual plain", ""), 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, m, src := compileSource(t, "model.mhc", c.src)
			bm, err := torch.NewBenchModule(p, m, src, "model.mhc", torch.BenchOptions{Threads: c.threads})
			if err != nil {
				t.Fatal(err)
			}
			defer bm.Close()
			rep, err := bench.Run(bench.Config{Steps: 2, Warmup: 1, PeakSize: -1, Versus: bm},
				bench.Spec{File: "model.mhc", Program: p, Module: m, Level: compiler.O2})
			if err != nil {
				t.Fatal(err)
			}
			mine, py := rep.Models[0], rep.Models[1]
			var trained int64
			for _, v := range m.Params() {
				if n, _ := v.Type.Shape.Size(); ir.ParamTrainable(v) {
					trained += int64(n)
				}
			}
			if py.Params != trained || py.File != "PyTorch" || py.Level != "eager" || py.Step.N != 2 || py.Step.Min <= 0 || rep.Ratio.Pairs != 2 {
				t.Errorf("PyTorch model: params %d (want %d), %s %s, steps %+v, ratio %+v", py.Params, trained, py.File, py.Level, py.Step, rep.Ratio)
			}
			if lnV := math.Log(float64(p.Model.Vocab)); !(math.Abs(py.Loss-lnV) < 1) {
				t.Errorf("PyTorch loss %v, want about ln %d = %.3f", py.Loss, p.Model.Vocab, lnV)
			}
			want := `, 1 thread \(set by --torch-threads\)$`
			if c.threads == 0 {
				var tried []string
				for _, k := range torch.ThreadCounts() {
					tried = append(tried, fmt.Sprintf("%d: [0-9.]+ ms", k))
				}
				want = `, [0-9]+ threads? \(the fastest median of 2 steps per thread count: ` + strings.Join(tried, ", ") + `\)$`
			}
			if !regexp.MustCompile(`^PyTorch [^ ]+ \(Python [^ ]+\) eager on CPU, torch.optim.AdamW` + want).MatchString(py.Runtime) {
				t.Errorf("runtime %q does not match %q", py.Runtime, want)
			}
			t.Logf("%s; mhcc %v, PyTorch %v per step", py.Runtime, mine.Step.Median, py.Step.Median)
		})
	}
}
