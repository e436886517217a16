package train

import (
	"bufio"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/backend/ref"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/internal/testmodels"
	"github.com/mhcc/mhcc/ir"
)

// TestAmaxGainNonSymmetric: forward gain = max absolute row sum, backward
// gain = max absolute column sum, on a non-symmetric matrix with a
// negative sum (a transpose swaps them; a missing abs changes both).
func TestAmaxGainNonSymmetric(t *testing.T) {
	P := []float64{
		1, 2, 0, // row sums 3, 0.5, −4
		0, 0, 0.5, // column sums −3, 2, 0.5
		-4, 0, 0,
	}
	fwd, bwd := amaxGain(P, 3)
	if fwd != 4 || bwd != 3 {
		t.Errorf("amaxGain = %g, %g; want 4 (row −4) and 3 (column −3)", fwd, bwd)
	}
}

// TestStatsCompositeAndMeans: the composite is H^(1)·H^(0) (the first
// sublayer's matrix acts first), per token, then averaged; the single
// gains and the coefficient means average over tokens (and streams); the
// Sinkhorn residual is the maximum over sublayers and tokens.
func TestStatsCompositeAndMeans(t *testing.T) {
	H0 := []float64{2, 0, 0, 1}
	H1 := []float64{1, 1, 0, 1}
	// Token 0: H1·H0 = [[2,1],[0,1]]: row sums 3, 1; column sums 2, 2.
	// (H0·H1 = [[2,2],[0,1]] would give 4 and 3.)
	// Token 1: both identity: gains 1.
	I := []float64{1, 0, 0, 1}
	v := hcValues{n: 2, tokens: 2, sinkhornResidue: true,
		pre:  [][]float64{{0.1, 0.3, 0.5, 0.7}, {1, 1, 1, 1}},
		post: [][]float64{{2, 2, 0, 0}, {0.5, 0.5, 0.5, 1.5}},
		res:  [][]float64{append(append([]float64{}, H0...), I...), append(append([]float64{}, H1...), I...)},
	}
	st := v.stats()
	eq := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-15 {
			t.Errorf("%s = %g, want %g", what, got, want)
		}
	}
	eq("composite_gain_fwd", st.CompositeGainFwd, (3+1)/2.0)
	eq("composite_gain_bwd", st.CompositeGainBwd, (2+1)/2.0)
	// H0: rows 2, 1 → fwd 2; columns 2, 1 → bwd 2. H1: rows 2, 1; columns 1, 2.
	eq("gain_fwd[0]", st.GainFwd[0], (2+1)/2.0)
	eq("gain_bwd[0]", st.GainBwd[0], (2+1)/2.0)
	eq("gain_fwd[1]", st.GainFwd[1], (2+1)/2.0)
	eq("gain_bwd[1]", st.GainBwd[1], (2+1)/2.0)
	eq("hpre_mean[0]", st.HPreMean[0], 0.4)
	eq("hpost_mean[1]", st.HPostMean[1], 0.75)
	eq("sinkhorn_row_err", *st.SinkhornRowErr, 1) // H0 row 0 and H1 row 0 sum to 2
	eq("sinkhorn_col_err", *st.SinkhornColErr, 1)
	if !st.finite() {
		t.Error("finite stats reported as non-finite")
	}
	st.GainFwd[1] = math.Inf(1)
	if st.finite() {
		t.Error("an infinite gain is reported as finite")
	}
}

// TestBirkhoffCompositeGainsBounded: 50 doubly stochastic matrices
// (Sinkhorn-Knopp of N(0,1) logits, 20 iterations, by the reference
// interpreter and by the float32 Gorgonia kernel) keep every single and
// every partial composite gain within 1 + 1e-3.
func TestBirkhoffCompositeGainsBounded(t *testing.T) {
	const n, L = 4, 50
	b := ir.NewBuilder("t.mhc")
	logits := b.Param("L", ir.Dims(L, n, n), ir.Init{Kind: "zeros"}, false)
	H := b.Apply(ir.OpSinkhorn, ir.Attrs{{Key: "iters", Val: 20}}, logits)
	b.Output("h", H)
	b.Output("loss", b.Reshape(b.Sum(H, 0, 1, 2), ir.Shape{}))
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(50, 20))
	vals := make([]float64, L*n*n)
	for i := range vals {
		vals[i] = rng.NormFloat64()
	}
	out, err := ref.Eval(b.M, nil, map[string][]float64{"L": vals}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gb.Build(b.M, gb.Options{DType: gb.Float32})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for i, x := range vals {
		g.Param("L").F32()[i] = float32(x)
	}
	g32, err := g.RunOutputs("h")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]float64{"reference": out["h"].Data, "gorgonia float32": g32["h"]} {
		v := hcValues{n: n, tokens: 1, sinkhornResidue: true}
		for k := 0; k < L; k++ {
			Hk := data[k*n*n : (k+1)*n*n]
			v.res = append(v.res, Hk)
			v.pre, v.post = append(v.pre, []float64{0}), append(v.post, []float64{0})
			for _, x := range Hk {
				if x <= 0 {
					t.Fatalf("%s: matrix %d has a non-positive entry", name, k)
				}
			}
			// Every prefix composite H^(k)···H^(0).
			pre := v
			pre.res = v.res[:k+1]
			st := pre.stats()
			if st.CompositeGainFwd > 1+1e-3 || st.CompositeGainBwd > 1+1e-3 {
				t.Fatalf("%s: composite of %d matrices has gains %g, %g", name, k+1, st.CompositeGainFwd, st.CompositeGainBwd)
			}
			if st.GainFwd[k] > 1+1e-3 || st.GainBwd[k] > 1+1e-3 {
				t.Fatalf("%s: matrix %d has gains %g, %g", name, k, st.GainFwd[k], st.GainBwd[k])
			}
		}
		st := v.stats()
		t.Logf("%s: composite gains %.9f %.9f, Sinkhorn residual rows %.2g columns %.2g", name,
			st.CompositeGainFwd, st.CompositeGainBwd, *st.SinkhornRowErr, *st.SinkhornColErr)
	}
}

// diagProgram is the tiny model of model_test.go with residual spliced
// in and a train block that computes diagnostics every 3 steps.
func diagProgram(residual string) string {
	return testmodels.Tiny(residual) + "train {\n  batch 2\n  steps 7\n  eval every=0\n  diagnostics every=3\n  log every=7\n}\n"
}

// metricsKeys reads the keys of every metrics.jsonl line of a run.
func metricsKeys(t *testing.T, dir string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out = append(out, keys)
	}
	return out
}

// TestMetricsDiagnosticsKeys: the diagnostics keys appear exactly on step
// 1, every third step and the last step, with one list entry per
// sublayer; the Sinkhorn residual only for birkhoff; nothing for a plain
// residual or with the diagnostics turned off.
func TestMetricsDiagnosticsKeys(t *testing.T) {
	base := []string{"grad_norm", "loss", "lr", "ms", "step", "tok_s"}
	hc := []string{"composite_gain_bwd", "composite_gain_fwd", "gain_bwd", "gain_fwd", "hpost_mean", "hpre_mean"}
	sk := []string{"sinkhorn_col_err", "sinkhorn_row_err"}
	for _, c := range []struct {
		residual string
		opts     Options
		want     []string // keys of a diagnostics step; nil: none
	}{
		{"residual plain", Options{}, nil},
		{"residual streams=4 constraint=birkhoff sinkhorn=5", Options{}, append(append([]string{}, hc...), sk...)},
		{"residual streams=4 constraint=birkhoff sinkhorn=5", Options{DiagEvery: SetZero}, nil},
		{"residual streams=3 constraint=none", Options{}, hc},
		{"residual streams=2 constraint=permutations dynamic=false", Options{}, hc},
		{"residual streams=4 constraint=identity", Options{}, hc},
	} {
		t.Run(c.residual, func(t *testing.T) {
			p, m := compile(t, diagProgram(c.residual))
			dir := t.TempDir()
			c.opts.OutDir = dir
			if _, err := Run(p, m, c.opts); err != nil {
				t.Fatal(err)
			}
			keys := metricsKeys(t, dir)
			if len(keys) != 7 {
				t.Fatalf("%d metrics lines", len(keys))
			}
			for i, k := range keys {
				step := i + 1
				want := base
				if c.want != nil && (step == 1 || step%3 == 0 || step == 7) {
					want = append(append([]string{}, base...), c.want...)
					sort.Strings(want)
				}
				if !slices.Equal(k, want) {
					t.Errorf("step %d keys %v, want %v", step, k, want)
				}
			}
			recs, err := ReadMetrics(dir)
			if err != nil {
				t.Fatal(err)
			}
			if r := recs[0]; c.want != nil {
				if len(r.GainFwd) != 4 || len(r.GainBwd) != 4 || len(r.HPreMean) != 4 || len(r.HPostMean) != 4 {
					t.Errorf("step 1: lists of %d %d %d %d entries, want 4 (one per sublayer)", len(r.GainFwd), len(r.GainBwd), len(r.HPreMean), len(r.HPostMean))
				}
				if strings.Contains(c.residual, "identity") {
					if *r.CompositeGainFwd != 1 || r.HPreMean[0] != 0.25 || r.HPostMean[0] != 1 {
						t.Errorf("identity: composite %g, hpre %g, hpost %g", *r.CompositeGainFwd, r.HPreMean[0], r.HPostMean[0])
					}
				}
				if strings.Contains(c.residual, "none") && (math.Abs(r.GainFwd[0]-1) > 1e-6 || math.Abs(r.HPreMean[0]-1.0/3) > 1e-6) {
					// At init HC is the identity mixing with a one-hot read.
					t.Errorf("HC at init: gain %v, hpre mean %v", r.GainFwd, r.HPreMean)
				}
			}
		})
	}
}

// TestDiagnosticsMatchReference: the training-time diagnostics (float32
// Gorgonia graph sharing the training parameters) equal the statistics of
// the reference interpreter's coefficients for the same weights and batch.
func TestDiagnosticsMatchReference(t *testing.T) {
	for _, residual := range []string{
		"residual streams=4 constraint=birkhoff sinkhorn=5",
		"residual streams=3 constraint=none",
		"residual streams=3 constraint=stochastic",
	} {
		t.Run(residual, func(t *testing.T) {
			p, m := compile(t, testmodels.Tiny(residual))
			const B, T = 2, 5
			g, err := gb.Build(m, gb.Options{Binds: map[string]int{compiler.SymBatch: B, compiler.SymTime: T}, DType: gb.Float32, Grad: true})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			params := map[string][]float64{}
			rng := rand.New(rand.NewPCG(9, 9))
			for _, prm := range g.Params() {
				d := make([]float64, len(prm.F32()))
				for i := range d {
					d[i] = 0.3 * rng.NormFloat64()
					if strings.HasSuffix(prm.Name, "norm.weight") || strings.HasSuffix(prm.Name, ".alpha") {
						d[i] += 1
					}
					prm.F32()[i] = float32(d[i])
					d[i] = float64(prm.F32()[i])
				}
				params[prm.Name] = d
			}
			d, err := newDiagnoser(p, g, B, T)
			if err != nil {
				t.Fatal(err)
			}
			defer d.close()
			tokens, targets := randomTokens(1, B*T, 11), randomTokens(2, B*T, 11)
			got, err := d.run(tokens, targets)
			if err != nil {
				t.Fatal(err)
			}
			dm, err := compiler.LowerDiagnostics(p)
			if err != nil {
				t.Fatal(err)
			}
			out, err := ref.Eval(dm, map[string]int{compiler.SymBatch: B, compiler.SymTime: T}, params,
				map[string][]int{compiler.InputTokens: tokens, compiler.InputTargets: targets})
			if err != nil {
				t.Fatal(err)
			}
			v := hcValues{n: p.Model.Residual.Streams, tokens: B * T, sinkhornResidue: strings.Contains(residual, "birkhoff")}
			for k := range p.Model.Blocks {
				v.pre = append(v.pre, out[compiler.HCOutput(k, compiler.HCPre)].Data)
				v.post = append(v.post, out[compiler.HCOutput(k, compiler.HCPost)].Data)
				v.res = append(v.res, out[compiler.HCOutput(k, compiler.HCRes)].Data)
			}
			want := v.stats()
			close := func(what string, a, b float64) {
				t.Helper()
				if math.Abs(a-b) > 1e-4*math.Max(1, math.Abs(b)) {
					t.Errorf("%s: gorgonia %.8g, reference %.8g", what, a, b)
				}
			}
			close("composite_gain_fwd", got.CompositeGainFwd, want.CompositeGainFwd)
			close("composite_gain_bwd", got.CompositeGainBwd, want.CompositeGainBwd)
			for k := range want.GainFwd {
				close("gain_fwd", got.GainFwd[k], want.GainFwd[k])
				close("gain_bwd", got.GainBwd[k], want.GainBwd[k])
				close("hpre_mean", got.HPreMean[k], want.HPreMean[k])
				close("hpost_mean", got.HPostMean[k], want.HPostMean[k])
			}
			if want.SinkhornRowErr != nil {
				close("sinkhorn_col_err", *got.SinkhornColErr, *want.SinkhornColErr)
			}
			t.Logf("composite gains %.6f %.6f", got.CompositeGainFwd, got.CompositeGainBwd)
		})
	}
}

// TestEveryVariantTrains trains the tiny model with every residual variant
// for a few dozen steps: the loss falls and stays finite, and the
// diagnostics of the last step are present.
func TestEveryVariantTrains(t *testing.T) {
	for _, residual := range []string{
		"residual streams=4 constraint=birkhoff",
		"residual streams=4 constraint=birkhoff dynamic=false init=uniform",
		"residual streams=4 constraint=stochastic collapse=learned",
		"residual streams=4 constraint=stochastic dynamic=false",
		"residual streams=4 constraint=permutations",
		"residual streams=4 constraint=permutations dynamic=false collapse=mean",
		"residual streams=4 constraint=none",
		"residual streams=4 constraint=none dynamic=false",
		"residual streams=4 constraint=identity",
	} {
		t.Run(strings.TrimPrefix(residual, "residual streams=4 "), func(t *testing.T) {
			src := testmodels.Tiny(residual) + "train {\n  batch 8\n  steps 40\n  optimizer adamw lr=1e-2\n  eval every=0\n  diagnostics every=40\n  log every=10\n}\n"
			p, m := compile(t, src)
			dir := t.TempDir()
			if _, err := Run(p, m, Options{OutDir: dir}); err != nil {
				t.Fatal(err)
			}
			recs, err := ReadMetrics(dir)
			if err != nil {
				t.Fatal(err)
			}
			first, last := 0.0, 0.0
			for i := 0; i < 10; i++ {
				first += recs[i].Loss / 10
				last += recs[len(recs)-1-i].Loss / 10
			}
			if !(last < first-0.15) {
				t.Errorf("mean loss of the first 10 steps %.4f, of the last 10 %.4f: want a drop of 0.15", first, last)
			}
			if r := recs[len(recs)-1]; r.CompositeGainFwd == nil || len(r.GainFwd) != 4 {
				t.Errorf("no diagnostics at the last step: %+v", r)
			} else {
				t.Logf("loss %.3f → %.3f; composite gains %.4f %.4f", first, last, *r.CompositeGainFwd, *r.CompositeGainBwd)
			}
		})
	}
}
