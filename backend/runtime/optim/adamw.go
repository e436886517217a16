// Package optim implements the optimiser side of training: AdamW with
// decoupled weight decay, global gradient-norm clipping and learning-rate
// schedules. Parameters and gradients are float32 slices owned by the
// backend; the optimiser updates them in place.
package optim

import (
	"fmt"
	"math"
	"runtime"
	"slices"

	"github.com/mhcc/mhcc/internal/par"
)

// Tensor is one trainable parameter as seen by the optimiser. Data and
// Grad have the same length and are updated/read in place, so a backend
// must keep writing its gradients into the same Grad slice between steps.
type Tensor struct {
	// Name is the parameter's stable name (the IR param name); it keys the
	// optimiser state in checkpoints.
	Name string
	// Data holds the parameter values.
	Data []float32
	// Grad holds the gradient of the loss for the current step. A nil
	// Grad means "no gradient": the parameter is skipped by Step and
	// ClipGlobalNorm, as PyTorch does for params whose grad is None.
	Grad []float32
	// Decay reports whether weight decay applies to this parameter.
	Decay bool
}

// AdamWConfig holds the AdamW hyper-parameters (the learning rate is
// passed to each Step so that a schedule can drive it).
type AdamWConfig struct {
	Beta1, Beta2 float64 // moment decay rates, in [0, 1)
	Eps          float64 // added to √v̂ in the denominator, ≥ 0
	WeightDecay  float64 // decoupled weight decay coefficient, ≥ 0
	// F64Moments keeps the two moments in float64 (16 bytes per
	// parameter) instead of float32 (8 bytes, the default, as
	// torch.optim.AdamW keeps them for float32 parameters).
	F64Moments bool
}

// DefaultAdamWConfig returns β1 = 0.9, β2 = 0.95, ε = 1e-8 and weight
// decay 0.1, the usual settings for small transformers.
func DefaultAdamWConfig() AdamWConfig {
	return AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
}

// Validate reports a hyper-parameter outside its range.
func (c AdamWConfig) Validate() error {
	switch {
	case !(c.Beta1 >= 0 && c.Beta1 < 1):
		return fmt.Errorf("adamw: beta1 %v is not in [0, 1)", c.Beta1)
	case !(c.Beta2 >= 0 && c.Beta2 < 1):
		return fmt.Errorf("adamw: beta2 %v is not in [0, 1)", c.Beta2)
	case !(c.Eps >= 0) || math.IsInf(c.Eps, 0):
		return fmt.Errorf("adamw: eps %v must be finite and non-negative", c.Eps)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0):
		return fmt.Errorf("adamw: weight decay %v must be finite and non-negative", c.WeightDecay)
	}
	return nil
}

// AdamW is the Adam optimiser with decoupled weight decay (Loshchilov &
// Hutter), matching torch.optim.AdamW (amsgrad=False, maximize=False) with
// the difference that weight decay only applies to params with Decay set.
// The first and second moments are kept in float32 (or float64 with
// AdamWConfig.F64Moments); each update is computed in float64 from the
// stored moments, the new moments are rounded once into their storage and
// the step uses the rounded values, so that the stored state alone
// determines the next step (a resumed run continues bit for bit).
type AdamW struct {
	cfg    AdamWConfig
	params []Tensor
	step   int
	m, v   [][]float64 // F64Moments
	m32    [][]float32 // otherwise
	v32    [][]float32
}

// NewAdamW creates the optimiser for params with zero moments and step
// count 0. It keeps the params' slices (not copies). The config is not
// checked here; call AdamWConfig.Validate on user-supplied settings first.
// NewAdamW panics on a programming error: an empty or repeated name, or a
// non-nil Grad whose length differs from its Data.
func NewAdamW(params []Tensor, cfg AdamWConfig) *AdamW {
	if err := checkParams(params); err != nil {
		panic(err)
	}
	o := &AdamW{cfg: cfg, params: append([]Tensor(nil), params...)}
	for _, p := range params {
		if cfg.F64Moments {
			o.m = append(o.m, make([]float64, len(p.Data)))
			o.v = append(o.v, make([]float64, len(p.Data)))
		} else {
			o.m32 = append(o.m32, make([]float32, len(p.Data)))
			o.v32 = append(o.v32, make([]float32, len(p.Data)))
		}
	}
	return o
}

// MomentBytes is the bytes of AdamW's state per parameter: two moments of
// 4 bytes, or of 8 with F64Moments.
func (c AdamWConfig) MomentBytes() int {
	if c.F64Moments {
		return 16
	}
	return 8
}

// checkParams reports unusable parameter lists.
func checkParams(params []Tensor) error {
	seen := make(map[string]bool, len(params))
	for _, p := range params {
		if p.Name == "" {
			return fmt.Errorf("adamw: parameter with %d values has no name", len(p.Data))
		}
		if seen[p.Name] {
			return fmt.Errorf("adamw: parameter %q is listed twice", p.Name)
		}
		seen[p.Name] = true
		if p.Grad != nil && len(p.Grad) != len(p.Data) {
			return fmt.Errorf("adamw: parameter %q has %d values but %d gradients", p.Name, len(p.Data), len(p.Grad))
		}
	}
	return nil
}

// Config returns the hyper-parameters.
func (o *AdamW) Config() AdamWConfig { return o.cfg }

// Params returns the parameters the optimiser updates (the slice headers
// are shared with the optimiser; do not reassign them).
func (o *AdamW) Params() []Tensor { return o.params }

// StepCount returns the number of Step calls so far.
func (o *AdamW) StepCount() int { return o.step }

// Step applies one AdamW update with learning rate lr, in PyTorch's order.
// With t the new step count and g the gradient, for every element:
//
//	p ← p·(1 − lr·wd)                   (only for Decay params)
//	m ← β1·m + (1−β1)·g
//	v ← β2·v + (1−β2)·g²
//	p ← p − lr · m̂ / (√v̂ + ε),  m̂ = m/(1−β1ᵗ),  v̂ = v/(1−β2ᵗ)
//
// Params with a nil Grad are skipped (their moments do not change).
func (o *AdamW) Step(lr float64) {
	o.step++
	b1, b2, eps := o.cfg.Beta1, o.cfg.Beta2, o.cfg.Eps
	bc1 := 1 - math.Pow(b1, float64(o.step))
	bc2 := 1 - math.Pow(b2, float64(o.step))
	stepSize := lr / bc1
	bc2Sqrt := math.Sqrt(bc2)
	// Every element is updated independently, so the chunks run on all
	// CPUs and the result does not depend on how they are split.
	forChunks(o.params, func(_, k, lo, hi int) {
		p := o.params[k]
		decay := 1.0
		if p.Decay {
			decay = 1 - lr*o.cfg.WeightDecay
		}
		data := p.Data[lo:hi]
		if !o.cfg.F64Moments {
			m, v := o.m32[k][lo:hi], o.v32[k][lo:hi]
			if vecAdamW && useVecAdamW {
				adamwVec32(data, p.Grad[lo:hi], m, v, b1, b2, stepSize, bc2Sqrt, eps, decay)
				return
			}
			for i, g32 := range p.Grad[lo:hi] {
				g := float64(g32)
				mi := float32(b1*float64(m[i]) + (1-b1)*g)
				vi := float32(b2*float64(v[i]) + (1-b2)*g*g)
				m[i], v[i] = mi, vi
				x := float64(data[i]) * decay
				x -= stepSize * float64(mi) / (math.Sqrt(float64(vi))/bc2Sqrt + eps)
				data[i] = float32(x)
			}
			return
		}
		m, v := o.m[k][lo:hi], o.v[k][lo:hi]
		if vecAdamW && useVecAdamW {
			adamwVec(data, p.Grad[lo:hi], m, v, b1, b2, stepSize, bc2Sqrt, eps, decay)
			return
		}
		for i, g32 := range p.Grad[lo:hi] {
			g := float64(g32)
			m[i] = b1*m[i] + (1-b1)*g
			v[i] = b2*v[i] + (1-b2)*g*g
			x := float64(data[i]) * decay
			x -= stepSize * m[i] / (math.Sqrt(v[i])/bc2Sqrt + eps)
			data[i] = float32(x)
		}
	})
}

// useVecAdamW lets tests switch the AVX2 kernel (adamw_cgo.go) off to
// compare it with the Go loop, which it matches bit for bit.
var useVecAdamW = true

// chunkSize is the number of elements of one unit of optimiser work.
const chunkSize = 1 << 15

// chunk is one unit of optimiser work: elements [lo, hi) of param k.
type chunk struct{ k, lo, hi int }

// chunksOf lists the chunks of at most chunkSize elements of every param
// with a gradient, in param order.
func chunksOf(params []Tensor) []chunk {
	var chunks []chunk
	for k, p := range params {
		for lo := 0; lo < len(p.Grad); lo += chunkSize {
			chunks = append(chunks, chunk{k, lo, min(lo+chunkSize, len(p.Grad))})
		}
	}
	return chunks
}

// numChunks is len(chunksOf(params)).
func numChunks(params []Tensor) int {
	n := 0
	for _, p := range params {
		n += (len(p.Grad) + chunkSize - 1) / chunkSize
	}
	return n
}

// forChunks calls f(i, k, lo, hi) for every chunk i (chunksOf's order) of
// params, spread over GOMAXPROCS goroutines (one when the work is small).
// Chunks are taken from a shared counter, so a CPU busy with another
// process does not hold back the others.
func forChunks(params []Tensor, f func(i, k, lo, hi int)) {
	chunks := chunksOf(params)
	total := 0
	for _, c := range chunks {
		total += c.hi - c.lo
	}
	workers := min(runtime.GOMAXPROCS(0), len(chunks))
	if workers <= 1 || total < 2*chunkSize {
		for i, c := range chunks {
			f(i, c.k, c.lo, c.hi)
		}
		return
	}
	par.Tasks(workers, len(chunks), func(i int) {
		c := chunks[i]
		f(i, c.k, c.lo, c.hi)
	})
}

// ZeroGrad sets every gradient to zero.
func (o *AdamW) ZeroGrad() {
	for _, p := range o.params {
		clear(p.Grad)
	}
}

// AdamWState is a snapshot of the optimiser state for checkpoints.
type AdamWState struct {
	// Step is the number of updates taken.
	Step int
	// Moments holds the moments of every parameter, in parameter order.
	Moments []Moments
}

// Moments is the first (M) and second (V) moment of one parameter, in
// float64 (M, V) or float32 (M32, V32): one pair is set.
type Moments struct {
	Name     string
	M, V     []float64
	M32, V32 []float32
}

// State returns a deep copy of the step count and moments, in the
// optimiser's precision.
func (o *AdamW) State() AdamWState {
	s := AdamWState{Step: o.step, Moments: make([]Moments, len(o.params))}
	for k, p := range o.params {
		mo := Moments{Name: p.Name}
		if o.cfg.F64Moments {
			mo.M, mo.V = slices.Clone(o.m[k]), slices.Clone(o.v[k])
		} else {
			mo.M32, mo.V32 = slices.Clone(o.m32[k]), slices.Clone(o.v32[k])
		}
		s.Moments[k] = mo
	}
	return s
}

// SetState restores a snapshot taken by State. Moments are matched to the
// parameters by name (order does not matter); every parameter must be
// present with moments of its length. Moments of the other precision are
// converted: float32 into float64 exactly, float64 into float32 rounded
// to nearest (a checkpoint written with float64 moments resumes with
// float32 ones). On error the optimiser is unchanged.
func (o *AdamW) SetState(s AdamWState) error {
	if s.Step < 0 {
		return fmt.Errorf("adamw state: negative step count %d", s.Step)
	}
	byName := make(map[string]Moments, len(s.Moments))
	for _, mo := range s.Moments {
		if _, dup := byName[mo.Name]; dup {
			return fmt.Errorf("adamw state: parameter %q appears twice", mo.Name)
		}
		byName[mo.Name] = mo
	}
	if len(byName) != len(o.params) {
		return fmt.Errorf("adamw state: has moments for %d parameters, optimiser has %d", len(byName), len(o.params))
	}
	var m, v [][]float64
	var m32, v32 [][]float32
	for _, p := range o.params {
		mo, ok := byName[p.Name]
		if !ok {
			return fmt.Errorf("adamw state: no moments for parameter %q", p.Name)
		}
		lm, lv := len(mo.M)+len(mo.M32), len(mo.V)+len(mo.V32)
		if mo.M != nil && mo.M32 != nil || mo.V != nil && mo.V32 != nil {
			return fmt.Errorf("adamw state: parameter %q has moments in both precisions", p.Name)
		}
		if lm != len(p.Data) || lv != len(p.Data) {
			return fmt.Errorf("adamw state: parameter %q has %d values but moments of length %d and %d",
				p.Name, len(p.Data), lm, lv)
		}
		if o.cfg.F64Moments {
			m, v = append(m, widen(mo.M, mo.M32)), append(v, widen(mo.V, mo.V32))
		} else {
			m32, v32 = append(m32, narrow(mo.M, mo.M32)), append(v32, narrow(mo.V, mo.V32))
		}
	}
	o.step, o.m, o.v, o.m32, o.v32 = s.Step, m, v, m32, v32
	return nil
}

// widen returns a float64 copy of whichever of x64, x32 holds the values.
func widen(x64 []float64, x32 []float32) []float64 {
	if x32 == nil {
		return slices.Clone(x64)
	}
	out := make([]float64, len(x32))
	for i, x := range x32 {
		out[i] = float64(x)
	}
	return out
}

// narrow returns a float32 copy (rounded to nearest) of whichever of x64,
// x32 holds the values.
func narrow(x64 []float64, x32 []float32) []float32 {
	if x64 == nil {
		return slices.Clone(x32)
	}
	out := make([]float32, len(x64))
	for i, x := range x64 {
		out[i] = float32(x)
	}
	return out
}

// ClipGlobalNorm computes the L2 norm of all gradients together
// (accumulated in float64) and, if maxNorm > 0 and the norm exceeds it,
// scales every gradient by maxNorm/norm so that the new global norm is
// maxNorm.
// It returns the norm before clipping. A NaN or infinite norm is returned
// as is and the gradients are left untouched (scaling could not repair
// them; the caller should skip the step). maxNorm ≤ 0 disables clipping.
//
// The sum of squares is taken in chunks on all CPUs; each chunk's partial
// sum goes to its own slot and the slots are added in order, so the result
// does not depend on the number of CPUs or on scheduling.
func ClipGlobalNorm(params []Tensor, maxNorm float64) (norm float64) {
	partial := make([]float64, numChunks(params))
	forChunks(params, func(i, k, lo, hi int) {
		var ss float64
		for _, g := range params[k].Grad[lo:hi] {
			ss += float64(g) * float64(g)
		}
		partial[i] = ss
	})
	var ss float64
	for _, v := range partial {
		ss += v
	}
	norm = math.Sqrt(ss)
	if maxNorm <= 0 || !(norm > maxNorm) || math.IsInf(norm, 0) {
		return norm
	}
	scale := maxNorm / norm
	forChunks(params, func(_, k, lo, hi int) {
		g := params[k].Grad[lo:hi]
		for i, v := range g {
			g[i] = float32(float64(v) * scale)
		}
	})
	return norm
}
