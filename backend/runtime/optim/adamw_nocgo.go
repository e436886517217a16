//go:build !cgo || !amd64

package optim

// vecAdamW is false without cgo on amd64: Step runs its Go loop.
var vecAdamW = false

func adamwVec(p, g []float32, m, v []float64, b1, b2, step, bc2s, eps, decay float64) {
	panic("optim: no vector kernel in this build")
}

func adamwVec32(p, g, m, v []float32, b1, b2, step, bc2s, eps, decay float64) {
	panic("optim: no vector kernel in this build")
}
