package train

import (
	"fmt"
	"math"
	"strings"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/lang"
)

// The mixture-of-experts side of a training step (docs/moe.md): the
// experts' load of every sublayer, read from the training graph after
// each micro-batch (the module's load outputs, compiler.MoELayers), the
// statistics in metrics.jsonl and the log line, and DeepSeek-V3's
// auxiliary-loss-free balancing: after the optimizer step, each expert's
// selection bias moves by γ towards the mean load,
//
//	b_e ← b_e + γ·sign(mean load − load_e),
//
// from the loads of the step's micro-batches together. The bias is a
// parameter of the model (trainable=false: no gradient, no optimizer), so
// checkpoints keep it and a resumed run continues with it exactly.

// moeState is the balancing and load statistics of a run (nil without
// mixture-of-experts sublayers).
type moeState struct {
	layers []compiler.MoELayer
	bias   [][]float32 // the live selection biases (nil without balance=bias)
	slots  int         // routing slots of one micro-batch per sublayer: B·T·k (k per layer below)
	counts [][]int64   // tokens routed to each expert this step
	total  []int64     // routing slots this step
}

func newMoEState(p *lang.Program, g *gb.Graph, B, T int) (*moeState, error) {
	layers := compiler.MoELayers(p)
	if len(layers) == 0 {
		return nil, nil
	}
	s := &moeState{layers: layers, slots: B * T}
	for _, l := range layers {
		var bias []float32
		if l.Bias != "" {
			prm := g.Param(l.Bias)
			if prm == nil || prm.Trainable || len(prm.F32()) != l.Experts {
				return nil, fmt.Errorf("the training graph has no selection bias %s of %d untrained values", l.Bias, l.Experts)
			}
			bias = prm.F32()
		}
		s.bias = append(s.bias, bias)
		s.counts = append(s.counts, make([]int64, l.Experts))
		s.total = append(s.total, 0)
	}
	return s, nil
}

// observe adds the loads of the micro-batch the graph just ran. The load
// output holds count/slots in float32, so the counts are recovered
// exactly by rounding (slots < 2^23).
func (s *moeState) observe(g *gb.Graph) error {
	for i, l := range s.layers {
		load, err := g.Output(l.Load)
		if err != nil {
			return err
		}
		n := s.slots * l.Active
		for e, f := range load {
			s.counts[i][e] += int64(math.Round(f * float64(n)))
		}
		s.total[i] += int64(n)
	}
	return nil
}

// finish writes the step's statistics into rec, applies the bias updates
// of balance=bias and starts the next step's counts.
func (s *moeState) finish(rec *Record) {
	rec.MoEMaxLoad = make([]float64, len(s.layers))
	rec.MoEMinLoad = make([]float64, len(s.layers))
	for i, l := range s.layers {
		c, total, E := s.counts[i], s.total[i], int64(l.Experts)
		lo, hi := c[0], c[0]
		for _, x := range c {
			lo, hi = min(lo, x), max(hi, x)
		}
		// relative to the mean load total/E
		rec.MoEMaxLoad[i] = float64(hi*E) / float64(total)
		rec.MoEMinLoad[i] = float64(lo*E) / float64(total)
		if b := s.bias[i]; b != nil {
			step := float32(l.BiasRate)
			for e, x := range c {
				// sign(mean − load_e), compared exactly: total/E vs x
				switch d := total - x*E; {
				case d > 0:
					b[e] += step
				case d < 0:
					b[e] -= step
				}
			}
		}
		clear(c)
		s.total[i] = 0
	}
}

// describe is the configuration table's row.
func (s *moeState) describe() string {
	var parts []string
	for _, l := range s.layers {
		d := fmt.Sprintf("%s: %d of %d experts", l.Path, l.Active, l.Experts)
		if l.Shared > 0 {
			d += fmt.Sprintf(" + %d shared", l.Shared)
		}
		switch l.Balance {
		case lang.BalanceBias:
			d += fmt.Sprintf(", selection bias γ=%g", l.BiasRate)
		case lang.BalanceAux:
			d += ", auxiliary loss"
		default:
			d += ", no balancing"
		}
		parts = append(parts, d)
	}
	return strings.Join(parts, "; ") + "; no capacity limit (no token is dropped)"
}

// maxLoad is the largest of a record's per-sublayer max/mean loads (NaN
// without them).
func maxLoad(rec *Record) float64 {
	m := math.NaN()
	for _, x := range rec.MoEMaxLoad {
		if math.IsNaN(m) || x > m {
			m = x
		}
	}
	return m
}
