package bench

import (
	"fmt"
	"path/filepath"

	"github.com/mhcc/mhcc/backend/runtime/memcheck"
	"github.com/mhcc/mhcc/lang"
)

// checkMemory refuses a model whose benchmark cannot fit in memory: its
// training graph at batch B and context T, the optimizer state and the
// fixed batches (package memcheck).
func checkMemory(s Spec, p *lang.Program, B, T int) error {
	e := memcheck.New("benchmarking " + filepath.Base(s.File))
	act := fmt.Sprintf("lower the batch (--batch, now %d) or the context (model.context, now %d)", B, T)
	par := fmt.Sprintf("benchmark a smaller model (vocab %d, dim %d, %d sublayers)", p.Model.Vocab, p.Model.Embed.Dim, len(p.Model.Blocks))
	mem, err := e.AddGraph(memcheck.Graph{Module: s.Module, Batch: B, Context: T, Grad: true, Hint: act, ParamHint: par})
	if err != nil {
		return fmt.Errorf("estimating the memory of the training graph: %w", err)
	}
	moments, name, detail := 2*mem.Params, "AdamW moments", "two float32 per parameter" // mem.Params is in bytes of float32
	switch {
	case p.Train.Optimizer.Kind == lang.OptimizerSGD:
		moments, name, detail = 2*mem.Params, "SGD momentum", "one float64 per parameter"
	case p.Train.Optimizer.Moments == lang.MomentsF64:
		moments, detail = 4*mem.Params, "two float64 per parameter"
	}
	e.Add(memcheck.Part{Name: name, Bytes: moments, Detail: detail, Hint: par})
	e.Add(memcheck.Part{Name: "batch buffers", Bytes: 4 * 2 * 8 * float64(B) * float64(T), Detail: fmt.Sprintf("4 fixed batches of tokens and targets [%d, %d]", B, T)})
	return memcheck.Check(e)
}
