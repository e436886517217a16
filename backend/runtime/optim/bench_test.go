package optim

import (
	"fmt"
	"math"
	"testing"
)

// BenchmarkOptimizer times, in one process, the parts of an optimiser
// step on the parameters of a wide bench model (12.7 M in 1 M tensors):
// the global norm as it was summed (one chunk at a time) and as
// GlobalNorm sums it (eight chunks side by side), the gradient-scaling
// pass, and AdamW's update (Go loop, AVX2 kernel), plain and with the
// gradient scale folded in (StepScaled).
func BenchmarkOptimizer(b *testing.B) {
	params := benchParams()
	b.Run("norm/serial-chunks", func(b *testing.B) {
		for b.Loop() {
			partial := make([]float64, numChunks(params))
			forChunks(params, func(i, k, lo, hi int) {
				var ss float64
				for _, g := range params[k].Grad[lo:hi] {
					ss += float64(g) * float64(g)
				}
				partial[i] = ss
			})
		}
	})
	b.Run("norm/GlobalNorm", func(b *testing.B) {
		for b.Loop() {
			GlobalNorm(params)
		}
	})
	b.Run("scale-pass", func(b *testing.B) {
		for b.Loop() {
			ScaleGrads(params, 1.0000001) // keeps the gradients normal
		}
	})
	for _, vec := range []bool{false, true} {
		if vec && !vecAdamW {
			continue
		}
		for _, gscale := range []float64{1, 0.5} {
			b.Run(fmt.Sprintf("adamw/vector=%v/gscale=%v", vec, gscale), func(b *testing.B) {
				old := useVecAdamW
				useVecAdamW = vec
				defer func() { useVecAdamW = old }()
				o := NewAdamW(benchParams(), DefaultAdamWConfig()) // the same values for every level
				for b.Loop() {
					o.StepScaled(1e-3, gscale)
				}
			})
		}
	}
}

// benchParams returns BenchmarkOptimizer's parameters and gradients.
func benchParams() []Tensor {
	var params []Tensor
	for i, n := 0, 12718592; n > 0; i++ {
		k := min(n, 512*2048)
		n -= k
		p := Tensor{Name: fmt.Sprint(i), Data: make([]float32, k), Grad: make([]float32, k), Decay: true}
		for j := range p.Grad {
			p.Grad[j] = float32(math.Sin(float64(j))) * 1e-3
			p.Data[j] = float32(math.Cos(float64(j)))
		}
		params = append(params, p)
	}
	return params
}
