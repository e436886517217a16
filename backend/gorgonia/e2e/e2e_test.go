package e2e

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/ir"
)

const examplesDir = "../../../examples"

func compileExample(t testing.TB, path string, level compiler.Level) (*ir.Module, *compiler.Stats) {
	t.Helper()
	res, err := compiler.CompileFile(path, compiler.Options{Level: level})
	if err != nil {
		t.Fatalf("%s %v: %v", path, level, err)
	}
	if res.Diags.HasErrors() || res.Module == nil {
		t.Fatalf("%s %v: %v", path, level, res.Diags)
	}
	return res.Module, res.Stats
}

func exampleFiles(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.mhc"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in %s (%v)", examplesDir, err)
	}
	return files
}

// tokens is a deterministic batch of ids in [0, v).
func tokens(n, v, seed int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = (i*7 + seed*3 + i*i) % v
	}
	return out
}

// stepGraph builds a float32 training graph, sets its params with init and
// feeds one fixed batch.
func stepGraph(t testing.TB, m *ir.Module, binds map[string]int, init func(*gb.Graph)) *gb.Graph {
	t.Helper()
	g, err := gb.Build(m, gb.Options{Binds: binds, DType: gb.Float32, Grad: true})
	if err != nil {
		t.Fatal(err)
	}
	init(g)
	n := binds["B"] * binds["T"]
	for name, seed := range map[string]int{"tokens": 1, "targets": 2} {
		if err := g.SetInput(name, tokens(n, 256, seed)); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// copyParams copies every param of src into dst by name; both graphs must
// have the same params with the same shapes.
func copyParams(t testing.TB, dst, src *gb.Graph) {
	t.Helper()
	if len(dst.Params()) != len(src.Params()) {
		t.Fatalf("param count %d vs %d", len(dst.Params()), len(src.Params()))
	}
	for _, p := range dst.Params() {
		q := src.Param(p.Name)
		if q == nil || !slices.Equal(p.Shape, q.Shape) {
			t.Fatalf("param %s %v has no counterpart of the same shape", p.Name, p.Shape)
		}
		copy(p.F32(), q.F32())
	}
}

func relErr(a, b float64) float64 {
	return math.Abs(a-b) / math.Max(math.Max(math.Abs(a), math.Abs(b)), 1e-12)
}

// TestExamplesO0VsO2 checks, for every example, that -O0 and -O2 give the
// same loss and the same gradient for every parameter on the same batch and
// weights: relative difference ≤ 1e-4 in float32 (for a gradient, the max
// norm of the difference over the max norm of the -O0 gradient).
func TestExamplesO0VsO2(t *testing.T) {
	for _, f := range exampleFiles(t) {
		// T=128 is the examples' context: causal attention takes its
		// blocked path
		for _, binds := range []map[string]int{{"B": 2, "T": 16}, {"B": 1, "T": 128}} {
			t.Run(fmt.Sprintf("%s/B=%d,T=%d", filepath.Base(f), binds["B"], binds["T"]), func(t *testing.T) { checkO0VsO2(t, f, binds) })
		}
	}
}

// TestAblationSetsO0VsO2 runs the check of TestExamplesO0VsO2 on the
// ablation sets in subfolders of examples/ablation (llama/: grouped-query
// attention with qk_norm, SwiGLU, an untied head), at one small size.
func TestAblationSetsO0VsO2(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "ablation", "*", "*.mhc"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no ablation sets in %s (%v)", examplesDir, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			checkO0VsO2(t, f, map[string]int{"B": 2, "T": 16})
		})
	}
}

// checkO0VsO2 compares one example at -O0 and -O2 with the given binds.
func checkO0VsO2(t *testing.T, f string, binds map[string]int) {
	m0, _ := compileExample(t, f, compiler.O0)
	m2, _ := compileExample(t, f, compiler.O2)
	g0 := stepGraph(t, m0, binds, func(g *gb.Graph) { g.InitParams(1337) })
	defer g0.Close()
	g2 := stepGraph(t, m2, binds, func(g *gb.Graph) { copyParams(t, g, g0) })
	defer g2.Close()
	l0, err := g0.Run()
	if err != nil {
		t.Fatal(err)
	}
	l2, err := g2.Run()
	if err != nil {
		t.Fatal(err)
	}
	if e := relErr(l0, l2); e > 1e-4 || math.IsNaN(l0) {
		t.Errorf("loss -O0 %v, -O2 %v (rel %.3g)", l0, l2, e)
	}
	var worst float64
	for _, p := range g0.Params() {
		q := g2.Param(p.Name)
		var maxD, maxG float64
		for i, v := range p.GradF32() {
			maxD = math.Max(maxD, math.Abs(float64(v-q.GradF32()[i])))
			maxG = math.Max(maxG, math.Abs(float64(v)))
		}
		rel := 0.0
		if maxD > 0 {
			rel = maxD / maxG
		}
		worst = math.Max(worst, rel)
		if rel > 1e-4 || maxG == 0 {
			t.Errorf("gradient of %s: max|Δ| %.3g, max|g| %.3g (rel %.3g)", p.Name, maxD, maxG, rel)
		}
	}
	t.Logf("loss %.6f vs %.6f (rel %.2g); %d params, worst gradient rel %.2g", l0, l2, relErr(l0, l2), len(g0.Params()), worst)
}

// TestTinyNodeCounts pins the sizes of examples/tiny.mhc (B=2, T=16): what
// the fusion passes report, and the Gorgonia node counts (forward +
// backward) at -O0 and -O2. When lowering or a pass changes on purpose,
// update the numbers from the test's log.
func TestTinyNodeCounts(t *testing.T) {
	f := filepath.Join(examplesDir, "tiny.mhc")
	m0, _ := compileExample(t, f, compiler.O0)
	m2, st := compileExample(t, f, compiler.O2)
	// 4 blocks × (attention + MLP) = 8 hyper-connected sublayers, each with
	// its coefficients, Sinkhorn, read, write and pre-norm (+1 final norm);
	// 4 attentions with fused QKV; 4 MLP GELUs; one loss.
	want := map[string]int{
		"fuse-rmsnorm": 9, "fuse-hc-coeffs": 8, "fuse-sinkhorn": 8, "fuse-hc-read": 8,
		"fuse-hc-write": 8, "fuse-qkv": 4, "fuse-attention": 4, "fuse-cross-entropy": 1,
		"fuse-gelu": 4,
	}
	for pass, n := range want {
		if got := st.Get(pass, "fused"); got != n {
			t.Errorf("%s fused %d, want %d", pass, got, n)
		}
	}
	nodes := func(m *ir.Module) int {
		g, err := gb.Build(m, gb.Options{Binds: map[string]int{"B": 2, "T": 16}, Grad: true})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		return g.NodeCount()
	}
	n0, n2 := nodes(m0), nodes(m2)
	t.Logf("IR values -O0 %d, -O2 %d; Gorgonia nodes -O0 %d, -O2 %d (%.1f× fewer)",
		len(m0.Values), len(m2.Values), n0, n2, float64(n0)/float64(n2))
	// pinned, see the doc comment. -O2: 458 before the stream plan
	// (backend/gorgonia/streams.go) removed, per sublayer, the two stock
	// Adds summing X's three gradients and the two part nodes exposing
	// hc.read's and hc.write's dX: 8 × 4 = 32 fewer.
	const wantN0, wantN2 = 3035, 426
	if n0 != wantN0 || n2 != wantN2 {
		t.Errorf("Gorgonia nodes -O0 %d, -O2 %d; pinned %d and %d", n0, n2, wantN0, wantN2)
	}
	if n2*5 > n0 {
		t.Errorf("the -O2 graph (%d nodes) is not far smaller than -O0 (%d)", n2, n0)
	}
}

// cpuTime is the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTinyStep times one training step (Graph.Run: forward and
// backward; the optimizer update is the same at every level and not
// included) of examples/tiny.mhc at its own batch size (B=16, T=128), -O0
// and -O2 interleaved in the same run, and reports both (mean and fastest
// wall time, CPU time) and the speedups:
//
//	go test -run '^$' -bench TinyStep -benchtime 5x ./backend/gorgonia/e2e/
func BenchmarkTinyStep(b *testing.B) {
	f := filepath.Join(examplesDir, "tiny.mhc")
	binds := map[string]int{"B": 16, "T": 128}
	m0, _ := compileExample(b, f, compiler.O0)
	m2, _ := compileExample(b, f, compiler.O2)
	g0 := stepGraph(b, m0, binds, func(g *gb.Graph) { g.InitParams(1) })
	defer g0.Close()
	g2 := stepGraph(b, m2, binds, func(g *gb.Graph) { copyParams(b, g, g0) })
	defer g2.Close()
	var w0, w2, c0, c2 time.Duration
	m0min, m2min := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
	step := func(g *gb.Graph, w, c, wmin *time.Duration) {
		cs, ws := cpuTime(), time.Now()
		if _, err := g.Run(); err != nil {
			b.Fatal(err)
		}
		d := time.Since(ws)
		*w += d
		*c += cpuTime() - cs
		*wmin = min(*wmin, d)
	}
	var skip time.Duration
	step(g0, &skip, &skip, &skip) // first runs allocate
	step(g2, &skip, &skip, &skip)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step(g0, &w0, &c0, &m0min)
		step(g2, &w2, &c2, &m2min)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(w0), "O0-ms/step")
	b.ReportMetric(ms(w2), "O2-ms/step")
	b.ReportMetric(float64(w0)/float64(w2), "speedup")
	// on a shared machine the fastest step of each level is the steadier
	// estimate, and CPU time is immune to waiting for a core
	b.ReportMetric(float64(m0min.Microseconds())/1000, "O0-min-ms")
	b.ReportMetric(float64(m2min.Microseconds())/1000, "O2-min-ms")
	b.ReportMetric(float64(m0min)/float64(m2min), "min-speedup")
	b.ReportMetric(ms(c0), "O0-cpu-ms/step")
	b.ReportMetric(ms(c2), "O2-cpu-ms/step")
	b.ReportMetric(float64(c0)/float64(c2), "cpu-speedup")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkTinyStepO2 times -O2 steps alone (for profiles: add
// -cpuprofile cpu.out).
func BenchmarkTinyStepO2(b *testing.B) { benchLevel(b, compiler.O2) }

// BenchmarkTinyStepO0 times -O0 steps alone.
func BenchmarkTinyStepO0(b *testing.B) { benchLevel(b, compiler.O0) }

func benchLevel(b *testing.B, level compiler.Level) {
	m, _ := compileExample(b, filepath.Join(examplesDir, "tiny.mhc"), level)
	g := stepGraph(b, m, map[string]int{"B": 16, "T": 128}, func(g *gb.Graph) { g.InitParams(1) })
	defer g.Close()
	if _, err := g.Run(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := g.Run(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/step")
}

// TestTinyOpTimes prints where a training step of examples/tiny.mhc (B=16,
// T=128) spends its time, by op kind, at -O0 and -O2. It is skipped unless
// MHCC_BENCH=1.
func TestTinyOpTimes(t *testing.T) {
	if os.Getenv("MHCC_BENCH") == "" {
		t.Skip("set MHCC_BENCH=1")
	}
	for _, level := range []compiler.Level{compiler.O0, compiler.O2} {
		m, _ := compileExample(t, filepath.Join(examplesDir, "tiny.mhc"), level)
		g := stepGraph(t, m, map[string]int{"B": 16, "T": 128}, func(g *gb.Graph) { g.InitParams(1) })
		if _, err := g.Run(); err != nil {
			t.Fatal(err)
		}
		const steps = 3
		var wall, cpu time.Duration
		kinds := gb.OpTimes(func() {
			c0, w0 := cpuTime(), time.Now()
			for range steps {
				if _, err := g.Run(); err != nil {
					t.Fatal(err)
				}
			}
			wall, cpu = time.Since(w0), cpuTime()-c0
		})
		var keys []string
		var inOps time.Duration
		for k, d := range kinds {
			keys = append(keys, k)
			inOps += d
		}
		slices.SortFunc(keys, func(a, b string) int { return int(kinds[b] - kinds[a]) })
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / steps }
		t.Logf("%v: %.1f ms/step wall, %.1f ms/step CPU, %.1f ms in custom ops, %d nodes", level, ms(wall), ms(cpu), ms(inOps), g.NodeCount())
		for _, k := range keys {
			t.Logf("  %-30s %8.2f ms/step", k, ms(kinds[k]))
		}
		g.Close()
	}
}
