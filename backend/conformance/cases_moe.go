package conformance

import (
	"github.com/mhcc/mhcc/ir"
)

// The mixture-of-experts ops: top-k selection (k = 1, k < E, k = E; a
// rank-3 batch), the experts' load (every expert hit, some never), and
// the routed experts for both activations, leading ranks 1 and 2, one
// expert per token (the decomposition without its identity reshapes), an
// expert chosen twice by one token, experts no token chose (zero
// gradients), and a large case on the grouped products.
func init() {
	addCases(func() []Case {
		topk := func(name string, k int, shape ...int) Case {
			c := C(name, ir.OpMoETopK, attrs("k", k), P(shape...))
			c.IndexRange = shape[len(shape)-1]
			return c
		}
		experts := func(name, act string, lead []int, k, E, H, c int, idx Arg) Case {
			dims := func(last ...int) []int { return append(append([]int(nil), lead...), last...) }
			return C(name, ir.OpMoEExperts, attrs("act", act),
				P(dims(c)...), idx, P(dims(k)...),
				PScaled(0.5, E, H, c), PScaled(0.5, E, H, c), PScaled(0.5, E, H, c))
		}
		large := experts("large", ir.OpSiLU, []int{96}, 2, 8, 48, 32, Idx(8, 96, 2))
		large.Large = true
		return []Case{
			topk("k1", 1, 4, 5),
			topk("k2", 2, 6, 8),
			topk("k_all", 3, 2, 3),
			topk("rank3", 2, 2, 3, 6),
			C("spread", ir.OpMoELoad, attrs("experts", 4), Idx(4, 5, 2)),
			C("unused_experts", ir.OpMoELoad, attrs("experts", 6), IdxIs([]int{2, 3}, 0, 1, 1, 0, 4, 1)),
			experts("silu", ir.OpSiLU, []int{5}, 2, 3, 6, 4, Idx(3, 5, 2)),
			experts("gelu_bt", ir.OpGELU, []int{2, 3}, 2, 4, 5, 4, Idx(4, 2, 3, 2)),
			experts("k1", ir.OpSiLU, []int{4}, 1, 3, 4, 3, Idx(3, 4, 1)),
			experts("twice_and_unused", ir.OpGELU, []int{3}, 2, 5, 3, 4, IdxIs([]int{3, 2}, 1, 1, 3, 1, 0, 3)),
			large,
		}
	})
}
