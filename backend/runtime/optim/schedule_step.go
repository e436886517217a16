package optim

import (
	"fmt"
	"math"
)

// Milestone is one drop of a step schedule: from the step at fraction At
// of training on, the rate is Base·Factor (factors are absolute, not
// cumulative).
type Milestone struct {
	At     float64 // fraction of Total, in (0, 1]
	Factor float64 // multiplier of Base, ≥ 0
}

// PaperMilestones is the step decay of the mHC paper: the rate drops to
// 0.316·Base at 80% of training and to 0.1·Base at 90% (0.316 ≈ √0.1, so
// each drop is ×0.316).
var PaperMilestones = []Milestone{{At: 0.8, Factor: 0.316}, {At: 0.9, Factor: 0.1}}

// Step is linear warmup followed by a piecewise-constant rate:
//
//	step ≤ Warmup:   Base · step/Warmup
//	otherwise:       Base · Factor of the last milestone with step > At·Total (1 before the first)
//
// With PaperMilestones and Total 1000 the rate is Base for steps ≤ 800,
// 0.316·Base for 801–900 and 0.1·Base from 901 on.
type Step struct {
	Base       float64
	Warmup     int
	Total      int
	Milestones []Milestone // ascending At
}

// LR returns the learning rate at step (counting from 1).
func (s Step) LR(step int) float64 {
	step = max(step, 1)
	if s.Warmup > 0 && step <= s.Warmup {
		return s.Base * float64(step) / float64(s.Warmup)
	}
	f := 1.0
	for _, m := range s.Milestones {
		if float64(step) > m.At*float64(s.Total) {
			f = m.Factor
		}
	}
	return s.Base * f
}

// Validate reports settings that make no sense.
func (s Step) Validate() error {
	switch {
	case !(s.Base >= 0) || math.IsInf(s.Base, 0):
		return fmt.Errorf("step schedule: base learning rate %v must be finite and non-negative", s.Base)
	case s.Warmup < 0:
		return fmt.Errorf("step schedule: negative warmup %d", s.Warmup)
	case s.Total < 1:
		return fmt.Errorf("step schedule: total steps %d must be positive", s.Total)
	}
	prev := 0.0
	for _, m := range s.Milestones {
		if !(m.At > prev && m.At <= 1) || !(m.Factor >= 0) || math.IsInf(m.Factor, 0) {
			return fmt.Errorf("step schedule: milestone %+v must have ascending At in (0, 1] and a finite factor ≥ 0", m)
		}
		prev = m.At
	}
	return nil
}
