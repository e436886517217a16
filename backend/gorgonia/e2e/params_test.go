package e2e

import (
	"path/filepath"
	"testing"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/compiler"
)

// TestSummaryParamsMatchAllocated: the parameter total that `mhcc summary`
// reports from the IR alone equals the number of scalars the backend
// actually allocates, at every level and for every example (tied weights
// counted once: the tied head reuses embed.weight, no second tensor).
func TestSummaryParamsMatchAllocated(t *testing.T) {
	files := exampleFiles(t)
	more, _ := filepath.Glob(filepath.Join(examplesDir, "ablation", "*.mhc"))
	files = append(files, more...)
	sets, _ := filepath.Glob(filepath.Join(examplesDir, "ablation", "*", "*.mhc")) // llama/: gated FFN, GQA, qk_norm, untied head
	files = append(files, sets...)
	for _, path := range files {
		for _, level := range []compiler.Level{compiler.O0, compiler.O2} {
			res, err := compiler.CompileFile(path, compiler.Options{Level: level})
			if err != nil || res.Module == nil {
				t.Fatalf("%s: %v %v", path, err, res.Diags)
			}
			sum, err := compiler.Analyze(res.Program, res.Module, level.String())
			if err != nil {
				t.Fatal(err)
			}
			g, err := gb.Build(res.Module, gb.Options{Binds: map[string]int{compiler.SymBatch: 1, compiler.SymTime: 4}})
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			allocated, tensors := 0, 0
			for _, p := range g.Params() {
				allocated += len(p.F32())
				tensors++
			}
			g.Close()
			if int64(allocated) != sum.Params || tensors != sum.ParamTensors {
				t.Errorf("%s %v: summary says %d params in %d tensors, the backend allocated %d in %d",
					filepath.Base(path), level, sum.Params, sum.ParamTensors, allocated, tensors)
			}
		}
	}
}
