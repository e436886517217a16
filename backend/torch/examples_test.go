package torch_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/backend"
	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/backend/torch"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// examples lists every .mhc file under examples/.
func examples(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("../../examples", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(p) == ".mhc" {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) < 10 {
		t.Fatalf("examples: %v (%d files)", err, len(files))
	}
	return files
}

// hugeParams is the size above which an example is not built in full by
// these tests: the mHC paper's configurations (examples/paper/3b.mhc,
// 9b.mhc, 27b.mhc and their twins) have billions of parameters.
const hugeParams = 100_000_000

// paperShrink are the --set overrides that shrink a paper configuration to
// a model a test builds in a second, with every statement kept (MLA, the
// dense first layer, the MoE layers with shared experts, the residual):
// the `let`s of its shape, its vocabulary and its context. It also raises
// the norms' eps from the paper's 1e-20 to mhcc's default 1e-6: with HC's
// one-hot read of identical streams, the first block's input is
// (Σ_j a_m[j])·x, and an RMSNorm with eps 1e-20 is scale-invariant to
// float64 precision, so the gradients of that block's read weights are 0
// analytically and what either backend computes for them is rounding
// noise, no reference for the other (at 1e-6 they are small but real).
var paperShrink = []string{
	"model.layers=3", "model.d=32", "model.heads=2", "model.head_dim=8", "model.rope_dim=4",
	"model.kv_rank=16", "model.experts=8", "model.expert_hidden=8", "model.vocab=64", "model.context=8",
	"model.eps=1e-6",
}

// compileExample compiles an example at -O2 with the overrides set.
func compileExample(t *testing.T, path string, set []string) (*lang.Program, *ir.Module, []byte) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	prog, diags := lang.LoadWith(path, src, lang.Options{Set: set})
	if prog == nil {
		t.Fatalf("%s: %v", path, diags)
	}
	m, _, err := compiler.Compile(prog, compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return prog, m, src
}

// paramCount is the number of parameters of m, from its types alone.
func paramCount(m *ir.Module) int {
	n := 0
	for _, p := range m.Params() {
		k, _ := p.Type.Shape.Size()
		n += k
	}
	return n
}

// exampleFeed compiles an example at -O2 and draws its initial weights
// (the Gorgonia backend's init for the seed) and a batch of B windows.
// An example of more than hugeParams parameters is compiled shrunk by
// paperShrink (TestPaperConfigsEmit emits it at full size).
func exampleFeed(t *testing.T, path string, B int) (*ir.Module, backend.Feed) {
	t.Helper()
	prog, m, _ := compileExample(t, path, nil)
	if n := paramCount(m); n > hugeParams {
		t.Logf("%s: %d parameters, too many to build here: checked with %v", path, n, paperShrink)
		prog, m, _ = compileExample(t, path, paperShrink)
	}
	T := prog.Model.Context
	binds := map[string]int{compiler.SymBatch: B, compiler.SymTime: T}
	g, err := gb.Build(m, gb.Options{Binds: binds, DType: gb.Float64})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.InitParams(7)
	feed := backend.Feed{Binds: binds, Params: map[string][]float64{}, Ints: map[string][]int{}}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range g.Params() {
		v := append([]float64(nil), p.F64()...)
		// perturb the constant inits (gains, biases, alphas) so that
		// every gradient is exercised away from its initial symmetry
		for i := range v {
			v[i] += 0.01 * rng.NormFloat64()
		}
		feed.Params[p.Name] = v
	}
	for _, name := range []string{compiler.InputTokens, compiler.InputTargets} {
		ids := make([]int, B*T)
		for i := range ids {
			ids[i] = rng.IntN(prog.Model.Vocab)
		}
		feed.Ints[name] = ids
	}
	return m, feed
}

// TestExamplesMatchGorgonia: for every example, the same weights and
// batch give the emitted module the Gorgonia backend's loss (relative
// 1e-5) and every gradient (max|Δ| ≤ 1e-4·max|g| per tensor), in float32
// and in float64 (1e-10 and 1e-8 there). Where Gorgonia's own float32
// gradient is further than 1e-4/4 of the largest entry from its float64
// gradient (the small, cancelling gradients of deep hyper-connection
// coefficients), it is no reference at 1e-4: there the emitted module's
// float32 gradient must be as close to the float64 gradient as 1e-4 of
// the largest entry or as twice Gorgonia's float32 error.
//
// The width-1536 bench models (114M parameters) are not run here: their
// text is checked to be that of the width-512 model they scale (the same
// statements, so the same emitted code, which is run) with only the
// width, batch, name and header comment changed.
func TestExamplesMatchGorgonia(t *testing.T) {
	requireTorch(t)
	for _, path := range examples(t) {
		t.Run(filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path), func(t *testing.T) {
			if base, ok := widerBench[filepath.Base(path)]; ok {
				checkWider(t, path, filepath.Join(filepath.Dir(path), base))
				return
			}
			m, feed := exampleFeed(t, path, 1)
			exact, err := gb.Backend{DType: gb.Float64}.Run(m, feed, true)
			if err != nil {
				t.Fatal(err)
			}
			for _, prec := range []struct {
				f64              bool
				lossTol, gradTol float64
			}{{false, 1e-5, 1e-4}, {true, 1e-10, 1e-8}} {
				want := exact
				if !prec.f64 {
					if want, err = (gb.Backend{DType: gb.Float32}).Run(m, feed, true); err != nil {
						t.Fatal(err)
					}
				}
				got, err := torch.Backend{F64: prec.f64}.Run(m, feed, true)
				if err != nil {
					t.Fatal(err)
				}
				name := fmt.Sprintf("float%d", map[bool]int{false: 32, true: 64}[prec.f64])
				l, lw := got.Outputs["loss"][0], want.Outputs["loss"][0]
				if math.Abs(l-lw) > prec.lossTol*math.Abs(lw) {
					t.Errorf("%s: loss %.9g, Gorgonia %.9g (relative %.2g)", name, l, lw, math.Abs(l-lw)/math.Abs(lw))
				}
				worst, at, widened := 0.0, "", 0
				for p, gw := range want.Grads {
					g, g64 := got.Grads[p], exact.Grads[p]
					if len(g) != len(gw) {
						t.Fatalf("%s: gradient of %s: %d values, Gorgonia %d", name, p, len(g), len(gw))
					}
					d, d64, s, own := 0.0, 0.0, 0.0, 0.0
					for i := range g {
						d = math.Max(d, math.Abs(g[i]-gw[i]))
						d64 = math.Max(d64, math.Abs(g[i]-g64[i]))
						s = math.Max(s, math.Abs(gw[i]))
						own = math.Max(own, math.Abs(gw[i]-g64[i]))
					}
					s = math.Max(s, 1e-12)
					tol := prec.gradTol * s
					switch {
					case prec.f64 || 4*own <= tol:
						if d > tol {
							t.Errorf("%s: gradient of %s differs from Gorgonia's by %.2g of its largest entry", name, p, d/s)
						}
					default:
						widened++
						if bound := math.Max(tol, 2*own); d64 > bound {
							t.Errorf("%s: gradient of %s is %.2g (of its largest entry) from the float64 gradient; Gorgonia's float32 gradient is %.2g from it",
								name, p, d64/s, own/s)
						}
					}
					if d/s > worst {
						worst, at = d/s, p
					}
				}
				t.Logf("%s: loss %.6f, relative loss difference %.2g, worst gradient %s %.2g of its largest entry; %d tensors held to the float64 gradient",
					name, l, math.Abs(l-lw)/math.Abs(lw), at, worst, widened)
			}
		})
	}
}

// widerBench maps the width-1536 bench models to the models they scale.
var widerBench = map[string]string{"wide1536.mhc": "wide.mhc", "wide1536_plain.mhc": "wide_plain.mhc"}

// checkWider checks that the file at path is the file at base with only
// its first (comment) line, its model name, the width d = 512 → 1536 and
// the batch 8 → 4 changed.
func checkWider(t *testing.T, path, base string) {
	t.Helper()
	lines := func(p string) []string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(string(b), "\n")
	}
	la, lb := lines(path), lines(base)
	if len(la) != len(lb) || !strings.HasPrefix(la[0], "# ") {
		t.Fatalf("%s: %d lines, %s %d", path, len(la), base, len(lb))
	}
	name := strings.TrimSuffix(filepath.Base(path), ".mhc")
	scaled := map[string]string{"  let d = 512": "  let d = 1536", "  batch 8": "  batch 4",
		"model " + strings.TrimSuffix(filepath.Base(base), ".mhc") + " {": "model " + name + " {"}
	changed := 0
	for i := 1; i < len(la); i++ {
		if la[i] == lb[i] {
			continue
		}
		if scaled[lb[i]] != la[i] {
			t.Errorf("%s:%d: %q; %s has %q", path, i+1, la[i], base, lb[i])
		}
		changed++
	}
	if changed != len(scaled) {
		t.Errorf("%s: %d lines scaled, want %d", path, changed, len(scaled))
	}
}
