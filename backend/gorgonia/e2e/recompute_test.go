package e2e

import (
	"fmt"
	"math"
	"strings"
	"testing"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/internal/testmodels"
	"github.com/mhcc/mhcc/ir"
)

// deepSource is testmodels.Deep: 16 hyper-connected sublayers, so that
// recompute=true (segment 4) recomputes segments of three stream tensors:
// X_1–3, X_5–7, X_9–11, X_13–15.
var deepSource = testmodels.Deep

func compileSource(t *testing.T, src string, level compiler.Level) *ir.Module {
	t.Helper()
	res, err := compiler.CompileSource("deep.mhc", []byte(src), compiler.Options{Level: level})
	if err != nil || res.Module == nil || res.Diags.HasErrors() {
		t.Fatalf("compile: %v %v", err, res.Diags)
	}
	return res.Module
}

// TestRecomputeExact: `recompute=true` changes memory, never values. For
// dynamic and static mHC, in float32 (AVX2 kernels) and float64, the loss
// and every parameter's gradient are bit-identical with and without
// recomputation, over three steps with parameter updates in between (so a
// recomputation from stale inputs would show).
func TestRecomputeExact(t *testing.T) {
	for _, c := range []struct {
		residual    string
		accumulated int // stream tensors whose gradient is accumulated (streams.go)
	}{
		{"residual streams=4 constraint=birkhoff sinkhorn=5", 16},
		{"residual streams=3 constraint=birkhoff dynamic=false", 16},
		// HC: the per-stream norm also reads X, so G.Grad sums its gradients
		{"residual streams=4 constraint=none collapse=learned", 0},
		// n = 1 (HC)
		{"residual streams=1 constraint=none", 0},
		// the permutation-matrix table, static and dynamic (hc.coeffs res=3!)
		{"residual streams=3 constraint=permutations dynamic=false", 16},
		{"residual streams=3 constraint=permutations", 16},
	} {
		residual := c.residual
		for _, dt := range []gb.DType{gb.Float32, gb.Float64} {
			t.Run(fmt.Sprintf("%s/%v", residual, dt), func(t *testing.T) {
				plain := compileSource(t, deepSource(residual), compiler.O2)
				re := compileSource(t, deepSource(residual+" recompute=true"), compiler.O2)
				if re.RecomputeSegment != 4 || plain.RecomputeSegment != 0 {
					t.Fatalf("recompute segments %d and %d, want 0 and 4", plain.RecomputeSegment, re.RecomputeSegment)
				}
				if !strings.Contains(re.String(), "\nrecompute streams segment=4\n") {
					t.Fatalf("the printed IR lacks the recompute line")
				}
				binds := map[string]int{"B": 2, "T": 6}
				build := func(m *ir.Module) *gb.Graph {
					g, err := gb.Build(m, gb.Options{Binds: binds, DType: dt, Grad: true})
					if err != nil {
						t.Fatal(err)
					}
					g.InitParams(7)
					return g
				}
				g0, g1 := build(plain), build(re)
				defer g0.Close()
				defer g1.Close()
				if s := g0.Streams(); s.Chains != 1 || s.Accumulated != c.accumulated || s.Recomputed != 0 {
					t.Errorf("without recompute: %+v, want 1 chain, %d accumulated, 0 recomputed", s, c.accumulated)
				}
				if s := g1.Streams(); s.Chains != 1 || s.Accumulated != c.accumulated || s.Recomputed != 12 || s.Segment != 4 {
					t.Errorf("with recompute: %+v, want 1 chain, %d accumulated, 12 recomputed, segment 4", s, c.accumulated)
				}
				for step := range 3 {
					for _, g := range []*gb.Graph{g0, g1} {
						for name, seed := range map[string]int{"tokens": 1 + step, "targets": 5 + step} {
							if err := g.SetInput(name, tokens(12, 13, seed)); err != nil {
								t.Fatal(err)
							}
						}
					}
					l0, err0 := g0.Run()
					l1, err1 := g1.Run()
					if err0 != nil || err1 != nil {
						t.Fatal(err0, err1)
					}
					if l0 != l1 || math.IsNaN(l0) {
						t.Fatalf("step %d: loss %v without recompute, %v with", step, l0, l1)
					}
					for _, p := range g0.Params() {
						q := g1.Param(p.Name)
						a, b := gradOf(p), gradOf(q)
						for i := range a {
							if a[i] != b[i] {
								t.Fatalf("step %d: %s[%d]: gradient %v without recompute, %v with", step, p.Name, i, a[i], b[i])
							}
						}
					}
					// the same SGD step on both
					for _, p := range g0.Params() {
						sgd(p)
						sgd(g1.Param(p.Name))
					}
				}
			})
		}
	}
}

func gradOf(p *gb.Param) []float64 {
	if g := p.GradF64(); g != nil {
		return g
	}
	var out []float64
	for _, v := range p.GradF32() {
		out = append(out, float64(v))
	}
	return out
}

func sgd(p *gb.Param) {
	if w := p.F64(); w != nil {
		for i, g := range p.GradF64() {
			w[i] -= 0.5 * g
		}
		return
	}
	w := p.F32()
	for i, g := range p.GradF32() {
		w[i] -= 0.5 * g
	}
}

// TestRecomputeWarningMatchesBackend: the compiler warns that
// `recompute=true` has no effect exactly when the backend's stream plan
// recomputes nothing, for every residual variant.
func TestRecomputeWarningMatchesBackend(t *testing.T) {
	for _, residual := range []string{
		"residual streams=4 constraint=birkhoff",
		"residual streams=4 constraint=birkhoff dynamic=false",
		"residual streams=4 constraint=stochastic",
		"residual streams=4 constraint=none",
		"residual streams=4 constraint=none dynamic=false",
		"residual streams=3 constraint=permutations",
		"residual streams=3 constraint=permutations dynamic=false",
		"residual streams=4 constraint=identity",
		"residual streams=1 constraint=identity",
		"residual streams=1 constraint=none",
	} {
		t.Run(residual, func(t *testing.T) {
			res, err := compiler.CompileSource("deep.mhc", []byte(deepSource(residual+" recompute=true")))
			if err != nil || res.Module == nil {
				t.Fatalf("compile: %v %v", err, res.Diags)
			}
			warned := false
			for _, d := range res.Diags {
				warned = warned || strings.Contains(d.Message, "`recompute=true`")
			}
			g, err := gb.Build(res.Module, gb.Options{Binds: map[string]int{"B": 1, "T": 6}, Grad: true})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			got := g.Streams().Recomputed
			_, recomputable := compiler.RecomputableStreams(res.Module)
			if warned != (got == 0) || (recomputable > 0) != (got > 0) {
				t.Errorf("warning %v, compiler finds %d recomputable, backend recomputes %d (diags %v)", warned, recomputable, got, res.Diags)
			}
		})
	}
}
