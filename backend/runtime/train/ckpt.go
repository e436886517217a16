package train

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/backend/runtime/checkpoint"
	"github.com/mhcc/mhcc/backend/runtime/optim"
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// specs lists the graph's parameters as checkpoint specs, minus skip.
func specs(g *gb.Graph, skip map[string]bool) []checkpoint.Spec {
	var out []checkpoint.Spec
	for _, p := range g.Params() {
		if !skip[p.Name] {
			out = append(out, checkpoint.Spec{Name: p.Name, Shape: p.Shape})
		}
	}
	return out
}

// moduleSpecs lists the parameters of a module as checkpoint tensors.
func moduleSpecs(m *ir.Module) []checkpoint.Spec {
	var out []checkpoint.Spec
	for _, v := range m.Params() {
		shape, _ := v.Type.Shape.Resolve(nil)
		out = append(out, checkpoint.Spec{Name: v.Param(), Shape: shape})
	}
	return out
}

// loadModel copies the tensors of a checkpoint's model file into the
// graph's parameters (except skip) after checking that they are exactly
// the program's tensors; a mismatch is refused with every difference.
func loadModel(g *gb.Graph, f *checkpoint.File, skip map[string]bool) error {
	if err := checkpoint.Match(f, specs(g, skip)); err != nil {
		return err
	}
	for _, p := range g.Params() {
		if skip[p.Name] {
			continue
		}
		if err := f.Tensor(p.Name).Float32s(p.F32()); err != nil {
			return fmt.Errorf("%s: %w", f.Path, err)
		}
		if n := nonFinite(p.F32()); n > 0 {
			return fmt.Errorf("%s: tensor %s holds %d non-finite values (NaN or ±Inf) among its %d: these weights are unusable (an earlier checkpoint of the run may not be)",
				f.Path, p.Name, n, len(p.F32()))
		}
	}
	return nil
}

// nonFinite counts the NaN and infinite values of xs.
func nonFinite(xs []float32) int {
	n := 0
	for _, x := range xs {
		if x-x != 0 {
			n++
		}
	}
	return n
}

// functionKey is the model-file metadata that records the program's
// ModelFunction, one setting per line.
const functionKey = "function"

// openCheckpoint loads the checkpoint folder dir (checkpoint.Load) and
// checks that it was trained by a model computing the same function as
// p's: a checkpoint of another model whose tensors happen to have the
// right shapes (rope on instead of off, another norm) is refused with
// the settings that differ.
func openCheckpoint(p *lang.Program, dir string, want checkpoint.Expect) (*checkpoint.Checkpoint, error) {
	ck, err := checkpoint.Load(dir, want)
	if err != nil {
		return nil, err
	}
	mine := p.ModelFunction()
	var theirs []string
	if rec, ok := ck.Model.Metadata[functionKey]; ok {
		theirs = splitLines(rec)
	} else {
		// Written before the function was recorded: the model settings of
		// its configuration, minus those neutral in this program.
		neutral := map[string]bool{}
		for _, s := range p.Settings {
			if s.Neutral {
				neutral[s.Path] = true
			}
		}
		for _, ln := range splitLines(ck.Model.Metadata["config"]) {
			path, _, _ := strings.Cut(ln, " = ")
			if strings.HasPrefix(path, "model.") && !neutral[path] {
				theirs = append(theirs, ln)
			}
		}
	}
	if diff := settingsDiff(theirs, mine); len(diff) > 0 {
		return nil, fmt.Errorf("checkpoint %s was trained by another model: its tensors have the program's shapes, but it computes something else:\n  %s",
			dir, strings.Join(diff, "\n  "))
	}
	return ck, nil
}

// settingsDiff lists how two lists of "path = value" lines differ, one
// line per path in the program's order (then the checkpoint's): "path:
// checkpoint A, program B", with "(none)" for a side that lacks the path.
func settingsDiff(ckpt, prog []string) []string {
	type side struct {
		vals  map[string]string
		order []string
	}
	parse := func(lines []string) side {
		s := side{vals: map[string]string{}}
		for _, ln := range lines {
			k, v, _ := strings.Cut(ln, " = ")
			if _, dup := s.vals[k]; !dup {
				s.order = append(s.order, k)
			}
			s.vals[k] = v
		}
		return s
	}
	a, b := parse(ckpt), parse(prog)
	show := func(s side, k string) string {
		if v, ok := s.vals[k]; ok {
			return v
		}
		return "(none)"
	}
	var out []string
	seen := map[string]bool{}
	for _, k := range append(b.order, a.order...) {
		if seen[k] {
			continue
		}
		seen[k] = true
		if va, ok := a.vals[k]; !ok || va != b.vals[k] || !hasKey(b.vals, k) {
			out = append(out, fmt.Sprintf("%s: checkpoint %s, program %s", k, show(a, k), show(b, k)))
		}
	}
	return out
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

func splitLines(s string) []string {
	var out []string
	for _, ln := range strings.Split(s, "\n") {
		if ln = strings.TrimSpace(ln); ln != "" {
			out = append(out, ln)
		}
	}
	return out
}

// modelTensors snapshots the graph's parameters.
func modelTensors(g *gb.Graph) []checkpoint.Tensor {
	out := make([]checkpoint.Tensor, 0, len(g.Params()))
	for _, p := range g.Params() {
		out = append(out, checkpoint.F32Tensor(p.Name, p.Shape, p.F32()))
	}
	return out
}

// optimizerTensors turns an optimizer snapshot into tensors shaped like
// their parameters: F32 for float32 buffers (AdamW's default moments), F64
// for float64 ones.
func optimizerTensors(g *gb.Graph, s optim.Snapshot) []checkpoint.Tensor {
	out := make([]checkpoint.Tensor, 0, len(s.Buffers))
	for _, b := range s.Buffers {
		shape := []int{b.Len()}
		if i := strings.LastIndexByte(b.Name, '.'); i > 0 {
			if p := g.Param(b.Name[:i]); p != nil && p.Size() == b.Len() {
				shape = p.Shape
			}
		}
		if b.F32 != nil {
			out = append(out, checkpoint.F32Tensor(b.Name, shape, b.F32))
		} else {
			out = append(out, checkpoint.F64Tensor(b.Name, shape, b.Data))
		}
	}
	return out
}

// optimizerSnapshot reads an optimizer file back into a snapshot, each
// buffer in the precision the file holds it in (checkpoints written before
// AdamW kept float32 moments hold F64 ones; the optimizer converts).
func optimizerSnapshot(f *checkpoint.File) (optim.Snapshot, error) {
	s := optim.Snapshot{Kind: f.Metadata["optimizer"]}
	step, err := strconv.Atoi(f.Metadata["step"])
	if err != nil {
		return s, fmt.Errorf("%s: no valid optimizer step count in the metadata", f.Path)
	}
	s.Step = step
	for i := range f.Tensors {
		t := &f.Tensors[i]
		b := optim.Buffer{Name: t.Name}
		if t.DType == checkpoint.F32 {
			b.F32 = make([]float32, t.NumElements())
			err = t.Float32s(b.F32)
		} else {
			b.Data, err = t.Float64s()
		}
		if err != nil {
			return s, fmt.Errorf("%s: %w", f.Path, err)
		}
		s.Buffers = append(s.Buffers, b)
	}
	return s, nil
}

// configMetadata renders the resolved configuration for the model file's
// metadata: one "path = value" line per setting of the program, plus the
// runtime settings as JSON.
func configMetadata(p *lang.Program, rt map[string]any) map[string]string {
	var b strings.Builder
	for _, s := range p.Settings {
		fmt.Fprintf(&b, "%s = %s\n", s.Path, s.Value)
	}
	rj, _ := json.Marshal(rt)
	return map[string]string{"config": b.String(), "runtime": string(rj)}
}
