package gorgonia

import (
	"testing"

	"github.com/mhcc/mhcc/backend/conformance"
	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
)

// TestConformanceRowWalks runs the conformance cases again with the row
// walks that large tensors take instead of the gathered walks of small
// plans (backend/conformance runs the latter: its cases are small).
func TestConformanceRowWalks(t *testing.T) {
	old := kernels.SetGathered(false)
	defer kernels.SetGathered(old)
	for _, dt := range []DType{Float64, Float32} {
		r := Backend{dt}
		for _, c := range conformance.Cases() {
			if probs := conformance.Problems(r, c); len(probs) > 0 {
				t.Error(conformance.Report(r.Name()+" (row walks)", c, probs))
			}
		}
	}
}
