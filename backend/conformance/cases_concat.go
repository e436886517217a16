package conformance

import "github.com/mhcc/mhcc/ir"

// concat: the first, a middle and the last axis, two and three operands,
// one operand twice (its gradients add up), and a fixed operand.
func init() {
	addCases(func() []Case {
		return []Case{
			C("axis0", ir.OpConcat, attrs("axis", 0), P(2, 3), P(1, 3)),
			C("mid", ir.OpConcat, attrs("axis", 1), P(2, 3, 4), P(2, 1, 4), P(2, 2, 4)),
			C("last", ir.OpConcat, attrs("axis", 3), P(2, 2, 3, 4), P(2, 2, 3, 2)),
			C("same_twice", ir.OpConcat, attrs("axis", 1), P(3, 2), SameAs(0)),
			C("fixed", ir.OpConcat, attrs("axis", 2), In(2, 3, 2), P(2, 3, 5)),
			C("one", ir.OpConcat, attrs("axis", 0), P(4, 2)),
		}
	})
}
