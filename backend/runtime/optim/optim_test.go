package optim

import (
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"

	// Defines -update, which `go test ./... -update` hands to every test binary.
	_ "github.com/mhcc/mhcc/internal/golden"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// TestAdamWTwoStepsByHand checks two AdamW steps on a 2-element parameter
// against hand-derived numbers, with and without weight decay.
//
// Hyper-parameters: lr = 0.1, β1 = 0.9, β2 = 0.999, ε = 1e-8, wd = 0.1.
// Start p = [1, −2], m = v = 0.
//
// Step 1, g = [0.5, −1]:
//
//	decay:  p ← p·(1 − 0.1·0.1) = 0.99·[1, −2] = [0.99, −1.98]
//	m = 0.1·g = [0.05, −0.1];  v = 0.001·g² = [0.00025, 0.001]
//	bias corrections 1−0.9 = 0.1 and 1−0.999 = 0.001:
//	m̂ = [0.5, −1];  v̂ = [0.25, 1];  √v̂ = [0.5, 1]
//	update = 0.1·m̂/(√v̂+ε) = [0.1·0.5/0.50000001, −0.1·1/1.00000001]
//	       = [0.099999998, −0.099999999]
//	p = [0.99 − 0.099999998, −1.98 + 0.099999999] = [0.890000002, −1.880000001]
//	(without decay: [0.900000002, −1.900000001])
//
// Step 2, g = [0.25, 2]:
//
//	decay:  p ← 0.99·p = [0.88110000198, −1.86120000099]
//	m = 0.9·[0.05, −0.1] + 0.1·[0.25, 2] = [0.045+0.025, −0.09+0.2] = [0.07, 0.11]
//	v = 0.999·[0.00025, 0.001] + 0.001·[0.0625, 4]
//	  = [0.00024975+0.0000625, 0.000999+0.004] = [0.00031225, 0.004999]
//	bias corrections 1−0.81 = 0.19 and 1−0.998001 = 0.001999:
//	m̂ = [0.07/0.19, 0.11/0.19] = [0.36842105, 0.57894737]
//	v̂ = [0.00031225/0.001999, 0.004999/0.001999] = [0.15620310, 2.50075038]
//	√v̂ = [0.39522538, 1.58137610]
//	update = 0.1·m̂/√v̂ = [0.09321796, 0.03661035]
//	p = [0.88110000 − 0.09321796, −1.86120000 − 0.03661035] = [0.78788204, −1.89781035]
//	(without decay: [0.90000000 − 0.09321796, −1.90000000 − 0.03661035]
//	              = [0.80678204, −1.93661035])
//
// The parameter is float32, so the expected values hold to about 1e-7.
// Both precisions of the moments give these values: float32 moments
// differ from the exact ones by at most 2⁻²³ relative after two steps,
// which moves the update by about 1e-8.
func TestAdamWTwoStepsByHand(t *testing.T) {
	for _, f64 := range []bool{false, true} {
		t.Run(fmt.Sprintf("f64=%v", f64), func(t *testing.T) { adamwTwoStepsByHand(t, f64) })
	}
}

func adamwTwoStepsByHand(t *testing.T, f64 bool) {
	cfg := AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1, F64Moments: f64}
	dec := Tensor{Name: "w", Data: []float32{1, -2}, Grad: make([]float32, 2), Decay: true}
	nod := Tensor{Name: "b", Data: []float32{1, -2}, Grad: make([]float32, 2), Decay: false}
	o := NewAdamW([]Tensor{dec, nod}, cfg)
	steps := []struct {
		g           [2]float32
		wantDecay   [2]float64
		wantNoDecay [2]float64
	}{
		{[2]float32{0.5, -1}, [2]float64{0.890000002, -1.880000001}, [2]float64{0.900000002, -1.900000001}},
		{[2]float32{0.25, 2}, [2]float64{0.78788204, -1.89781035}, [2]float64{0.80678204, -1.93661035}},
	}
	for k, s := range steps {
		copy(dec.Grad, s.g[:])
		copy(nod.Grad, s.g[:])
		o.Step(0.1)
		for i := range 2 {
			if !near(float64(dec.Data[i]), s.wantDecay[i], 3e-7) {
				t.Errorf("step %d: decayed p[%d] = %.9f, want %.9f", k+1, i, dec.Data[i], s.wantDecay[i])
			}
			if !near(float64(nod.Data[i]), s.wantNoDecay[i], 3e-7) {
				t.Errorf("step %d: undecayed p[%d] = %.9f, want %.9f", k+1, i, nod.Data[i], s.wantNoDecay[i])
			}
		}
	}
	if o.StepCount() != 2 {
		t.Errorf("StepCount = %d, want 2", o.StepCount())
	}
	st := o.State()
	// Moments after step 2 (see above): m = [0.07, 0.11], v = [0.00031225, 0.004999].
	for _, mo := range st.Moments {
		m, v, tol := mo.M, mo.V, 1e-12
		if !f64 {
			m, v, tol = widen(nil, mo.M32), widen(nil, mo.V32), 0
		}
		// float32: two roundings of at most 2⁻²⁴ relative (step 1's, scaled
		// by β < 1, and step 2's)
		rel := func(x, want float64) bool { return near(x, want, max(tol, want*0x1p-23)) }
		if len(m) != 2 || len(v) != 2 || !rel(m[0], 0.07) || !rel(m[1], 0.11) || !rel(v[0], 0.00031225) || !rel(v[1], 0.004999) {
			t.Errorf("%s: moments m=%v v=%v", mo.Name, m, v)
		}
	}
}

// TestAdamWDecayOnlyOnDecayParams: with a zero gradient the Adam update is
// 0/(0+ε) = 0, so only decay moves the parameter: p·(1 − lr·wd) =
// 2·(1 − 0.5·0.2) = 1.8 for the decayed one; the other stays at 2.
func TestAdamWDecayOnlyOnDecayParams(t *testing.T) {
	dec := Tensor{Name: "dec", Data: []float32{2}, Grad: []float32{0}, Decay: true}
	nod := Tensor{Name: "nod", Data: []float32{2}, Grad: []float32{0}}
	skip := Tensor{Name: "skip", Data: []float32{2}, Decay: true} // nil grad: untouched
	o := NewAdamW([]Tensor{dec, nod, skip}, AdamWConfig{Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.2})
	o.Step(0.5)
	if !near(float64(dec.Data[0]), 1.8, 1e-7) {
		t.Errorf("decayed param = %v, want 1.8", dec.Data[0])
	}
	if nod.Data[0] != 2 {
		t.Errorf("undecayed param = %v, want 2", nod.Data[0])
	}
	if skip.Data[0] != 2 {
		t.Errorf("param without gradient = %v, want 2", skip.Data[0])
	}
}

func TestAdamWStateRoundTrip(t *testing.T) {
	for _, f64 := range []bool{false, true} {
		t.Run(fmt.Sprintf("f64=%v", f64), func(t *testing.T) { adamwStateRoundTrip(t, f64) })
	}
}

func adamwStateRoundTrip(t *testing.T, f64 bool) {
	cfg := DefaultAdamWConfig()
	cfg.F64Moments = f64
	mk := func() []Tensor {
		return []Tensor{
			{Name: "a", Data: []float32{0.5, -0.25, 1}, Grad: make([]float32, 3), Decay: true},
			{Name: "b", Data: []float32{2}, Grad: make([]float32, 1)},
		}
	}
	grads := [][]float32{{0.1, -0.2, 0.3}, {0.4}}
	setGrads := func(ps []Tensor, scale float32) {
		for k, p := range ps {
			for i := range p.Grad {
				p.Grad[i] = grads[k][i] * scale
			}
		}
	}
	pa := mk()
	a := NewAdamW(pa, cfg)
	for s := 1; s <= 3; s++ {
		setGrads(pa, float32(s))
		a.Step(0.01)
	}
	st := a.State()
	pb := mk()
	for k := range pb {
		copy(pb[k].Data, pa[k].Data)
	}
	// Restore onto params listed in a different order: state matches by name.
	b := NewAdamW([]Tensor{pb[1], pb[0]}, cfg)
	if err := b.SetState(st); err != nil {
		t.Fatal(err)
	}
	if f64 { // State is a deep copy: mutating it must not matter
		st.Moments[0].M[0] = 123
	} else {
		st.Moments[0].M32[0] = 123
	}
	setGrads(pa, -1)
	setGrads(pb, -1)
	a.Step(0.01)
	b.Step(0.01)
	for k := range pa {
		for i := range pa[k].Data {
			if pa[k].Data[i] != pb[k].Data[i] {
				t.Errorf("%s[%d]: %v after restore, want %v", pa[k].Name, i, pb[k].Data[i], pa[k].Data[i])
			}
		}
	}
	if b.StepCount() != 4 {
		t.Errorf("restored step count %d, want 4", b.StepCount())
	}

	bad := a.State()
	bad.Moments[1].V, bad.Moments[1].V32 = nil, nil
	if err := b.SetState(bad); err == nil || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("SetState with a short moment: %v, want an error naming \"b\"", err)
	}
	bad = a.State()
	bad.Moments[0].Name = "zzz"
	if err := b.SetState(bad); err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("SetState with a missing param: %v, want an error naming \"a\"", err)
	}
}

// TestAdamWStateConverts: a state of the other precision restores
// converted, float32 into float64 exactly and float64 into float32 rounded
// to nearest, so a checkpoint of either resumes in either; a buffer with
// values in both precisions is refused.
func TestAdamWStateConverts(t *testing.T) {
	mk := func(f64 bool) *AdamW {
		return NewAdamW([]Tensor{{Name: "a", Data: make([]float32, 3), Grad: make([]float32, 3)}}, AdamWConfig{Beta1: 0.9, Beta2: 0.95, F64Moments: f64})
	}
	m64 := []float64{0.1, -1.0 / 3, 1e-30}
	v64 := []float64{0.01, 1.0 / 9, 1e-60} // 1e-60 underflows float32 to 0
	o32 := mk(false)
	if err := o32.SetState(AdamWState{Step: 5, Moments: []Moments{{Name: "a", M: m64, V: v64}}}); err != nil {
		t.Fatal(err)
	}
	got := o32.State().Moments[0]
	for i := range m64 {
		if got.M32[i] != float32(m64[i]) || got.V32[i] != float32(v64[i]) {
			t.Errorf("f64 → f32 [%d]: m %v v %v, want %v %v", i, got.M32[i], got.V32[i], float32(m64[i]), float32(v64[i]))
		}
	}
	o64 := mk(true)
	if err := o64.SetState(o32.State()); err != nil {
		t.Fatal(err)
	}
	back := o64.State().Moments[0]
	for i := range m64 {
		if back.M[i] != float64(got.M32[i]) || back.V[i] != float64(got.V32[i]) {
			t.Errorf("f32 → f64 [%d]: m %v v %v, want %v %v", i, back.M[i], back.V[i], got.M32[i], got.V32[i])
		}
	}
	if o64.StepCount() != 5 {
		t.Errorf("step count %d, want 5", o64.StepCount())
	}
	both := Moments{Name: "a", M: m64, V: v64, M32: got.M32}
	if err := mk(false).SetState(AdamWState{Moments: []Moments{both}}); err == nil || !strings.Contains(err.Error(), "both precisions") {
		t.Errorf("moments in both precisions: %v, want a refusal", err)
	}
}

func TestAdamWConfigValidate(t *testing.T) {
	if err := DefaultAdamWConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
	for name, cfg := range map[string]AdamWConfig{
		"beta1":        {Beta1: 1, Beta2: 0.9},
		"beta2":        {Beta1: 0.9, Beta2: -0.1},
		"eps":          {Beta1: 0.9, Beta2: 0.9, Eps: math.NaN()},
		"weight decay": {Beta1: 0.9, Beta2: 0.9, WeightDecay: -1},
	} {
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: Validate = %v, want an error naming %s", name, err, name)
		}
	}
}

func TestNewAdamWPanicsOnBadParams(t *testing.T) {
	cases := map[string][]Tensor{
		"grad length": {{Name: "x", Data: make([]float32, 2), Grad: make([]float32, 3)}},
		"duplicate":   {{Name: "x"}, {Name: "x"}},
		"unnamed":     {{Data: make([]float32, 1)}},
	}
	for name, params := range cases {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: NewAdamW did not panic", name)
				}
			}()
			NewAdamW(params, DefaultAdamWConfig())
		}()
	}
}

func TestClipGlobalNorm(t *testing.T) {
	mk := func() []Tensor {
		return []Tensor{
			{Name: "a", Grad: []float32{3, 4}},
			{Name: "b", Grad: []float32{12}},
			{Name: "c"}, // no gradient
		}
	}
	// ‖(3, 4, 12)‖ = √(9 + 16 + 144) = √169 = 13.
	ps := mk()
	if n := ClipGlobalNorm(ps, 20); n != 13 {
		t.Errorf("norm = %v, want 13", n)
	}
	if ps[0].Grad[0] != 3 || ps[0].Grad[1] != 4 || ps[1].Grad[0] != 12 {
		t.Errorf("norm below max: grads changed to %v %v", ps[0].Grad, ps[1].Grad)
	}
	// max 6.5 = 13/2: every gradient is halved to (1.5, 2, 6), new norm 6.5.
	ps = mk()
	if n := ClipGlobalNorm(ps, 6.5); n != 13 {
		t.Errorf("norm = %v, want 13 (before clipping)", n)
	}
	if ps[0].Grad[0] != 1.5 || ps[0].Grad[1] != 2 || ps[1].Grad[0] != 6 {
		t.Errorf("clipped grads %v %v, want [1.5 2] [6]", ps[0].Grad, ps[1].Grad)
	}
	if n := ClipGlobalNorm(ps, 0); n != 6.5 {
		t.Errorf("norm after clipping = %v, want 6.5", n)
	}
	// max ≤ 0 disables clipping but still reports the norm.
	ps = mk()
	if n := ClipGlobalNorm(ps, 0); n != 13 || ps[1].Grad[0] != 12 {
		t.Errorf("disabled clipping: norm %v, grad %v", n, ps[1].Grad[0])
	}
	// Non-finite norms are reported and leave the gradients alone.
	ps = mk()
	ps[0].Grad[0] = float32(math.NaN())
	if n := ClipGlobalNorm(ps, 1); !math.IsNaN(n) || ps[1].Grad[0] != 12 {
		t.Errorf("NaN gradient: norm %v, grad %v", n, ps[1].Grad[0])
	}
	ps = mk()
	ps[0].Grad[0] = float32(math.Inf(-1))
	if n := ClipGlobalNorm(ps, 1); !math.IsInf(n, 1) || ps[1].Grad[0] != 12 {
		t.Errorf("Inf gradient: norm %v, grad %v", n, ps[1].Grad[0])
	}
	// Large float32 gradients do not overflow the float64 accumulation:
	// ‖(3e30, 4e30)‖ = 5e30.
	ps = []Tensor{{Name: "big", Grad: []float32{3e30, 4e30}}}
	if n := ClipGlobalNorm(ps, 1); math.Abs(n-5e30)/5e30 > 1e-6 {
		t.Errorf("big gradients: norm %v, want 5e30", n)
	}
}

func TestCosineSchedule(t *testing.T) {
	c := Cosine{Base: 1, MinFrac: 0.1, Warmup: 10, Total: 110}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		step int
		want float64
	}{
		{0, 0.1},   // clamped to step 1
		{1, 0.1},   // Base/Warmup
		{5, 0.5},   // linear warmup
		{10, 1},    // Base at the end of warmup
		{60, 0.55}, // halfway through the decay: 0.1 + 0.9·½(1 + cos(π/2)) = 0.55
		{110, 0.1}, // Base·MinFrac at Total
		{500, 0.1}, // and after it
	}
	for _, ck := range checks {
		if got := c.LR(ck.step); !near(got, ck.want, 1e-12) {
			t.Errorf("LR(%d) = %v, want %v", ck.step, got, ck.want)
		}
	}
	for s := 2; s <= 10; s++ {
		if c.LR(s) <= c.LR(s-1) {
			t.Errorf("warmup not increasing at step %d: %v ≤ %v", s, c.LR(s), c.LR(s-1))
		}
	}
	for s := 11; s <= 110; s++ {
		if c.LR(s) >= c.LR(s-1) {
			t.Errorf("decay not decreasing at step %d: %v ≥ %v", s, c.LR(s), c.LR(s-1))
		}
	}
	// Without warmup the decay starts right away: step 1 of 4 is
	// 0.5·(1 + cos(π/4)) = 0.85355339.
	c0 := Cosine{Base: 1, Total: 4}
	if got := c0.LR(1); !near(got, 0.5*(1+math.Sqrt2/2), 1e-12) {
		t.Errorf("no-warmup LR(1) = %v, want 0.85355339", got)
	}
	if got := c0.LR(4); got != 0 {
		t.Errorf("no-warmup LR(4) = %v, want 0", got)
	}
	for _, bad := range []Cosine{{Base: -1, Total: 1}, {Base: 1, MinFrac: 2, Total: 1}, {Base: 1, Warmup: -1, Total: 1}, {Base: 1}} {
		if bad.Validate() == nil {
			t.Errorf("%+v: Validate succeeded", bad)
		}
	}
}

func TestConstantSchedule(t *testing.T) {
	c := Constant{Base: 2, Warmup: 4}
	for step, want := range map[int]float64{1: 0.5, 2: 1, 3: 1.5, 4: 2, 5: 2, 1000: 2} {
		if got := c.LR(step); !near(got, want, 1e-12) {
			t.Errorf("LR(%d) = %v, want %v", step, got, want)
		}
	}
	if got := (Constant{Base: 3}).LR(1); got != 3 {
		t.Errorf("no-warmup LR(1) = %v, want 3", got)
	}
	var _ Schedule = c
	var _ Schedule = Cosine{}
}

// TestAdamWParallelMatchesSerial: Step spreads the elements over all CPUs
// in chunks and runs the vector kernels where it can; the result must be
// bit-identical to the one-element-at-a-time update (written out here from
// the formula in Step's doc), with the AVX2 kernels (where the CPU has
// them) and with Step's Go loop, for params that span many chunks, end
// mid-chunk, are tiny, or have no gradient, and with the gradients scaled
// by StepScaled.
func TestAdamWParallelMatchesSerial(t *testing.T) {
	for _, vec := range []bool{true, false} {
		t.Run(fmt.Sprintf("vector=%v", vec && vecAdamW), func(t *testing.T) {
			old := useVecAdamW
			useVecAdamW = vec
			defer func() { useVecAdamW = old }()
			for _, gscale := range []float64{1, 0.3712} {
				adamwMatchesSerial(t, false, gscale)
				adamwMatchesSerial(t, true, gscale)
			}
		})
	}
}

// adamwMatchesSerial runs three steps (StepScaled with gscale) with
// moments in float64 (f64) or float32: the reference stores each new
// moment rounded to float32 and uses the rounded value, as Step's doc
// says, and scales each gradient as ClipGlobalNorm does.
func adamwMatchesSerial(t *testing.T, f64 bool, gscale float64) {
	sizes := []int{5*chunkSize + 123, 7, 0, 2*chunkSize - 1, 3}
	var params, ref []Tensor
	for i, n := range sizes {
		p := Tensor{Name: fmt.Sprintf("p%d", i), Data: make([]float32, n), Grad: make([]float32, n), Decay: i%2 == 0}
		if i == 4 {
			p.Grad = nil
		}
		for j := range p.Data {
			p.Data[j] = float32(math.Sin(float64(i*1000003+j)) * 0.1)
		}
		q := Tensor{Name: p.Name, Data: append([]float32(nil), p.Data...), Decay: p.Decay}
		if p.Grad != nil {
			q.Grad = make([]float32, n)
		}
		params, ref = append(params, p), append(ref, q)
	}
	cfg := AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, F64Moments: f64}
	o := NewAdamW(params, cfg)
	round := func(x float64) float64 {
		if f64 {
			return x
		}
		return float64(float32(x))
	}
	m := make([][]float64, len(ref))
	v := make([][]float64, len(ref))
	for k := range ref {
		m[k], v[k] = make([]float64, len(ref[k].Data)), make([]float64, len(ref[k].Data))
	}
	for step := 1; step <= 3; step++ {
		lr := 1e-2 / float64(step)
		for k, p := range params {
			for j := range p.Grad {
				g := float32(math.Cos(float64(step*31+k*7+j)) * 0.5)
				p.Grad[j], ref[k].Grad[j] = g, g
			}
		}
		o.StepScaled(lr, gscale)
		bc1 := 1 - math.Pow(cfg.Beta1, float64(step))
		bc2 := 1 - math.Pow(cfg.Beta2, float64(step))
		for k, q := range ref {
			if q.Grad == nil {
				continue
			}
			decay := 1.0
			if q.Decay {
				decay = 1 - lr*cfg.WeightDecay
			}
			for j, g32 := range q.Grad {
				g := float64(float32(float64(g32) * gscale))
				m[k][j] = round(cfg.Beta1*m[k][j] + (1-cfg.Beta1)*g)
				v[k][j] = round(cfg.Beta2*v[k][j] + (1-cfg.Beta2)*g*g)
				x := float64(q.Data[j]) * decay
				x -= lr / bc1 * m[k][j] / (math.Sqrt(v[k][j])/math.Sqrt(bc2) + cfg.Eps)
				q.Data[j] = float32(x)
			}
		}
		for k, p := range params {
			for j := range p.Data {
				if p.Data[j] != ref[k].Data[j] {
					t.Fatalf("f64 moments %v, gradient scale %v, step %d: %s[%d] = %v, serial update gives %v",
						f64, gscale, step, p.Name, j, p.Data[j], ref[k].Data[j])
				}
			}
		}
	}
}

// TestClipGlobalNormChunked: on params spanning many chunks (several
// groups of eight, ragged ends) the norm is exactly the root of the
// chunks' serial sums of squares added in chunk order (so within 1e-12 of
// the serial sum of all), the same with one CPU as with all of them, and
// the clipped gradients are exactly float32(g·maxNorm/norm).
func TestClipGlobalNormChunked(t *testing.T) {
	mk := func() []Tensor {
		var ps []Tensor
		for i, n := range []int{11*chunkSize + 17, 5, 0, chunkSize, 9*chunkSize - 3} {
			g := make([]float32, n)
			for j := range g {
				g[j] = float32(math.Sin(float64(i*7919+j)) * 3)
			}
			ps = append(ps, Tensor{Name: fmt.Sprintf("p%d", i), Data: make([]float32, n), Grad: g})
		}
		return ps
	}
	ref := mk()
	var ss, chunked float64
	for _, p := range ref {
		for _, g := range p.Grad {
			ss += float64(g) * float64(g)
		}
		for lo := 0; lo < len(p.Grad); lo += chunkSize {
			var c float64
			for _, g := range p.Grad[lo:min(lo+chunkSize, len(p.Grad))] {
				c += float64(g) * float64(g)
			}
			chunked += c
		}
	}
	want := math.Sqrt(ss)
	if n := GlobalNorm(ref); n != math.Sqrt(chunked) {
		t.Errorf("GlobalNorm %v, the chunks' serial sums give %v", n, math.Sqrt(chunked))
	}
	one := mk()
	old := runtime.GOMAXPROCS(1)
	n1 := ClipGlobalNorm(one, 1)
	runtime.GOMAXPROCS(max(old, 2))
	all := mk()
	n2 := ClipGlobalNorm(all, 1)
	runtime.GOMAXPROCS(old)
	if math.Abs(n2-want) > 1e-12*want {
		t.Errorf("norm %v, serial sum gives %v", n2, want)
	}
	if n1 != n2 {
		t.Errorf("norm %v with one CPU, %v with several", n1, n2)
	}
	for k, p := range all {
		for j, g := range p.Grad {
			if w := float32(float64(ref[k].Grad[j]) * (1 / n2)); g != w || one[k].Grad[j] != w {
				t.Fatalf("%s[%d] clipped to %v (one CPU %v), want %v", p.Name, j, g, one[k].Grad[j], w)
			}
		}
	}
}

// TestStepClippedMatchesClipThenStep: StepClipped with ClipScale of the
// global norm leaves the parameters and the optimiser state exactly as
// ClipGlobalNorm followed by Step does, for AdamW (scaled inside its
// update) and SGD (scaled by a pass first), clipping or not.
func TestStepClippedMatchesClipThenStep(t *testing.T) {
	mk := func() []Tensor {
		var ps []Tensor
		for i, n := range []int{2*chunkSize + 9, 6} {
			p := Tensor{Name: fmt.Sprintf("p%d", i), Data: make([]float32, n), Grad: make([]float32, n), Decay: i == 0}
			for j := range p.Data {
				p.Data[j] = float32(math.Sin(float64(i*31+j)) * 0.2)
			}
			ps = append(ps, p)
		}
		return ps
	}
	opts := map[string]func([]Tensor) Optimizer{
		"adamw": func(ps []Tensor) Optimizer { return NewAdamW(ps, DefaultAdamWConfig()) },
		"sgd":   func(ps []Tensor) Optimizer { return NewSGD(ps, SGDConfig{Momentum: 0.9, WeightDecay: 0.01}) },
	}
	for name, newOpt := range opts {
		for _, maxNorm := range []float64{0.5, 1e6} {
			a, b := mk(), mk()
			oa, ob := newOpt(a), newOpt(b)
			for step := 1; step <= 3; step++ {
				for k := range a {
					for j := range a[k].Grad {
						g := float32(math.Cos(float64(step*7+k*3+j)) * 0.05)
						a[k].Grad[j], b[k].Grad[j] = g, g
					}
				}
				ClipGlobalNorm(a, maxNorm)
				oa.Step(1e-2)
				StepClipped(ob, b, 1e-2, ClipScale(GlobalNorm(b), maxNorm))
				for k := range a {
					for j := range a[k].Data {
						if math.Float32bits(a[k].Data[j]) != math.Float32bits(b[k].Data[j]) {
							t.Fatalf("%s, max norm %v, step %d: %s[%d] = %v after StepClipped, %v after clip and step",
								name, maxNorm, step, a[k].Name, j, b[k].Data[j], a[k].Data[j])
						}
					}
				}
			}
			if !reflect.DeepEqual(oa.Snapshot(), ob.Snapshot()) {
				t.Errorf("%s, max norm %v: the optimiser states differ", name, maxNorm)
			}
		}
	}
}
