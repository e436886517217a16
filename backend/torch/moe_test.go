package torch_test

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mhcc/mhcc/backend/runtime/checkpoint"
	"github.com/mhcc/mhcc/backend/runtime/train"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/internal/testmodels"
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// moeCases are the mixture-of-experts models of the torch tests:
// testmodels.MoE (a dense layer, then two layers of 4 experts, 2 active,
// 1 shared) with DeepSeek-V3's selection bias (a rate large enough to
// move the routing within a few steps) under a plain residual, and with
// the auxiliary balance loss under mHC.
var moeCases = []struct{ name, res, attrs string }{
	{"bias", "residual plain", "bias_rate=0.05"},
	{"aux", "residual streams=2 sinkhorn=4", "balance=aux aux_weight=0.1"},
}

// moeModel compiles testmodels.MoE with the given residual and moe
// attributes, steps training steps and the train lines.
func moeModel(t *testing.T, res, attrs string, steps int, lines ...string) (*lang.Program, *ir.Module, []byte) {
	t.Helper()
	return compileSource(t, "moe.mhc", testmodels.Replace(testmodels.MoE(res, attrs, lines...), "  steps 40\n", fmt.Sprintf("  steps %d\n", steps)))
}

// selectionBiases reads the selection biases of the program's MoE
// sublayers from a checkpoint, concatenated in block order.
func selectionBiases(t *testing.T, p *lang.Program, ckpt string) []float32 {
	t.Helper()
	f, err := checkpoint.ReadSafetensors(filepath.Join(ckpt, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var out []float32
	for _, l := range compiler.MoELayers(p) {
		if l.Bias == "" {
			continue
		}
		tn := f.Tensor(l.Bias)
		if tn == nil {
			t.Fatalf("%s has no tensor %s", ckpt, l.Bias)
		}
		v := make([]float32, tn.NumElements())
		if err := tn.Float32s(v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v...)
	}
	return out
}

// sameMoESteps compares the steps from..to of two runs' metrics: losses
// and auxiliary losses relative 1e-5, the experts' max and min loads (a
// ratio of token counts) exactly.
func sameMoESteps(t *testing.T, what string, got, want map[int]train.Record, from, to int) {
	t.Helper()
	for s := from; s <= to; s++ {
		g, w := got[s], want[s]
		if g.Step != s || w.Step != s {
			t.Fatalf("%s: step %d missing (%d and %d steps logged)", what, s, len(got), len(want))
		}
		if !near(g.Loss, w.Loss, 1e-5) {
			t.Errorf("%s: step %d loss %.9g, want %.9g", what, s, g.Loss, w.Loss)
		}
		if len(w.MoEMaxLoad) != 2 || !slices.Equal(g.MoEMaxLoad, w.MoEMaxLoad) || !slices.Equal(g.MoEMinLoad, w.MoEMinLoad) {
			t.Errorf("%s: step %d loads max %v min %v, want %v %v", what, s, g.MoEMaxLoad, g.MoEMinLoad, w.MoEMaxLoad, w.MoEMinLoad)
		}
		if (g.AuxLoss == nil) != (w.AuxLoss == nil) || w.AuxLoss != nil && !near(*g.AuxLoss, *w.AuxLoss, 1e-5) {
			t.Errorf("%s: step %d auxiliary loss %v, want %v", what, s, fmtPtr(g.AuxLoss), fmtPtr(w.AuxLoss))
		}
		if (g.ValLoss == nil) != (w.ValLoss == nil) || w.ValLoss != nil && !near(*g.ValLoss, *w.ValLoss, 1e-5) {
			t.Errorf("%s: step %d validation loss %v, want %v", what, s, fmtPtr(g.ValLoss), fmtPtr(w.ValLoss))
		}
	}
}

func fmtPtr(x *float64) string {
	if x == nil {
		return "none"
	}
	return fmt.Sprint(*x)
}

// TestMoETrainsAsTrain: a mixture-of-experts model continues in train.py
// from ./train's checkpoint at step 2 exactly as ./train continues (steps
// 3–7: the same losses, auxiliary losses and validation loss, relative
// 1e-5; the same experts' loads; at step 7 the same selection biases,
// bit for bit, and they moved); and ./train continues from train.py's
// checkpoint at step 2 as train.py does. The biases travel in the
// checkpoints under mhcc's tensor names and have no optimizer state.
func TestMoETrainsAsTrain(t *testing.T) {
	py := requireTorch(t)
	for _, c := range moeCases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p, m, src := moeModel(t, c.res, c.attrs, 7, "checkpoint every=2 keep=0", "eval every=7 batches=2")
			pkg := filepath.Join(dir, "pkg")
			emitPackage(t, p, m, src, pkg)
			goRun := func(out string, resume bool) map[int]train.Record {
				if _, err := train.Run(p, m, train.Options{OutDir: out, Resume: resume, Log: io.Discard}); err != nil {
					t.Fatal(err)
				}
				return metrics(t, out)
			}
			last := "ckpt-000007"

			// ./train → train.py
			goDir := filepath.Join(dir, "go")
			goM := goRun(goDir, false)
			pyResume := filepath.Join(dir, "py-resume")
			copyDir(t, filepath.Join(goDir, "ckpt-000002"), filepath.Join(pyResume, "ckpt-000002"))
			python(t, py, pkg, "train.py", "--resume", "--out", pyResume)
			sameMoESteps(t, "train.py resumed from ./train", metrics(t, pyResume), goM, 3, 7)
			goBias := selectionBiases(t, p, filepath.Join(goDir, last))
			if pyBias := selectionBiases(t, p, filepath.Join(pyResume, last)); !slices.Equal(pyBias, goBias) {
				t.Errorf("selection biases at step 7: train.py %v, ./train %v", pyBias, goBias)
			}
			if c.name == "bias" && !slices.ContainsFunc(goBias, func(x float32) bool { return x != 0 }) {
				t.Errorf("the selection biases did not move: %v", goBias)
			}

			// train.py → ./train
			pyDir := filepath.Join(dir, "py")
			python(t, py, pkg, "train.py", "--out", pyDir)
			pyM := metrics(t, pyDir)
			goResume := filepath.Join(dir, "go-resume")
			copyDir(t, filepath.Join(pyDir, "ckpt-000002"), filepath.Join(goResume, "ckpt-000002"))
			sameMoESteps(t, "./train resumed from train.py", goRun(goResume, true), pyM, 3, 7)
			if a, b := selectionBiases(t, p, filepath.Join(goResume, last)), selectionBiases(t, p, filepath.Join(pyDir, last)); !slices.Equal(a, b) {
				t.Errorf("selection biases at step 7: ./train %v, train.py %v", a, b)
			}
			t.Logf("biases at step 7 %v; losses ./train %v, train.py resumed %v", goBias, goM[7].Loss, metrics(t, pyResume)[7].Loss)
		})
	}
}
