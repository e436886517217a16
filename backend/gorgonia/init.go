package gorgonia

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"

	"github.com/mhcc/mhcc/ir"
)

// checkInit validates an ir.Init against the parameter shape.
func checkInit(in ir.Init, shape []int) error {
	if _, ok := hcInits[in.Kind]; ok {
		return checkHCInit(in, shape) // init_hc.go
	}
	want := map[string]int{"normal": 1, "zeros": 0, "ones": 0, "fill": 1, "hc_bias": 2}
	n, ok := want[in.Kind]
	if !ok {
		return fmt.Errorf("unknown init %q", in.Kind)
	}
	if len(in.Args) != n {
		return fmt.Errorf("init %s takes %d arguments, got %d", in.Kind, n, len(in.Args))
	}
	if in.Kind == "hc_bias" {
		s, home := int(in.Args[0]), int(in.Args[1])
		if float64(s) != in.Args[0] || float64(home) != in.Args[1] || s < 1 || home < 0 || home >= s {
			return fmt.Errorf("bad hc_bias(%v, %v)", in.Args[0], in.Args[1])
		}
		if prod(shape) != 2*s+s*s {
			return fmt.Errorf("hc_bias(%d, %d) needs %d elements, shape %v has %d", s, home, 2*s+s*s, shape, prod(shape))
		}
	}
	return nil
}

// initValues returns the initial values of a param: deterministic in seed
// and the param's name only (a PCG stream per param).
func initValues(p *Param, seed int64) []float64 {
	out := make([]float64, prod(p.Shape))
	in := p.Init
	switch in.Kind {
	case "normal":
		h := fnv.New64a()
		h.Write([]byte(p.Name))
		rng := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
		for i := range out {
			out[i] = rng.NormFloat64() * in.Args[0]
		}
	case "ones":
		for i := range out {
			out[i] = 1
		}
	case "fill":
		for i := range out {
			out[i] = in.Args[0]
		}
	case "one_hot", "identity", "hc_perm_bias":
		hcInitValues(in, p.Shape, out) // init_hc.go
	case "hc_bias":
		n, home := int(in.Args[0]), int(in.Args[1])
		for i := 0; i < n; i++ { // pre
			out[i] = -3
		}
		out[home] = 3
		// post = 0
		for i := 0; i < n; i++ { // res = 6·I − 3
			for j := 0; j < n; j++ {
				v := -3.0
				if i == j {
					v = 3
				}
				out[2*n+i*n+j] = v
			}
		}
	}
	return out
}

// InitParams fills every param from its ir.Init, deterministically from
// seed (math/rand/v2 PCG; each param's stream is derived from seed and its
// name, so adding a param does not change the others).
func (g *Graph) InitParams(seed int64) {
	for _, p := range g.params {
		vals := initValues(p, seed)
		for i, v := range vals {
			if p.f32 != nil {
				p.f32[i] = float32(v)
			} else {
				p.f64[i] = v
			}
		}
	}
}
