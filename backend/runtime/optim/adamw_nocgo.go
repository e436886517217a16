//go:build !cgo || !amd64

package optim

// vecAdamW is false without cgo on amd64: Step runs its Go loop.
var vecAdamW = false

func adamwVec(p, g []float32, m, v []float64, h adamwHyper) {
	panic("optim: no vector kernel in this build")
}

func adamwVec32(p, g, m, v []float32, h adamwHyper) {
	panic("optim: no vector kernel in this build")
}
