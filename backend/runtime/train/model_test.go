package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/backend/ref"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/internal/testmodels"
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

func compile(t *testing.T, src string) (*lang.Program, *ir.Module) {
	t.Helper()
	res, err := compiler.CompileSource("tiny.mhc", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if res.Module == nil {
		var b strings.Builder
		res.Diags.Render(&b, res.Source, false, 20)
		t.Fatalf("compile errors:\n%s", b.String())
	}
	return res.Program, res.Module
}

// randomize overwrites every parameter with values large enough that
// every path of the model (including the dynamic mHC coefficients, whose
// α starts at 0.01) contributes visibly to the loss and its gradient.
func randomize(g *gb.Graph, seed uint64) map[string][]float64 {
	rng := rand.New(rand.NewPCG(seed, 99))
	vals := map[string][]float64{}
	for _, p := range g.Params() {
		d := p.F64()
		for i := range d {
			switch {
			case strings.HasSuffix(p.Name, "norm.weight"):
				d[i] = 1 + 0.3*rng.NormFloat64()
			case strings.HasSuffix(p.Name, ".alpha"):
				d[i] = 0.5 + 0.5*rng.Float64()
			default:
				d[i] = 0.4 * rng.NormFloat64()
			}
		}
		vals[p.Name] = append([]float64(nil), d...)
	}
	return vals
}

func randomTokens(seed uint64, n, vocab int) []int {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]int, n)
	for i := range out {
		out[i] = rng.IntN(vocab)
	}
	return out
}

// TestGradientEveryParameterMHC checks the float64 Gorgonia gradient of
// every element of every parameter of a 2-layer, n=4 mHC model, through the
// whole compiled graph, against central finite differences of the
// independent reference interpreter.
func TestGradientEveryParameterMHC(t *testing.T) {
	gradCheck(t, testmodels.Tiny("residual streams=4 constraint=birkhoff sinkhorn=20"), math.MaxInt, 0)
}

// gradCheck compares the float64 Gorgonia gradient of the model src (the
// shape of the tiny model: vocab 11, context 5) against central finite
// differences of the reference interpreter, for every parameter tensor:
// every element of the
// tensors of at most maxAll elements, and a fixed sample of sample
// elements (the first and the last among them) of larger ones. The
// tolerance is 1e-6 of the tensor's largest gradient plus 1e-9, a few
// times the rounding noise of the differences (loss ≈ 2.4, ε = 1e-6):
// some gradients are genuinely tiny, such as the read weights of the
// first sublayer, whose streams are all equal so that the sublayer's norm
// cancels the read's scale. A tensor whose gradient is below 1e-8 at
// every checked element fails as vacuous. A tensor no gradient trains
// (a router's selection bias) must have none: its central differences
// must be exactly 0.
func gradCheck(t *testing.T, src string, maxAll, sample int) {
	t.Helper()
	_, m := compile(t, src)
	binds := map[string]int{compiler.SymBatch: 2, compiler.SymTime: 5}
	g, err := gb.Build(m, gb.Options{Binds: binds, DType: gb.Float64, Grad: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	params := randomize(g, 1)
	inputs := map[string][]int{
		compiler.InputTokens:  randomTokens(2, 10, 11),
		compiler.InputTargets: randomTokens(3, 10, 11),
	}
	for name, v := range inputs {
		if err := g.SetInput(name, v); err != nil {
			t.Fatal(err)
		}
	}
	loss, err := g.Run()
	if err != nil {
		t.Fatal(err)
	}
	refLoss := func() float64 {
		outs, err := ref.Eval(m, binds, params, inputs)
		if err != nil {
			t.Fatal(err)
		}
		return outs[compiler.OutputLoss].Data[0]
	}
	if l0 := refLoss(); math.Abs(l0-loss) > 1e-10*math.Abs(l0) {
		t.Fatalf("gorgonia loss %.15g, reference interpreter %.15g", loss, l0)
	}
	const eps = 1e-6
	rng := rand.New(rand.NewPCG(17, 17))
	checked := 0
	for _, p := range g.Params() {
		grad := p.GradF64()
		vals := params[p.Name]
		idx := make([]int, len(vals))
		for i := range idx {
			idx[i] = i
		}
		if len(vals) > maxAll {
			rng.Shuffle(len(idx)-2, func(i, j int) { idx[i+1], idx[j+1] = idx[j+1], idx[i+1] })
			idx = append(idx[:sample-1], len(vals)-1)
		}
		var maxErr, maxNum float64
		for _, i := range idx {
			orig := vals[i]
			vals[i] = orig + eps
			lp := refLoss()
			vals[i] = orig - eps
			lm := refLoss()
			vals[i] = orig
			num := (lp - lm) / (2 * eps)
			maxErr = max(maxErr, math.Abs(num-grad[i]))
			maxNum = max(maxNum, math.Abs(num))
			checked++
		}
		if !p.Trainable {
			if maxNum != 0 || maxErr != 0 {
				t.Errorf("%s (trainable=false): central differences up to %.3g, gradient %v", p.Name, maxNum, grad)
			}
			continue
		}
		if maxNum < 1e-8 {
			t.Errorf("%s: gradient below 1e-8 at every checked element; the check would be vacuous", p.Name)
			continue
		}
		if maxErr > 1e-6*maxNum+1e-9 {
			t.Errorf("%s: max |analytic − numeric| = %.3g (max |gradient| %.3g)", p.Name, maxErr, maxNum)
		}
	}
	t.Logf("checked %d parameter elements in %d tensors", checked, len(g.Params()))
}

// TestGradientEveryParameterVariants runs the finite-difference check of
// every parameter tensor for each residual variant (2 layers, n = 4; the
// elements of large tensors sampled, which the birkhoff check above
// covers in full).
func TestGradientEveryParameterVariants(t *testing.T) {
	for _, residual := range []string{
		"residual streams=4 constraint=none",
		"residual streams=4 constraint=none dynamic=false init=uniform",
		"residual streams=4 constraint=birkhoff dynamic=false sinkhorn=5",
		"residual streams=4 constraint=birkhoff sinkhorn=6 init=uniform collapse=learned",
		"residual streams=4 constraint=stochastic",
		"residual streams=4 constraint=stochastic dynamic=false collapse=mean",
		"residual streams=4 constraint=permutations",
		"residual streams=4 constraint=permutations dynamic=false",
		"residual streams=4 constraint=none collapse=learned",
		"residual streams=4 constraint=identity",
		// recomputed stream tensors (X_1 and X_3 of the 4 sublayers)
		"residual streams=4 constraint=birkhoff sinkhorn=7 recompute=true",
		"residual streams=4 constraint=none recompute=true",
		"residual streams=4 constraint=stochastic dynamic=false recompute=true",
	} {
		t.Run(strings.TrimPrefix(residual, "residual streams=4 "), func(t *testing.T) {
			gradCheck(t, testmodels.Tiny(residual), 40, 12)
		})
	}
}

// TestHCAtInitEqualsPlain: constraint=none at its initialisation is the
// pre-norm residual (identical streams, one-hot read, identity mix, write
// 1, zero dynamic weights), so with collapse=mean (the mean of n equal
// streams is the stream) it gives the plain model's loss for the same
// weights of the shared parameters, within float32 rounding.
func TestHCAtInitEqualsPlain(t *testing.T) {
	_, plain := compile(t, testmodels.Tiny("residual plain"))
	_, hc := compile(t, testmodels.Tiny("residual streams=4 constraint=none collapse=mean"))
	binds := map[string]int{compiler.SymBatch: 2, compiler.SymTime: 5}
	inputs := map[string][]int{
		compiler.InputTokens:  randomTokens(6, 10, 11),
		compiler.InputTargets: randomTokens(7, 10, 11),
	}
	for _, dt := range []gb.DType{gb.Float64, gb.Float32} {
		gp, err := gb.Build(plain, gb.Options{Binds: binds, DType: dt})
		if err != nil {
			t.Fatal(err)
		}
		defer gp.Close()
		gh, err := gb.Build(hc, gb.Options{Binds: binds, DType: dt})
		if err != nil {
			t.Fatal(err)
		}
		defer gh.Close()
		// The same seed gives every shared parameter (embedding, norms,
		// attention, MLP) the same values: init streams are per name.
		gp.InitParams(42)
		gh.InitParams(42)
		shared := 0
		for _, p := range gp.Params() {
			q := gh.Param(p.Name)
			if q == nil {
				t.Fatalf("%s missing from the HC model", p.Name)
			}
			for i := range p.F32() {
				if p.F32()[i] != q.F32()[i] {
					t.Fatalf("%s differs", p.Name)
				}
			}
			for i := range p.F64() {
				if p.F64()[i] != q.F64()[i] {
					t.Fatalf("%s differs", p.Name)
				}
			}
			shared++
		}
		if len(gh.Params()) <= shared {
			t.Fatalf("the HC model has no parameters of its own")
		}
		var losses [2]float64
		for i, g := range []*gb.Graph{gp, gh} {
			for name, v := range inputs {
				if err := g.SetInput(name, v); err != nil {
					t.Fatal(err)
				}
			}
			if losses[i], err = g.Run(); err != nil {
				t.Fatal(err)
			}
		}
		tol := 1e-12
		if dt == gb.Float32 {
			tol = 2e-6
		}
		if math.Abs(losses[0]-losses[1]) > tol*math.Abs(losses[0]) {
			t.Errorf("dtype %v: plain loss %.10g, HC at init %.10g", dt, losses[0], losses[1])
		}
	}
}

// TestOneStreamIdentityEqualsPlain: one stream with the identity mixing is
// the plain pre-norm residual, written through the stream machinery.
func TestOneStreamIdentityEqualsPlain(t *testing.T) {
	_, plain := compile(t, testmodels.Tiny("residual plain"))
	_, ident := compile(t, testmodels.Tiny("residual streams=1 constraint=identity"))
	if a, b := strings.Join(plain.ParamNames(), " "), strings.Join(ident.ParamNames(), " "); a != b {
		t.Fatalf("parameter sets differ:\nplain:    %s\nidentity: %s", a, b)
	}
	if plain.String() == ident.String() {
		t.Fatalf("the two lowerings are textually identical; this test would not test the stream path")
	}
	binds := map[string]int{compiler.SymBatch: 2, compiler.SymTime: 5}
	inputs := map[string][]int{
		compiler.InputTokens:  randomTokens(4, 10, 11),
		compiler.InputTargets: randomTokens(5, 10, 11),
	}
	for _, dt := range []gb.DType{gb.Float64, gb.Float32} {
		gp, err := gb.Build(plain, gb.Options{Binds: binds, DType: dt, Grad: true})
		if err != nil {
			t.Fatal(err)
		}
		defer gp.Close()
		gi, err := gb.Build(ident, gb.Options{Binds: binds, DType: dt, Grad: true})
		if err != nil {
			t.Fatal(err)
		}
		defer gi.Close()
		gp.InitParams(42)
		gi.InitParams(42)
		for _, g := range []*gb.Graph{gp, gi} {
			for name, v := range inputs {
				if err := g.SetInput(name, v); err != nil {
					t.Fatal(err)
				}
			}
		}
		lp, err := gp.Run()
		if err != nil {
			t.Fatal(err)
		}
		li, err := gi.Run()
		if err != nil {
			t.Fatal(err)
		}
		tol := 1e-12
		if dt == gb.Float32 {
			tol = 1e-6
		}
		if math.Abs(lp-li) > tol*math.Abs(lp) {
			t.Errorf("dtype %v: plain loss %.10g, streams=1 identity loss %.10g", dt, lp, li)
		}
	}
}

// TestTinyExampleLearnsDefaultData trains examples/tiny.mhc (its real
// architecture, a smaller batch) for a few dozen steps on the built-in
// Markov data and checks the loss falls well below its starting value.
func TestTinyExampleLearnsDefaultData(t *testing.T) {
	learnsDefaultData(t, filepath.Join("..", "..", "..", "examples", "tiny.mhc"))
}

// TestMLAExamplesLearnDefaultData does the same for the multi-head latent
// attention models of examples/ablation/mla (with a query latent, plain
// and mHC residuals; the files train on dyck, the test on the Markov
// data).
func TestMLAExamplesLearnDefaultData(t *testing.T) {
	for _, name := range []string{"1_plain.mhc", "2_mhc.mhc"} {
		t.Run(name, func(t *testing.T) {
			learnsDefaultData(t, filepath.Join("..", "..", "..", "examples", "ablation", "mla", name))
		})
	}
}

// learnsDefaultData trains the model of file for 40 steps of batch 4 on
// the built-in Markov data (the default data, whatever the file's) and
// wants a drop of a nat.
func learnsDefaultData(t *testing.T, file string) {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p, m := compile(t, string(src))
	p.Train.Data = lang.Data{Kind: lang.DataSynthetic, Task: "markov", Sampling: lang.SamplingRandom, Pos: p.Train.Data.Pos}
	p.Train.Batch = 4
	p.Train.Log.Every = 5
	p.Train.Eval.Every = 0
	var log strings.Builder
	res, err := Run(p, m, Options{Steps: 40, OutDir: t.TempDir(), Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	first := firstLoggedLoss(t, log.String())
	t.Logf("first window loss %.3f, last window %.3f, floor %.3f", first, res.FinalLoss, res.LossFloor)
	// At initialisation the loss is ≈ ln 256 = 5.55; the chain uses 32
	// states, so even the unigram statistics alone are worth ≈ 2 nats.
	if res.FinalLoss > first-1.0 {
		t.Errorf("loss went from %.3f to %.3f in 40 steps; want a drop of at least 1 nat\n%s", first, res.FinalLoss, log.String())
	}
}

func firstLoggedLoss(t *testing.T, log string) float64 {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		if !strings.HasPrefix(line, "step ") {
			continue
		}
		for _, f := range strings.Split(line, "|") {
			f = strings.TrimSpace(f)
			if v, ok := strings.CutPrefix(f, "loss "); ok {
				var x float64
				if _, err := fmt.Sscan(v, &x); err != nil {
					t.Fatal(err)
				}
				return x
			}
		}
	}
	t.Fatalf("no step line in log:\n%s", log)
	return 0
}

// TestVariantsO2MatchesO0: for every residual variant the float64 Gorgonia
// graph of the -O2 module (fused ops) gives the loss and every gradient of
// the -O0 module (primitive ops).
func TestVariantsO2MatchesO0(t *testing.T) {
	sources := map[string]string{
		// the fused SiLU activation (act=silu: the silu op and its fusion)
		"birkhoff act=silu": testmodels.Replace(testmodels.Tiny("residual streams=4 constraint=birkhoff"), "act=gelu", "act=silu"),
		// mixtures of experts: moe.experts against its gathered form
		"moe":                  testmodels.MoE("residual plain", ""),
		"moe birkhoff aux":     testmodels.MoE("residual streams=2 sinkhorn=4", "act=geglu balance=aux route_scale=2.5"),
		"moe k1 balance=none":  testmodels.Replace(testmodels.MoE("residual plain", "balance=none"), "active=2", "active=1"),
		"moe stochastic bias3": testmodels.Replace(testmodels.MoE("residual streams=2 constraint=stochastic", ""), "active=2", "active=3"),
	}
	for _, residual := range []string{
		"residual streams=4 constraint=birkhoff sinkhorn=7 collapse=learned",
		"residual streams=4 constraint=birkhoff dynamic=false",
		"residual streams=4 constraint=stochastic",
		"residual streams=4 constraint=permutations dynamic=false",
		"residual streams=4 constraint=permutations collapse=mean",
		"residual streams=4 constraint=none",
		"residual streams=4 constraint=none dynamic=false collapse=learned",
		"residual streams=4 constraint=identity",
		// recomputed stream tensors (X_1 and X_3 of the 4 sublayers)
		"residual streams=4 constraint=birkhoff sinkhorn=7 recompute=true",
		"residual streams=4 constraint=none recompute=true",
		"residual streams=4 constraint=stochastic dynamic=false recompute=true",
	} {
		sources[strings.TrimPrefix(residual, "residual streams=4 ")] = testmodels.Tiny(residual)
	}
	for name, src := range archVariants() {
		sources[name] = src
	}
	for name, text := range sources {
		t.Run(name, func(t *testing.T) {
			src := []byte(text)
			binds := map[string]int{compiler.SymBatch: 2, compiler.SymTime: 5}
			var losses []float64
			var grads []map[string][]float64
			var vals map[string][]float64 // by name: -O2 may declare the parameters in another order
			for _, level := range []compiler.Level{compiler.O0, compiler.O2} {
				res, err := compiler.CompileSource("tiny.mhc", src, compiler.Options{Level: level})
				if err != nil || res.Module == nil {
					t.Fatalf("%s: %v %v", level, err, res.Diags)
				}
				g, err := gb.Build(res.Module, gb.Options{Binds: binds, DType: gb.Float64, Grad: true})
				if err != nil {
					t.Fatal(err)
				}
				defer g.Close()
				if vals == nil {
					vals = randomize(g, 3)
				}
				for _, p := range g.Params() {
					copy(p.F64(), vals[p.Name])
				}
				for name, v := range map[string][]int{compiler.InputTokens: randomTokens(4, 10, 11), compiler.InputTargets: randomTokens(5, 10, 11)} {
					if err := g.SetInput(name, v); err != nil {
						t.Fatal(err)
					}
				}
				l, err := g.Run()
				if err != nil {
					t.Fatal(err)
				}
				gs := map[string][]float64{}
				for _, p := range g.Params() {
					gs[p.Name] = append([]float64(nil), p.GradF64()...)
				}
				losses, grads = append(losses, l), append(grads, gs)
			}
			if math.Abs(losses[0]-losses[1]) > 1e-10*math.Abs(losses[0]) {
				t.Errorf("-O0 loss %.15g, -O2 loss %.15g", losses[0], losses[1])
			}
			for name, g0 := range grads[0] {
				g2 := grads[1][name]
				for i := range g0 {
					if math.Abs(g0[i]-g2[i]) > 1e-9*math.Max(1, math.Abs(g0[i])) {
						t.Fatalf("%s[%d]: -O0 gradient %.12g, -O2 %.12g", name, i, g0[i], g2[i])
					}
				}
			}
		})
	}
}
