package e2e

import (
	"path/filepath"
	"testing"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/compiler"
)

// TestSummaryParamsMatchAllocated: the parameter total that `mhcc summary`
// reports from the IR alone equals the number of scalars the backend
// actually allocates for trainable parameters, and its untrained count
// the rest (the experts' selection biases), at every level and for every
// example and the MoE benchmark (tied weights counted once: the tied head
// reuses embed.weight, no second tensor).
func TestSummaryParamsMatchAllocated(t *testing.T) {
	files := exampleFiles(t)
	more, _ := filepath.Glob(filepath.Join(examplesDir, "ablation", "*.mhc"))
	files = append(files, more...)
	sets, _ := filepath.Glob(filepath.Join(examplesDir, "ablation", "*", "*.mhc")) // llama/: gated FFN, GQA, qk_norm, untied head
	files = append(files, sets...)
	files = append(files, filepath.Join(examplesDir, "bench", "moe.mhc"))
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
			allocated, tensors, untrained := 0, 0, 0
			for _, p := range g.Params() {
				if !p.Trainable {
					untrained += len(p.F32())
					continue
				}
				allocated += len(p.F32())
				tensors++
			}
			g.Close()
			if int64(allocated) != sum.Params || tensors != sum.ParamTensors || int64(untrained) != sum.Untrained {
				t.Errorf("%s %v: summary says %d params in %d tensors and %d untrained, the backend allocated %d in %d and %d",
					filepath.Base(path), level, sum.Params, sum.ParamTensors, sum.Untrained, allocated, tensors, untrained)
			}
		}
	}
}
