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
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// tinySource is a 2-layer (4-sublayer) model small enough for a full
// finite-difference check; residual is spliced in.
func tinySource(residual string) string {
	return `model tiny {
  vocab 11
  context 5
  embed dim=8
  ` + residual + `
  repeat 2 {
    block attn { norm rms; attention heads=2 rope=true }
    block mlp { norm rms; mlp hidden=12 act=gelu }
  }
  norm rms
  head tied
}
`
}

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
	_, m := compile(t, tinySource("residual streams=4 constraint=birkhoff sinkhorn=20"))
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
	checked := 0
	for _, p := range g.Params() {
		grad := p.GradF64()
		vals := params[p.Name]
		var maxErr, maxNum float64
		for i := range vals {
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
		if maxNum == 0 {
			t.Errorf("%s: zero gradient everywhere; the check would be vacuous", p.Name)
			continue
		}
		if rel := maxErr / maxNum; rel > 1e-6 {
			t.Errorf("%s: max |analytic − numeric| = %.3g (relative %.3g)", p.Name, maxErr, rel)
		}
	}
	t.Logf("checked %d parameter elements in %d tensors", checked, len(g.Params()))
}

// TestOneStreamIdentityEqualsPlain: one stream with the identity mixing is
// the plain pre-norm residual, written through the stream machinery.
func TestOneStreamIdentityEqualsPlain(t *testing.T) {
	_, plain := compile(t, tinySource("residual plain"))
	_, ident := compile(t, tinySource("residual streams=1 constraint=identity"))
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
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", "tiny.mhc"))
	if err != nil {
		t.Fatal(err)
	}
	p, m := compile(t, string(src))
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
