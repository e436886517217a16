package compiler

import (
	"fmt"

	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// OutputLogits names the extra output of LowerLogits: the next-token
// logits f32[B,T,V] (before the softmax) at every position, which sampling
// needs and the training module does not expose.
const OutputLogits = "logits"

// LowerLogits lowers p like Lower (no passes run) and adds the output
// OutputLogits beside "loss". Parameter names and shapes are those of the
// training module, so a checkpoint of one loads into the other.
func LowerLogits(p *lang.Program) (*ir.Module, error) {
	m, err := Lower(p)
	if err != nil {
		return nil, err
	}
	return WithLogits(m)
}

// WithLogits returns a copy of m (sharing its values) with the output
// OutputLogits added: the argument of the module's log_softmax, which
// Lower emits exactly once, on the logits [B,T,V]. It fails for a module
// whose log_softmax a pass has fused away; use LowerLogits then.
func WithLogits(m *ir.Module) (*ir.Module, error) {
	if m.Output(OutputLogits) != nil {
		return m, nil
	}
	var logits *ir.Value
	for _, v := range m.Values {
		if v.Op != ir.OpLogSoftmax {
			continue
		}
		if logits != nil {
			return nil, fmt.Errorf("module %s has more than one %s; cannot tell which are the logits", m.Source, ir.OpLogSoftmax)
		}
		logits = v.Args[0]
	}
	if logits == nil {
		return nil, fmt.Errorf("module %s has no %s to read the logits from", m.Source, ir.OpLogSoftmax)
	}
	if s := logits.Type.Shape; s.Rank() != 3 {
		return nil, fmt.Errorf("module %s: logits have type %s, want f32[B,T,V]", m.Source, logits.Type)
	}
	out := *m
	out.Values = append([]*ir.Value(nil), m.Values...)
	out.Outputs = append(append([]ir.Output(nil), m.Outputs...), ir.Output{Name: OutputLogits, Value: logits})
	return &out, nil
}
