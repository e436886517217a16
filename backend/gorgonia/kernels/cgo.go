//go:build cgo && amd64

package kernels

// The C kernels (the *.c files, built like this file only with cgo on
// amd64; kernels.h declares them, vecmath.h holds their shared inline
// helpers) are compiled with these flags. vec_cgo.go and sgemm_cgo.go call
// them; elsewhere vec_nocgo.go and sgemm_nocgo.go stand in.

// #cgo CFLAGS: -O3
// #cgo LDFLAGS: -lm
import "C"
