package train

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/backend/runtime/checkpoint"
	"github.com/mhcc/mhcc/internal/testmodels"
)

// TestResumeConvertsFloat64Moments: a checkpoint written with float64
// AdamW moments (moments=f64, or by an mhcc from before float32 moments,
// whose checkpoints record no moments setting) resumes in a run with the
// default float32 moments: the resume says so, converts them, and the
// run continues. The loss of the first step after the resume is computed
// from the checkpoint's parameters alone, before any update with the
// converted moments, so it equals the float64 run's exactly; the next
// checkpoint holds float32 moments.
func TestResumeConvertsFloat64Moments(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		name := "moments=f64"
		if legacy {
			name = "no moments setting"
		}
		t.Run(name, func(t *testing.T) {
			p64, m64 := compile(t, testmodels.Small("optimizer adamw moments=f64"))
			dir := t.TempDir()
			mustRun(t, p64, m64, Options{Steps: 8, OutDir: dir, CheckpointEvery: 4})
			want := losses(t, dir)
			ck := filepath.Join(dir, checkpoint.Name(4))
			if legacy {
				forgetMomentsSetting(t, ck)
			}
			if err := os.RemoveAll(filepath.Join(dir, checkpoint.Name(8))); err != nil {
				t.Fatal(err)
			}
			p32, m32 := compile(t, testmodels.Small())
			_, log := mustRun(t, p32, m32, Options{Steps: 8, OutDir: dir, Resume: true, CheckpointEvery: 4})
			if !strings.Contains(log, "train.optimizer.moments f64 → f32: the checkpoint's moments are converted (rounded to the nearest float32)") {
				t.Errorf("the resume does not say it converts the moments:\n%s", log)
			}
			got := losses(t, dir)
			if len(got) != 8 || got[4] != want[4] {
				t.Fatalf("losses after the resume %v, the float64 run's %v: step 5 must be the same", got, want)
			}
			f, err := checkpoint.ReadSafetensors(filepath.Join(dir, checkpoint.Name(8), checkpoint.OptimizerFile))
			if err != nil {
				t.Fatal(err)
			}
			for _, tn := range f.Tensors {
				if tn.DType != checkpoint.F32 {
					t.Errorf("%s: %s after the resume, want F32", tn.Name, tn.DType)
				}
			}
		})
	}
}

// forgetMomentsSetting removes train.optimizer.moments from a checkpoint's
// recorded settings, as checkpoints written before the setting existed.
func forgetMomentsSetting(t *testing.T, ck string) {
	t.Helper()
	path := filepath.Join(ck, checkpoint.StateFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	settings, _ := st["settings"].(map[string]any)
	if _, ok := settings[momentsPath]; !ok {
		t.Fatalf("%s records no %s", path, momentsPath)
	}
	delete(settings, momentsPath)
	if b, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
