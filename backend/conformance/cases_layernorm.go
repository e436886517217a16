package conformance

import (
	"fmt"

	"github.com/mhcc/mhcc/ir"
)

// LayerNorm (layernorm): ranks 1 to 4, a row of one element (the output
// is the bias, the gradient of x zero), wide inputs, fixed gain and bias,
// only the bias learned, and a large case for the parallel paths.
func init() {
	addCases(func() []Case {
		var cs []Case
		for _, s := range [][]int{{7}, {3, 5}, {2, 3, 4}, {2, 1, 3, 6}, {4, 1}} {
			c := s[len(s)-1]
			cs = append(cs, C(fmt.Sprint(s), ir.OpLayerNorm, attrs("eps", 1e-5), P(s...), P(c), P(c)))
		}
		cs = append(cs,
			C("wide", ir.OpLayerNorm, attrs("eps", 1e-6), PScaled(5, 3, 8), P(8), P(8)),
			C("fixed_gain_bias", ir.OpLayerNorm, attrs("eps", 1e-6), P(2, 3, 4), In(4), In(4)),
			C("only_bias", ir.OpLayerNorm, attrs("eps", 1e-6), In(2, 3, 4), In(4), P(4)),
			C("gain_is_bias", ir.OpLayerNorm, attrs("eps", 1e-3), P(2, 4), P(4), SameAs(1)),
		)
		large := C("3x7x128", ir.OpLayerNorm, attrs("eps", 1e-6), P(3, 7, 128), P(128), P(128))
		large.Large = true
		return append(cs, large)
	})
}
