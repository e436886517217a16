package optim

import (
	"fmt"
	"math"
)

// Optimizer is what the training loop needs from an optimizer: a step at
// a given learning rate, and a snapshot of its state for checkpoints.
type Optimizer interface {
	// Kind is "adamw" or "sgd".
	Kind() string
	// Step applies one update with learning rate lr using the params'
	// current gradients.
	Step(lr float64)
	// StepCount returns the number of Step calls so far (including those
	// before a Restore).
	StepCount() int
	// Snapshot returns a deep copy of the state.
	Snapshot() Snapshot
	// Restore replaces the state with a snapshot taken by the same kind of
	// optimizer over params with the same names and sizes; on error the
	// optimizer is unchanged.
	Restore(Snapshot) error
}

// Snapshot is an optimizer's state in a form that any optimizer can
// produce and a checkpoint can store: the step count and named buffers,
// "<param>.<buffer>" with PyTorch's buffer names (exp_avg, exp_avg_sq,
// momentum_buffer).
type Snapshot struct {
	Kind    string
	Step    int
	Buffers []Buffer
}

// Buffer is one named state buffer, in float64 (Data) or float32 (F32):
// one of the two is set.
type Buffer struct {
	Name string
	Data []float64
	F32  []float32
}

// Len returns the number of values.
func (b Buffer) Len() int { return len(b.Data) + len(b.F32) }

// Kind returns "adamw".
func (o *AdamW) Kind() string { return "adamw" }

// Snapshot returns the moments as buffers "<param>.exp_avg" (m) and
// "<param>.exp_avg_sq" (v).
func (o *AdamW) Snapshot() Snapshot {
	st := o.State()
	s := Snapshot{Kind: o.Kind(), Step: st.Step}
	for _, mo := range st.Moments {
		s.Buffers = append(s.Buffers, Buffer{Name: mo.Name + ".exp_avg", Data: mo.M, F32: mo.M32},
			Buffer{Name: mo.Name + ".exp_avg_sq", Data: mo.V, F32: mo.V32})
	}
	return s
}

// Restore restores a Snapshot taken by an AdamW.
func (o *AdamW) Restore(s Snapshot) error {
	if s.Kind != o.Kind() {
		return fmt.Errorf("optimizer state is for %q, the run uses %q", s.Kind, o.Kind())
	}
	bufs, err := byName(s, len(o.params)*2)
	if err != nil {
		return err
	}
	st := AdamWState{Step: s.Step}
	for _, p := range o.params {
		m, okm := bufs[p.Name+".exp_avg"]
		v, okv := bufs[p.Name+".exp_avg_sq"]
		if !okm || !okv {
			return fmt.Errorf("adamw state: no moments for parameter %q", p.Name)
		}
		st.Moments = append(st.Moments, Moments{Name: p.Name, M: m.Data, V: v.Data, M32: m.F32, V32: v.F32})
	}
	return o.SetState(st)
}

func byName(s Snapshot, want int) (map[string]Buffer, error) {
	out := make(map[string]Buffer, len(s.Buffers))
	for _, b := range s.Buffers {
		if _, dup := out[b.Name]; dup {
			return nil, fmt.Errorf("%s state: buffer %q appears twice", s.Kind, b.Name)
		}
		if b.Data != nil && b.F32 != nil {
			return nil, fmt.Errorf("%s state: buffer %q has values in both precisions", s.Kind, b.Name)
		}
		out[b.Name] = b
	}
	if len(out) != want {
		return nil, fmt.Errorf("%s state: has %d buffers, the optimizer has %d", s.Kind, len(out), want)
	}
	return out, nil
}

// SGDConfig holds the SGD hyper-parameters.
type SGDConfig struct {
	// Momentum μ in [0, 1); 0 is plain gradient descent.
	Momentum float64
	// WeightDecay is an L2 penalty wd·p added to the gradient of Decay
	// params (PyTorch's coupled SGD weight decay), ≥ 0.
	WeightDecay float64
}

// Validate reports a hyper-parameter outside its range.
func (c SGDConfig) Validate() error {
	switch {
	case !(c.Momentum >= 0 && c.Momentum < 1):
		return fmt.Errorf("sgd: momentum %v is not in [0, 1)", c.Momentum)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0):
		return fmt.Errorf("sgd: weight decay %v must be finite and non-negative", c.WeightDecay)
	}
	return nil
}

// SGD is stochastic gradient descent with optional momentum, matching
// torch.optim.SGD (dampening 0, nesterov false): for every element,
//
//	g ← g + wd·p                            (only for Decay params)
//	b ← g at the first step, else μ·b + g   (only when μ > 0)
//	p ← p − lr·b                            (b = g when μ = 0)
//
// computed in float64 and rounded once into the float32 parameter. It is
// simple enough to check a backend's gradients end to end against another
// framework.
type SGD struct {
	cfg    SGDConfig
	params []Tensor
	step   int
	buf    [][]float64
}

// NewSGD creates the optimizer for params. Like NewAdamW it panics on
// unusable params (a programming error).
func NewSGD(params []Tensor, cfg SGDConfig) *SGD {
	if err := checkParams(params); err != nil {
		panic(err)
	}
	o := &SGD{cfg: cfg, params: append([]Tensor(nil), params...)}
	for _, p := range params {
		o.buf = append(o.buf, make([]float64, len(p.Data)))
	}
	return o
}

// Kind returns "sgd".
func (o *SGD) Kind() string { return "sgd" }

// StepCount returns the number of Step calls so far.
func (o *SGD) StepCount() int { return o.step }

// Step applies one update; params with a nil Grad are skipped.
func (o *SGD) Step(lr float64) {
	o.step++
	mu, wd := o.cfg.Momentum, o.cfg.WeightDecay
	for k, p := range o.params {
		if p.Grad == nil {
			continue
		}
		b := o.buf[k]
		for i, g32 := range p.Grad {
			x := float64(p.Data[i])
			g := float64(g32)
			if p.Decay && wd != 0 {
				g += wd * x
			}
			if mu > 0 {
				if o.step == 1 {
					b[i] = g
				} else {
					b[i] = mu*b[i] + g
				}
				g = b[i]
			}
			p.Data[i] = float32(x - lr*g)
		}
	}
}

// Snapshot returns the momentum buffers as "<param>.momentum_buffer".
func (o *SGD) Snapshot() Snapshot {
	s := Snapshot{Kind: o.Kind(), Step: o.step}
	for k, p := range o.params {
		s.Buffers = append(s.Buffers, Buffer{Name: p.Name + ".momentum_buffer", Data: append([]float64(nil), o.buf[k]...)})
	}
	return s
}

// Restore restores a Snapshot taken by an SGD.
func (o *SGD) Restore(s Snapshot) error {
	if s.Kind != o.Kind() {
		return fmt.Errorf("optimizer state is for %q, the run uses %q", s.Kind, o.Kind())
	}
	if s.Step < 0 {
		return fmt.Errorf("sgd state: negative step count %d", s.Step)
	}
	bufs, err := byName(s, len(o.params))
	if err != nil {
		return err
	}
	nb := make([][]float64, len(o.params))
	for k, p := range o.params {
		b, ok := bufs[p.Name+".momentum_buffer"]
		if !ok {
			return fmt.Errorf("sgd state: no momentum buffer for parameter %q", p.Name)
		}
		if b.Len() != len(p.Data) {
			return fmt.Errorf("sgd state: parameter %q has %d values but a momentum buffer of %d", p.Name, len(p.Data), b.Len())
		}
		nb[k] = widen(b.Data, b.F32)
	}
	o.step, o.buf = s.Step, nb
	return nil
}

// Groups summarises the parameter groups: the number of tensors and
// elements with and without weight decay.
type Groups struct {
	DecayTensors, DecayElems     int
	NoDecayTensors, NoDecayElems int
}

// GroupsOf counts the decay and no-decay groups of params.
func GroupsOf(params []Tensor) Groups {
	var g Groups
	for _, p := range params {
		if p.Decay {
			g.DecayTensors++
			g.DecayElems += len(p.Data)
		} else {
			g.NoDecayTensors++
			g.NoDecayElems += len(p.Data)
		}
	}
	return g
}
