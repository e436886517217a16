package optim

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate for each optimiser step. Steps count
// from 1 (the first call to AdamW.Step uses LR(1)); steps below 1 are
// treated as 1.
type Schedule interface {
	LR(step int) float64
}

// Cosine is linear warmup followed by cosine decay:
//
//	step ≤ Warmup:          Base · step/Warmup   (Base/Warmup at step 1, Base at Warmup)
//	Warmup < step < Total:  Base · (MinFrac + (1−MinFrac)·½(1 + cos(π·(step−Warmup)/(Total−Warmup))))
//	step ≥ Total:           Base · MinFrac
//
// Warmup 0 starts the decay at step 0, so step 1 is already slightly below
// Base. If Total ≤ Warmup there is no decay phase and the rate drops to
// Base·MinFrac after warmup.
type Cosine struct {
	Base    float64 // peak learning rate
	MinFrac float64 // final rate as a fraction of Base, usually in [0, 1]
	Warmup  int     // warmup steps (0 for none)
	Total   int     // the step at which the decay reaches Base·MinFrac
}

// LR returns the learning rate at step (counting from 1).
func (c Cosine) LR(step int) float64 {
	step = max(step, 1)
	if c.Warmup > 0 && step <= c.Warmup {
		return c.Base * float64(step) / float64(c.Warmup)
	}
	w := max(c.Warmup, 0)
	if step >= c.Total || c.Total <= w {
		return c.Base * c.MinFrac
	}
	progress := float64(step-w) / float64(c.Total-w)
	return c.Base * (c.MinFrac + (1-c.MinFrac)*0.5*(1+math.Cos(math.Pi*progress)))
}

// Validate reports settings that make no sense (negative or non-finite
// rates, a negative warmup, MinFrac outside [0, 1]).
func (c Cosine) Validate() error {
	switch {
	case !(c.Base >= 0) || math.IsInf(c.Base, 0):
		return fmt.Errorf("cosine schedule: base learning rate %v must be finite and non-negative", c.Base)
	case !(c.MinFrac >= 0 && c.MinFrac <= 1):
		return fmt.Errorf("cosine schedule: min fraction %v is not in [0, 1]", c.MinFrac)
	case c.Warmup < 0:
		return fmt.Errorf("cosine schedule: negative warmup %d", c.Warmup)
	case c.Total < 1:
		return fmt.Errorf("cosine schedule: total steps %d must be positive", c.Total)
	}
	return nil
}

// Constant is linear warmup from Base/Warmup at step 1 to Base at step
// Warmup, then Base for ever.
type Constant struct {
	Base   float64 // learning rate after warmup
	Warmup int     // warmup steps (0 for none)
}

// LR returns the learning rate at step (counting from 1).
func (c Constant) LR(step int) float64 {
	step = max(step, 1)
	if c.Warmup > 0 && step < c.Warmup {
		return c.Base * float64(step) / float64(c.Warmup)
	}
	return c.Base
}
