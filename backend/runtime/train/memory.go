package train

import (
	"fmt"
	"path/filepath"

	"github.com/mhcc/mhcc/backend/runtime/data"
	"github.com/mhcc/mhcc/backend/runtime/memcheck"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// The memory check of every command that builds graphs: before anything
// big is allocated, the run's needs are estimated (package memcheck) and
// compared with what the process can get; a run that cannot fit is
// refused with the estimate, its largest parts and how to reduce them
// (a *memcheck.TooLargeError).

// hints say how to shrink the parts of an estimate of program p at batch
// B.
type hints struct{ activations, params string }

func hintsFor(p *lang.Program, B int) hints {
	md := p.Model
	act := fmt.Sprintf("lower the batch (train.batch, now %d: --set train.batch=N; `optimizer ... accumulate=K` keeps the tokens per step) or the context (model.context, now %d)",
		B, md.Context)
	if res := md.Residual; res.Kind == lang.ResidualHyper && res.Constraint != lang.ConstraintIdentity && !res.Recompute {
		if L := len(md.Blocks); compiler.RecomputeKept(L, compiler.RecomputeSegment(L)) < L-1 {
			act += ", or add recompute=true to the residual statement"
		}
	}
	par := fmt.Sprintf("make the model smaller (vocab %d, dim %d, %d sublayers", md.Vocab, md.Embed.Dim, len(md.Blocks))
	if md.Residual.Kind == lang.ResidualHyper {
		par += fmt.Sprintf(", %d streams", md.Residual.Streams)
	}
	return hints{activations: act, params: par + ")"}
}

// paramCount is the number of parameters of m.
func paramCount(m *ir.Module) float64 {
	n := 0.0
	for _, v := range m.Values {
		if v.Op == ir.OpParam {
			s, _ := v.Type.Shape.Size()
			n += float64(s)
		}
	}
	return n
}

// addData adds a data source's file, mapped already (the mapping itself
// fails with an error naming the file when the address space is short).
func addData(e *memcheck.Estimate, src data.Source) {
	f, ok := src.(interface {
		Path() string
		MappedBytes() int64
	})
	if !ok || f.MappedBytes() == 0 {
		return
	}
	e.Add(memcheck.Part{Name: "data file", Bytes: float64(f.MappedBytes()), AddressOnly: true, InUse: true,
		Detail: fmt.Sprintf("%s, mapped: its pages are read as used", filepath.Base(f.Path())),
		Hint:   "use a smaller data file, or raise the address-space limit (ulimit -v)"})
}

// addBatches adds n token and target buffers of B·T Go ints.
func addBatches(e *memcheck.Estimate, n, B, T int) {
	e.Add(memcheck.Part{Name: "batch buffers", Bytes: float64(n) * 2 * 8 * float64(B) * float64(T),
		Detail: fmt.Sprintf("%d × tokens and targets [%d, %d]", n, B, T)})
}

// addEvalGraphs adds the forward graphs an evaluator of batch B runs over
// windows windows: one of batch B and, when the last batch is partial, one
// of its size (one of the windows' number when they are fewer than B).
func addEvalGraphs(e *memcheck.Estimate, m *ir.Module, B, T, windows int, h hints) error {
	batches := []int{min(B, windows)}
	if windows > B && windows%B != 0 {
		batches = append(batches, windows%B)
	}
	for i, b := range batches {
		name := "evaluation graph"
		if i > 0 {
			name = fmt.Sprintf("evaluation graph, last batch of %d", b)
		}
		if _, err := e.AddGraph(memcheck.Graph{Name: name, Module: m, Batch: b, Context: T, Shared: true, Hint: h.activations}); err != nil {
			return err
		}
	}
	return nil
}

// checkMemory estimates the memory of the training run r (its data open,
// nothing built yet) and refuses it if it cannot fit.
func (r *run) checkMemory() error {
	p, m := r.p, r.m
	h := hintsFor(p, r.B)
	e := memcheck.New("training " + filepath.Base(p.File))
	if _, err := e.AddGraph(memcheck.Graph{Module: m, Batch: r.B, Context: r.T, Grad: true, Hint: h.activations, ParamHint: h.params}); err != nil {
		return fmt.Errorf("estimating the memory of the training graph: %w", err)
	}
	P := paramCount(m)
	if r.accum > 1 {
		e.Add(memcheck.Part{Name: "accumulated gradients", Bytes: 4 * P, Detail: "one float32 per parameter", Hint: h.params})
	}
	kind := r.opts.Optimizer
	if kind == "" {
		kind = p.Train.Optimizer.Kind
	}
	ckpt := 4 * P // the model file's bytes
	if kind == lang.OptimizerSGD {
		e.Add(memcheck.Part{Name: "SGD momentum", Bytes: 8 * P, Detail: "one float64 per parameter", Hint: h.params})
		ckpt += 2 * 8 * P // a copy of the buffers and their bytes
	} else {
		mb, detail := 8.0, "two float32 per parameter"
		if p.Train.Optimizer.Moments == lang.MomentsF64 {
			mb, detail = 16, "two float64 per parameter"
		}
		e.Add(memcheck.Part{Name: "AdamW moments", Bytes: mb * P, Detail: detail, Hint: h.params})
		ckpt += 2 * 16 * P // float64 moments at worst: a checkpoint written with them may be resumed
	}
	e.Add(memcheck.Part{Name: "checkpoint", Bytes: ckpt, Hint: h.params,
		Detail: "while one is written or read: the tensors' bytes and a copy of the optimizer state"})
	if r.hasVal {
		if err := addEvalGraphs(e, m, r.B, r.T, r.val.n, h); err != nil {
			return fmt.Errorf("estimating the memory of the evaluation graph: %w", err)
		}
	}
	if r.diagEvery > 0 && p.Model.Residual.Kind == lang.ResidualHyper && p.Model.Residual.Constraint != lang.ConstraintIdentity && len(p.Model.Blocks) > 0 {
		dm, err := diagnosticsModule(p)
		if err != nil {
			return err
		}
		if _, err := e.AddGraph(memcheck.Graph{Name: "diagnostics graph", Module: dm, Batch: r.B, Context: r.T, Shared: true, Hint: h.activations}); err != nil {
			return fmt.Errorf("estimating the memory of the diagnostics graph: %w", err)
		}
	}
	addBatches(e, 2, r.B, r.T)
	addData(e, r.src)
	return memcheck.Check(e)
}

// checkEvalMemory estimates the memory of Evaluate: the parameters (of a
// graph that is never run), the checkpoint's bytes, the evaluation graphs
// over windows windows and the data.
func checkEvalMemory(p *lang.Program, m *ir.Module, B, T, windows int, src data.Source) error {
	h := hintsFor(p, B)
	e := memcheck.New("evaluating " + filepath.Base(p.File))
	P := paramCount(m)
	e.Add(memcheck.Part{Name: "parameters", Bytes: 4 * P, Detail: "float32", Hint: h.params})
	e.Add(memcheck.Part{Name: "checkpoint", Bytes: 4 * P, Detail: "the model file's tensors, while they are read", Hint: h.params})
	if err := addEvalGraphs(e, m, B, T, windows, h); err != nil {
		return fmt.Errorf("estimating the memory of the evaluation graph: %w", err)
	}
	addBatches(e, 1, B, T)
	if src != nil {
		addData(e, src)
	}
	return memcheck.Check(e)
}

// checkDecodeMemory estimates the memory of a Decoder over the decoding
// module m: its graph (one position; the key/value caches of the whole
// context are its inputs) and the checkpoint's bytes while they are read.
func checkDecodeMemory(p *lang.Program, m *ir.Module) error {
	h := hintsFor(p, p.Train.Batch)
	e := memcheck.New("sampling from " + filepath.Base(p.File))
	e.Add(memcheck.Part{Name: "checkpoint", Bytes: 4 * paramCount(m), Detail: "the model file's tensors, while they are read", Hint: h.params})
	if _, err := e.AddGraph(memcheck.Graph{Module: m, Batch: 1, Context: 1,
		Detail: fmt.Sprintf("one position; the key/value caches of %d positions", p.Model.Context), Hint: fmt.Sprintf("lower the context (model.context, now %d): the key/value caches hold all of it", p.Model.Context),
		ParamHint: h.params}); err != nil {
		return fmt.Errorf("estimating the memory of the decoding graph: %w", err)
	}
	return memcheck.Check(e)
}
