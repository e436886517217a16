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
	}
	return nil
}

// modelTensors snapshots the graph's parameters.
func modelTensors(g *gb.Graph) []checkpoint.Tensor {
	out := make([]checkpoint.Tensor, 0, len(g.Params()))
	for _, p := range g.Params() {
		out = append(out, checkpoint.F32Tensor(p.Name, p.Shape, p.F32()))
	}
	return out
}

// optimizerTensors turns an optimizer snapshot into F64 tensors shaped
// like their parameters.
func optimizerTensors(g *gb.Graph, s optim.Snapshot) []checkpoint.Tensor {
	out := make([]checkpoint.Tensor, 0, len(s.Buffers))
	for _, b := range s.Buffers {
		shape := []int{len(b.Data)}
		if i := strings.LastIndexByte(b.Name, '.'); i > 0 {
			if p := g.Param(b.Name[:i]); p != nil && p.Size() == len(b.Data) {
				shape = p.Shape
			}
		}
		out = append(out, checkpoint.F64Tensor(b.Name, shape, b.Data))
	}
	return out
}

// optimizerSnapshot reads an optimizer file back into a snapshot.
func optimizerSnapshot(f *checkpoint.File) (optim.Snapshot, error) {
	s := optim.Snapshot{Kind: f.Metadata["optimizer"]}
	step, err := strconv.Atoi(f.Metadata["step"])
	if err != nil {
		return s, fmt.Errorf("%s: no valid optimizer step count in the metadata", f.Path)
	}
	s.Step = step
	for i := range f.Tensors {
		t := &f.Tensors[i]
		d, err := t.Float64s()
		if err != nil {
			return s, fmt.Errorf("%s: %w", f.Path, err)
		}
		s.Buffers = append(s.Buffers, optim.Buffer{Name: t.Name, Data: d})
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
