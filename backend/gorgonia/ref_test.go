package gorgonia

import (
	"fmt"
	"math"

	"github.com/mhcc/mhcc/ir"
)

// A deliberately naive float64 reference interpreter of the IR, written
// from ir/ops.go independently of the backend's kernels: every op is
// computed element by element through multi-indices.

type rt struct {
	shape []int
	d     []float64
}

func newRT(shape []int) *rt { return &rt{shape: shape, d: make([]float64, prod(shape))} }

func unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		idx[d] = i % shape[d]
		i /= shape[d]
	}
	return idx
}

func ravel(idx, shape []int) int {
	o := 0
	for d := range shape {
		o = o*shape[d] + idx[d]
	}
	return o
}

// refEval evaluates the module's loss.
func refEval(m *ir.Module, binds map[string]int, params map[string][]float64, inputs map[string][]int) (float64, error) {
	vals := map[*ir.Value]*rt{}
	for _, v := range m.Values {
		shape, err := v.Type.Shape.Resolve(binds)
		if err != nil {
			return 0, err
		}
		out := newRT(shape)
		arg := func(i int) *rt { return vals[v.Args[i]] }
		switch v.Op {
		case ir.OpParam:
			copy(out.d, params[v.Param()])
		case ir.OpInput:
			for i, x := range inputs[v.Attrs.String("name")] {
				out.d[i] = float64(x)
			}
		case ir.OpConst:
			out.d[0] = v.Attrs.Float("value")
		case ir.OpPermutations:
			// every permutation of 0..n−1 in lexicographic order, by recursion
			n := v.Attrs.Int("n")
			row := 0
			var gen func(prefix []int, used []bool)
			gen = func(prefix []int, used []bool) {
				if len(prefix) == n {
					for i, j := range prefix {
						out.d[row*n*n+i*n+j] = 1
					}
					row++
					return
				}
				for j := 0; j < n; j++ {
					if !used[j] {
						used[j] = true
						gen(append(prefix, j), used)
						used[j] = false
					}
				}
			}
			gen(nil, make([]bool, n))
		case ir.OpNeg, ir.OpExp, ir.OpLog, ir.OpSqrt, ir.OpSquare, ir.OpSigmoid, ir.OpTanh, ir.OpRelu:
			for i, x := range arg(0).d {
				var y float64
				switch v.Op {
				case ir.OpNeg:
					y = -x
				case ir.OpExp:
					y = math.Exp(x)
				case ir.OpLog:
					y = math.Log(x)
				case ir.OpSqrt:
					y = math.Sqrt(x)
				case ir.OpSquare:
					y = x * x
				case ir.OpSigmoid:
					y = 1 / (1 + math.Exp(-x))
				case ir.OpTanh:
					y = math.Tanh(x)
				case ir.OpRelu:
					if x > 0 {
						y = x
					}
				}
				out.d[i] = y
			}
		case ir.OpAdd, ir.OpSub, ir.OpMul, ir.OpDiv:
			a, b := arg(0), arg(1)
			for i := range out.d {
				idx := unravel(i, shape)
				x, y := a.d[bcastIndex(idx, a.shape)], b.d[bcastIndex(idx, b.shape)]
				switch v.Op {
				case ir.OpAdd:
					out.d[i] = x + y
				case ir.OpSub:
					out.d[i] = x - y
				case ir.OpMul:
					out.d[i] = x * y
				case ir.OpDiv:
					out.d[i] = x / y
				}
			}
		case ir.OpSum, ir.OpMean, ir.OpMax:
			a := arg(0)
			if v.Op == ir.OpMax {
				for i := range out.d {
					out.d[i] = math.Inf(-1)
				}
			}
			for i, x := range a.d {
				idx := unravel(i, a.shape)
				for _, ax := range v.Attrs.Ints("axes") {
					idx[ax] = 0
				}
				o := ravel(idx, shape)
				if v.Op == ir.OpMax {
					out.d[o] = math.Max(out.d[o], x)
				} else {
					out.d[o] += x
				}
			}
			if v.Op == ir.OpMean {
				for i := range out.d {
					out.d[i] *= float64(len(out.d)) / float64(len(a.d))
				}
			}
		case ir.OpReshape:
			copy(out.d, arg(0).d)
		case ir.OpTranspose:
			a := arg(0)
			perm := v.Attrs.Ints("perm")
			for i := range out.d {
				o := unravel(i, shape)
				in := make([]int, len(o))
				for k, p := range perm {
					in[p] = o[k]
				}
				out.d[i] = a.d[ravel(in, a.shape)]
			}
		case ir.OpSlice:
			a := arg(0)
			ax, start := v.Attrs.Int("axis"), v.Attrs.Int("start")
			for i := range out.d {
				o := unravel(i, shape)
				o[ax] += start
				out.d[i] = a.d[ravel(o, a.shape)]
			}
		case ir.OpBroadcast:
			a := arg(0)
			for i := range out.d {
				out.d[i] = a.d[bcastIndex(unravel(i, shape), a.shape)]
			}
		case ir.OpMatmul:
			a, b := arg(0), arg(1)
			tb := v.Attrs.Bool("trans_b")
			r := len(shape)
			k := a.shape[len(a.shape)-1]
			for i := range out.d {
				o := unravel(i, shape)
				mi, ni := o[r-2], o[r-1]
				var s float64
				for kk := 0; kk < k; kk++ {
					ai := append(append([]int(nil), o[:r-2]...), mi, kk)
					var bi []int
					if len(b.shape) == 2 {
						bi = []int{kk, ni}
					} else {
						bi = append(append([]int(nil), o[:r-2]...), kk, ni)
					}
					if tb {
						n := len(bi)
						bi[n-2], bi[n-1] = bi[n-1], bi[n-2]
					}
					s += a.d[ravel(ai, a.shape)] * b.d[ravel(bi, b.shape)]
				}
				out.d[i] = s
			}
		case ir.OpSoftmax, ir.OpLogSoftmax:
			a := arg(0)
			n := shape[len(shape)-1]
			for r := 0; r < len(a.d); r += n {
				var s float64
				for j := 0; j < n; j++ {
					s += math.Exp(a.d[r+j])
				}
				for j := 0; j < n; j++ {
					if v.Op == ir.OpSoftmax {
						out.d[r+j] = math.Exp(a.d[r+j]) / s
					} else {
						out.d[r+j] = a.d[r+j] - math.Log(s)
					}
				}
			}
		case ir.OpGather:
			tab, idx := arg(0), arg(1)
			c := tab.shape[1]
			for i := range out.d {
				row := int(idx.d[i/c])
				out.d[i] = tab.d[row*c+i%c]
			}
		case ir.OpPick:
			a, idx := arg(0), arg(1)
			n := a.shape[len(a.shape)-1]
			for i := range out.d {
				out.d[i] = a.d[i*n+int(idx.d[i])]
			}
		case ir.OpCausalMask:
			a := arg(0)
			r := len(shape)
			for i := range out.d {
				o := unravel(i, shape)
				if o[r-1] > o[r-2] {
					out.d[i] = -1e9
				} else {
					out.d[i] = a.d[i]
				}
			}
		case ir.OpRope:
			a := arg(0)
			r := len(shape)
			d := shape[r-1]
			base := v.Attrs.Float("base")
			for i := range out.d {
				o := unravel(i, shape)
				t, j := float64(o[r-2]), o[r-1]
				h := d / 2
				pair := o
				var ang float64
				if j < h {
					ang = t * math.Pow(base, -2*float64(j)/float64(d))
					pair = append([]int(nil), o...)
					pair[r-1] = j + h
					out.d[i] = a.d[i]*math.Cos(ang) - a.d[ravel(pair, shape)]*math.Sin(ang)
				} else {
					ang = t * math.Pow(base, -2*float64(j-h)/float64(d))
					pair = append([]int(nil), o...)
					pair[r-1] = j - h
					out.d[i] = a.d[ravel(pair, shape)]*math.Sin(ang) + a.d[i]*math.Cos(ang)
				}
			}
		default:
			args := make([]*rt, len(v.Args))
			for i := range args {
				args[i] = arg(i)
			}
			if err := refFused(v, args, out); err != nil {
				return 0, err
			}
		}
		vals[v] = out
	}
	l := vals[m.Output("loss")]
	if l == nil || len(l.d) != 1 {
		return 0, fmt.Errorf("ref: bad loss")
	}
	return l.d[0], nil
}

// bcastIndex maps an output multi-index to the flat index of a
// right-aligned operand whose size-1 dims are broadcast.
func bcastIndex(o []int, shape []int) int {
	off := len(o) - len(shape)
	idx := make([]int, len(shape))
	for d := range shape {
		if shape[d] != 1 {
			idx[d] = o[off+d]
		}
	}
	return ravel(idx, shape)
}
