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
func (o *AdamW) Step(lr float64) { o.StepScaled(lr, 1) }

// StepScaled is Step on the gradients scaled by gscale and rounded to
// float32, g ← float32(g·gscale), as ClipGlobalNorm scales them (gscale
// = 1: Step): with gscale = ClipScale(norm, maxNorm) it gives bit for bit
// what ClipGlobalNorm followed by Step gives, without a pass that writes
// the scaled gradients. Grad itself is left as it is.
func (o *AdamW) StepScaled(lr, gscale float64) {
	o.step++
	b1, b2 := o.cfg.Beta1, o.cfg.Beta2
	bc1 := 1 - math.Pow(b1, float64(o.step))
	bc2 := 1 - math.Pow(b2, float64(o.step))
	h := adamwHyper{b1: b1, b2: b2, step: lr / bc1, bc2s: math.Sqrt(bc2), eps: o.cfg.Eps, gscale: gscale}
	// Every element is updated independently, so the chunks run on all
	// CPUs and the result does not depend on how they are split.
	forChunks(o.params, func(_, k, lo, hi int) {
		p := o.params[k]
		h := h
		h.decay = 1.0
		if p.Decay {
			h.decay = 1 - lr*o.cfg.WeightDecay
		}
		data, grad := p.Data[lo:hi], p.Grad[lo:hi]
		if o.cfg.F64Moments {
			m, v := o.m[k][lo:hi], o.v[k][lo:hi]
			if vecAdamW && useVecAdamW {
				adamwVec(data, grad, m, v, h)
				return
			}
			for i, g32 := range grad {
				g := h.grad(g32)
				m[i] = b1*m[i] + (1-b1)*g
				v[i] = b2*v[i] + (1-b2)*g*g
				x := float64(data[i]) * h.decay
				x -= h.step * m[i] / (math.Sqrt(v[i])/h.bc2s + h.eps)
				data[i] = float32(x)
			}
			return
		}
		m, v := o.m32[k][lo:hi], o.v32[k][lo:hi]
		if vecAdamW && useVecAdamW {
			adamwVec32(data, grad, m, v, h)
			return
		}
		for i, g32 := range grad {
			g := h.grad(g32)
			mi := float32(b1*float64(m[i]) + (1-b1)*g)
			vi := float32(b2*float64(v[i]) + (1-b2)*g*g)
			m[i], v[i] = mi, vi
			x := float64(data[i]) * h.decay
			x -= h.step * float64(mi) / (math.Sqrt(float64(vi))/h.bc2s + h.eps)
			data[i] = float32(x)
		}
	})
}

// adamwHyper holds the numbers of one AdamW update of one chunk: the
// decay rates, the step size lr/(1−β1ᵗ), √(1−β2ᵗ), ε, the weight-decay
// factor and the gradient scale.
type adamwHyper struct {
	b1, b2, step, bc2s, eps, decay, gscale float64
}

// grad returns the gradient g as the update uses it: scaled by gscale and
// rounded to float32 unless gscale is 1.
func (h *adamwHyper) grad(g float32) float64 {
	if h.gscale != 1 {
		return float64(float32(float64(g) * h.gscale))
	}
	return float64(g)
}

// useVecAdamW lets tests switch the AVX2 kernels (adamw.c) off to compare
// them with the Go loop, which they match bit for bit.
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
// (GlobalNorm) and, if maxNorm > 0 and the norm exceeds it, scales every
// gradient by maxNorm/norm so that the new global norm is maxNorm.
// It returns the norm before clipping. A NaN or infinite norm is returned
// as is and the gradients are left untouched (scaling could not repair
// them; the caller should skip the step). maxNorm ≤ 0 disables clipping.
// StepClipped does the same scaling inside AdamW's update instead, saving
// a pass over the gradients.
func ClipGlobalNorm(params []Tensor, maxNorm float64) (norm float64) {
	norm = GlobalNorm(params)
	ScaleGrads(params, ClipScale(norm, maxNorm))
	return norm
}

// ScaleGrads sets every gradient g to float32(g·scale) (nothing to do for
// scale 1).
func ScaleGrads(params []Tensor, scale float64) {
	if scale == 1 {
		return
	}
	forChunks(params, func(_, k, lo, hi int) {
		g := params[k].Grad[lo:hi]
		for i, v := range g {
			g[i] = float32(float64(v) * scale)
		}
	})
}

// StepClipped applies one update of opt at learning rate lr to params
// (the optimiser's own) with their gradients scaled by gscale
// (ClipScale): inside the update for AdamW (StepScaled, one pass over the
// gradients fewer, Grad left unscaled), by ScaleGrads first for the
// others. The parameters and state end as ClipGlobalNorm followed by Step
// leaves them, bit for bit.
func StepClipped(opt Optimizer, params []Tensor, lr, gscale float64) {
	if a, ok := opt.(*AdamW); ok {
		a.StepScaled(lr, gscale)
		return
	}
	ScaleGrads(params, gscale)
	opt.Step(lr)
}

// ClipScale returns the factor ClipGlobalNorm scales the gradients by for
// a global norm norm: maxNorm/norm when maxNorm > 0 and the norm is
// finite and exceeds it, else 1.
func ClipScale(norm, maxNorm float64) float64 {
	if maxNorm <= 0 || !(norm > maxNorm) || math.IsInf(norm, 0) {
		return 1
	}
	return maxNorm / norm
}

// GlobalNorm returns the L2 norm of all gradients together, accumulated
// in float64: the square root of the sum, in chunk order, of the chunks'
// sums of squares, each summed element by element in order. The chunks
// are summed eight at a time (sumSquares8) on all CPUs, each into its own
// slot, so the result does not depend on the number of CPUs or on
// scheduling.
func GlobalNorm(params []Tensor) float64 {
	chunks := chunksOf(params)
	partial := make([]float64, len(chunks))
	groups := (len(chunks) + 7) / 8
	group := func(gi int) {
		var gs [8][]float32
		cs := chunks[gi*8 : min(len(chunks), gi*8+8)]
		for j, c := range cs {
			gs[j] = params[c.k].Grad[c.lo:c.hi]
		}
		var out [8]float64
		sumSquares8(&gs, &out)
		copy(partial[gi*8:], out[:len(cs)])
	}
	if workers := min(runtime.GOMAXPROCS(0), groups); workers > 1 && len(chunks) > 8 {
		par.Tasks(workers, groups, group)
	} else {
		for gi := range groups {
			group(gi)
		}
	}
	var ss float64
	for _, v := range partial {
		ss += v
	}
	return math.Sqrt(ss)
}

// sumSquares8 sets out[j] to the sum of squares of g[j] (in float64),
// added element by element from the first, for eight slices at once: one
// loop runs the eight chains side by side over their common length, so
// the CPU overlaps eight additions where one chain would wait on each,
// and then each chain finishes its own rest. Every chain adds its terms
// in its own order, so each sum is that of the one-slice loop bit for bit.
func sumSquares8(g *[8][]float32, out *[8]float64) {
	n := len(g[0])
	for _, x := range g[1:] {
		n = min(n, len(x))
	}
	a0, a1, a2, a3 := g[0][:n], g[1][:n], g[2][:n], g[3][:n]
	a4, a5, a6, a7 := g[4][:n], g[5][:n], g[6][:n], g[7][:n]
	var s0, s1, s2, s3, s4, s5, s6, s7 float64
	for i := range a0 {
		x0, x1, x2, x3 := float64(a0[i]), float64(a1[i]), float64(a2[i]), float64(a3[i])
		x4, x5, x6, x7 := float64(a4[i]), float64(a5[i]), float64(a6[i]), float64(a7[i])
		s0 += x0 * x0
		s1 += x1 * x1
		s2 += x2 * x2
		s3 += x3 * x3
		s4 += x4 * x4
		s5 += x5 * x5
		s6 += x6 * x6
		s7 += x7 * x7
	}
	*out = [8]float64{s0, s1, s2, s3, s4, s5, s6, s7}
	for j := range g {
		for _, v := range g[j][n:] {
			out[j] += float64(v) * float64(v)
		}
	}
}
