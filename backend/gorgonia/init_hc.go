package gorgonia

import (
	"fmt"
	"math"

	"github.com/mhcc/mhcc/ir"
)

// The parameter init kinds of the hyper-connection variants (see ir.Init):
// one_hot(i), identity and hc_perm_bias(n, home), with their argument
// counts.
var hcInits = map[string]int{"one_hot": 1, "identity": 0, "hc_perm_bias": 2}

// checkHCInit validates one of the hcInits kinds against the shape.
func checkHCInit(in ir.Init, shape []int) error {
	if n := hcInits[in.Kind]; len(in.Args) != n {
		return fmt.Errorf("init %s takes %d arguments, got %d", in.Kind, n, len(in.Args))
	}
	switch in.Kind {
	case "one_hot":
		i := int(in.Args[0])
		if float64(i) != in.Args[0] || i < 0 || i >= prod(shape) {
			return fmt.Errorf("one_hot(%v) is out of range for shape %v", in.Args[0], shape)
		}
	case "identity":
		if len(shape) != 2 || shape[0] != shape[1] {
			return fmt.Errorf("identity needs a square [n, n] shape, got %v", shape)
		}
	case "hc_perm_bias":
		s, home := int(in.Args[0]), int(in.Args[1])
		if float64(s) != in.Args[0] || float64(home) != in.Args[1] || s < 1 || s > ir.MaxPermutationsN || home < 0 || home >= s {
			return fmt.Errorf("bad hc_perm_bias(%v, %v)", in.Args[0], in.Args[1])
		}
		if want := 2*s + ir.Factorial(s); prod(shape) != want {
			return fmt.Errorf("hc_perm_bias(%d, %d) needs %d elements, shape %v has %d", s, home, want, shape, prod(shape))
		}
	}
	return nil
}

// hcInitValues fills out (zeroed, of the param's size) for one of the
// hcInits kinds.
func hcInitValues(in ir.Init, shape []int, out []float64) {
	switch in.Kind {
	case "one_hot":
		out[int(in.Args[0])] = 1
	case "identity":
		for i := 0; i < shape[0]; i++ {
			out[i*shape[0]+i] = 1
		}
	case "hc_perm_bias":
		n, home := int(in.Args[0]), int(in.Args[1])
		for i := 0; i < n; i++ { // pre: +3 on the home stream, −3 elsewhere
			out[i] = -3
		}
		out[home] = 3
		// post = 0; res: the identity permutation (index 0) gets softmax
		// weight 0.99, the n!−1 others share 0.01.
		if f := ir.Factorial(n); f > 1 {
			out[2*n] = math.Log(99 * float64(f-1))
		}
	}
}
