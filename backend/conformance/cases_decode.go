package conformance

import (
	"fmt"

	"github.com/mhcc/mhcc/ir"
)

// The decoding ops (rope.at, attention.cached): positions after an
// offset, caches empty, partly filled and full, one new position and a
// block of them.
func init() {
	addCases(func() []Case {
		var cs []Case
		for _, pos := range []int{0, 5, 120} {
			cs = append(cs, C(fmt.Sprintf("pos%d", pos), ir.OpRopeAt, attrs("base", 10000.0), P(2, 3, 6), IdxIs(nil, pos)))
		}
		for _, c := range []struct {
			name   string
			lead   []int
			T, S   int
			n      int
			dq, dv int
		}{
			{"step", []int{2}, 1, 6, 4, 4, 5},
			{"step_full_cache", []int{1, 2}, 1, 5, 5, 3, 3},
			{"prefill_empty_cache", []int{2, 2}, 3, 6, 0, 4, 2},
			{"block_after_cache", []int{2}, 3, 6, 2, 4, 4},
		} {
			dims := func(last ...int) []int { return append(append([]int(nil), c.lead...), last...) }
			cs = append(cs, C(c.name, ir.OpAttentionCached, attrs("scale", 0.7),
				P(dims(c.T, c.dq)...), P(dims(c.T, c.dq)...), P(dims(c.T, c.dv)...),
				In(dims(c.S, c.dq)...), In(dims(c.S, c.dv)...), IdxIs(nil, c.n)))
		}
		return cs
	})
}
