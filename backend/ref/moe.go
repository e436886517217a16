package ref

import (
	"fmt"
	"math"

	"github.com/mhcc/mhcc/ir"
)

// The mixture-of-experts primitives (ir/ops_moe.go); moe.experts is fused
// and evaluated by its decomposition.

func init() {
	impls.Implement(func(v *ir.Value, a []*Tensor, _ *evalCtx) (*Tensor, error) {
		return topK(a[0], v.Attrs.Int("k"))
	}, ir.OpMoETopK)
	impls.Implement(func(v *ir.Value, a []*Tensor, _ *evalCtx) (*Tensor, error) {
		return expertLoad(a[0], v.Attrs.Int("experts"))
	}, ir.OpMoELoad)
}

// topK returns, per row of x [..., E], the indices of the k largest
// entries in descending order of value, ties to the lower index, NaN
// below every number (stored as exact float64 integers, like every i32
// tensor here).
func topK(x *Tensor, k int) (*Tensor, error) {
	r := len(x.Shape)
	if r == 0 {
		return nil, fmt.Errorf("topk of a scalar")
	}
	E := x.Shape[r-1]
	if k < 1 || k > E {
		return nil, fmt.Errorf("k=%d out of range [1, %d]", k, E)
	}
	out := NewTensor(append(append([]int(nil), x.Shape[:r-1]...), k)...)
	taken := make([]bool, E)
	for row := 0; row < len(x.Data)/E; row++ {
		xs := x.Data[row*E : (row+1)*E]
		clear(taken)
		for j := 0; j < k; j++ {
			best := -1
			for e, v := range xs {
				if !taken[e] && (best < 0 || above(v, xs[best])) {
					best = e
				}
			}
			taken[best] = true
			out.Data[row*k+j] = float64(best)
		}
	}
	return out, nil
}

// above reports whether a ranks strictly above b: a larger number, or a
// number against NaN.
func above(a, b float64) bool {
	if math.IsNaN(a) {
		return false
	}
	return math.IsNaN(b) || a > b
}

// expertLoad is the share of the entries of idx equal to each of the E
// experts.
func expertLoad(idx *Tensor, E int) (*Tensor, error) {
	out := NewTensor(E)
	for p, x := range idx.Data {
		e, err := index(x, E)
		if err != nil {
			return nil, fmt.Errorf("position %d: %w", p, err)
		}
		out.Data[e]++
	}
	for e := range out.Data {
		out.Data[e] /= float64(len(idx.Data))
	}
	return out, nil
}
