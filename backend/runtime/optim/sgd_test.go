package optim

import (
	"strings"
	"testing"
)

// TestSGDByHand: lr 0.1, μ 0.9, wd 0.5 on a decayed param p = 2 and an
// undecayed q = 2, gradients 1 then 3.
//
//	step 1: g_p = 1 + 0.5·2 = 2, b_p = 2, p = 2 − 0.2 = 1.8
//	        g_q = 1,             b_q = 1, q = 2 − 0.1 = 1.9
//	step 2: g_p = 3 + 0.5·1.8 = 3.9, b_p = 0.9·2 + 3.9 = 5.7, p = 1.8 − 0.57 = 1.23
//	        g_q = 3,                 b_q = 0.9·1 + 3 = 3.9,   q = 1.9 − 0.39 = 1.51
func TestSGDByHand(t *testing.T) {
	p := Tensor{Name: "p", Data: []float32{2}, Grad: []float32{1}, Decay: true}
	q := Tensor{Name: "q", Data: []float32{2}, Grad: []float32{1}}
	o := NewSGD([]Tensor{p, q}, SGDConfig{Momentum: 0.9, WeightDecay: 0.5})
	o.Step(0.1)
	if !near(float64(p.Data[0]), 1.8, 1e-6) || !near(float64(q.Data[0]), 1.9, 1e-6) {
		t.Fatalf("step 1: p=%v q=%v", p.Data[0], q.Data[0])
	}
	p.Grad[0], q.Grad[0] = 3, 3
	o.Step(0.1)
	if !near(float64(p.Data[0]), 1.23, 1e-6) || !near(float64(q.Data[0]), 1.51, 1e-6) {
		t.Fatalf("step 2: p=%v q=%v", p.Data[0], q.Data[0])
	}
	// Plain SGD: p ← p − lr·g.
	r := Tensor{Name: "r", Data: []float32{1}, Grad: []float32{4}, Decay: true}
	NewSGD([]Tensor{r}, SGDConfig{}).Step(0.25)
	if r.Data[0] != 0 {
		t.Errorf("plain SGD: %v, want 0", r.Data[0])
	}
	if err := (SGDConfig{Momentum: 1}).Validate(); err == nil || !strings.Contains(err.Error(), "momentum") {
		t.Errorf("Validate momentum 1: %v", err)
	}
}

// TestSnapshotRestoreContinuesExactly: an optimizer restored from a
// snapshot takes bit-identical steps to the original, for both kinds.
func TestSnapshotRestoreContinuesExactly(t *testing.T) {
	mk := func() []Tensor {
		return []Tensor{
			{Name: "a", Data: []float32{0.5, -0.25, 1}, Grad: make([]float32, 3), Decay: true},
			{Name: "b", Data: []float32{2}, Grad: make([]float32, 1)},
		}
	}
	setGrads := func(ps []Tensor, s float32) {
		for k, p := range ps {
			for i := range p.Grad {
				p.Grad[i] = s * float32(k+i+1) / 7
			}
		}
	}
	for _, kind := range []string{"adamw", "sgd"} {
		newOpt := func(ps []Tensor) Optimizer {
			if kind == "sgd" {
				return NewSGD(ps, SGDConfig{Momentum: 0.9, WeightDecay: 0.1})
			}
			return NewAdamW(ps, DefaultAdamWConfig())
		}
		pa := mk()
		a := newOpt(pa)
		for s := 1; s <= 3; s++ {
			setGrads(pa, float32(s))
			a.Step(0.01)
		}
		snap := a.Snapshot()
		if snap.Kind != kind || snap.Step != 3 {
			t.Errorf("%s: snapshot kind %q step %d", kind, snap.Kind, snap.Step)
		}
		pb := mk()
		for k := range pb {
			copy(pb[k].Data, pa[k].Data)
		}
		b := newOpt(pb)
		if err := b.Restore(snap); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		for s := 4; s <= 6; s++ {
			setGrads(pa, float32(-s))
			setGrads(pb, float32(-s))
			a.Step(0.01)
			b.Step(0.01)
		}
		for k := range pa {
			for i := range pa[k].Data {
				if pa[k].Data[i] != pb[k].Data[i] {
					t.Errorf("%s: %s[%d] = %v after restore, want %v", kind, pa[k].Name, i, pb[k].Data[i], pa[k].Data[i])
				}
			}
		}
		other := "sgd"
		if kind == "sgd" {
			other = "adamw"
		}
		snap.Kind = other
		if err := b.Restore(snap); err == nil || !strings.Contains(err.Error(), other) {
			t.Errorf("%s: restoring a %s snapshot: %v", kind, other, err)
		}
		snap.Kind = kind
		snap.Buffers = snap.Buffers[1:]
		if err := b.Restore(snap); err == nil {
			t.Errorf("%s: restoring a snapshot with a missing buffer succeeded", kind)
		}
	}
}

func TestStepSchedulePaperMilestones(t *testing.T) {
	s := Step{Base: 1, Warmup: 10, Total: 1000, Milestones: PaperMilestones}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		step int
		want float64
	}{{1, 0.1}, {10, 1}, {11, 1}, {800, 1}, {801, 0.316}, {900, 0.316}, {901, 0.1}, {1000, 0.1}, {5000, 0.1}} {
		if got := s.LR(c.step); got != c.want {
			t.Errorf("LR(%d) = %v, want %v", c.step, got, c.want)
		}
	}
	if err := (Step{Base: 1, Total: 10, Milestones: []Milestone{{0.9, 1}, {0.8, 1}}}).Validate(); err == nil {
		t.Error("descending milestones accepted")
	}
	var _ Schedule = s
}

func TestGroupsOf(t *testing.T) {
	g := GroupsOf([]Tensor{{Name: "w", Data: make([]float32, 6), Decay: true}, {Name: "g", Data: make([]float32, 2)}, {Name: "b", Data: make([]float32, 3)}})
	if g != (Groups{DecayTensors: 1, DecayElems: 6, NoDecayTensors: 2, NoDecayElems: 5}) {
		t.Errorf("GroupsOf = %+v", g)
	}
}
