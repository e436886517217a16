package gorgonia

import (
	"fmt"
	"math"

	"github.com/mhcc/mhcc/ir"
)

// refFused computes a fused op naively from its definition in ir/ops.go
// (element by element, float64, no shared code with the kernels).
func refFused(v *ir.Value, a []*rt, out *rt) error {
	last := func(s []int) int { return s[len(s)-1] }
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	switch v.Op {
	case ir.OpRMSNorm:
		x, g := a[0], a[1]
		c := last(x.shape)
		for r := 0; r < len(x.d)/c; r++ {
			var ms float64
			for i := 0; i < c; i++ {
				ms += x.d[r*c+i] * x.d[r*c+i] / float64(c)
			}
			for i := 0; i < c; i++ {
				out.d[r*c+i] = x.d[r*c+i] / math.Sqrt(ms+v.Attrs.Float("eps")) * g.d[i]
			}
		}
	case ir.OpSinkhorn:
		x := a[0]
		n := last(x.shape)
		at := func(b, i, j int) *float64 { return &out.d[b*n*n+i*n+j] }
		for b := 0; b < len(x.d)/(n*n); b++ {
			mx := math.Inf(-1)
			for i := 0; i < n*n; i++ {
				mx = math.Max(mx, x.d[b*n*n+i])
			}
			for i := 0; i < n*n; i++ {
				out.d[b*n*n+i] = math.Exp(x.d[b*n*n+i] - mx)
			}
			for it := 0; it < v.Attrs.Int("iters"); it++ {
				for j := 0; j < n; j++ {
					var s float64
					for i := 0; i < n; i++ {
						s += *at(b, i, j)
					}
					for i := 0; i < n; i++ {
						*at(b, i, j) /= s
					}
				}
				for i := 0; i < n; i++ {
					var s float64
					for j := 0; j < n; j++ {
						s += *at(b, i, j)
					}
					for j := 0; j < n; j++ {
						*at(b, i, j) /= s
					}
				}
			}
		}
	case ir.OpHCCoeffs:
		x, phi, alpha, bias := a[0], a[1], a[2], a[3]
		n := v.Attrs.Int("n")
		k, w := last(x.shape), ir.HCCoeffsWidth(n, v.Attrs)
		for t := 0; t < len(x.d)/k; t++ {
			var ms float64
			for i := 0; i < k; i++ {
				ms += x.d[t*k+i] * x.d[t*k+i]
			}
			r := math.Sqrt(ms/float64(k) + v.Attrs.Float("eps"))
			for j := 0; j < w; j++ {
				var z float64
				for i := 0; i < k; i++ {
					z += x.d[t*k+i] * phi.d[i*w+j]
				}
				m := z / r
				switch {
				case j < n:
					out.d[t*w+j] = sig(alpha.d[0]*m + bias.d[j])
				case j < 2*n:
					out.d[t*w+j] = 2 * sig(alpha.d[1]*m+bias.d[j])
				default:
					out.d[t*w+j] = alpha.d[2]*m + bias.d[j]
				}
			}
		}
	case ir.OpHCRead:
		h, X := a[0], a[1]
		n, c := X.shape[len(X.shape)-2], last(X.shape)
		for i := range out.d {
			t, cc := i/c, i%c
			for j := 0; j < n; j++ {
				out.d[i] += h.d[t*n+j] * X.d[(t*n+j)*c+cc]
			}
		}
	case ir.OpHCWrite:
		R, X, p, y := a[0], a[1], a[2], a[3]
		n, c := X.shape[len(X.shape)-2], last(X.shape)
		for o := range out.d {
			t, i, cc := o/(n*c), o/c%n, o%c
			s := p.d[t*n+i] * y.d[t*c+cc]
			for j := 0; j < n; j++ {
				s += R.d[(t*n+i)*n+j] * X.d[(t*n+j)*c+cc]
			}
			out.d[o] = s
		}
	case ir.OpAttention:
		q, k, vv := a[0], a[1], a[2]
		r := len(q.shape)
		T, d, dv := q.shape[r-2], q.shape[r-1], vv.shape[r-1]
		for b := 0; b < len(q.d)/(T*d); b++ {
			for i := 0; i < T; i++ {
				s := make([]float64, T)
				var z float64
				for j := 0; j < T; j++ {
					for c := 0; c < d; c++ {
						s[j] += q.d[(b*T+i)*d+c] * k.d[(b*T+j)*d+c]
					}
					s[j] *= v.Attrs.Float("scale")
					if v.Attrs.Bool("causal") && j > i {
						s[j] = -1e9
					}
					z += math.Exp(s[j])
				}
				for j := 0; j < T; j++ {
					for c := 0; c < dv; c++ {
						out.d[(b*T+i)*dv+c] += math.Exp(s[j]) / z * vv.d[(b*T+j)*dv+c]
					}
				}
			}
		}
	case ir.OpCrossEntropy:
		x, tgt := a[0], a[1]
		V := last(x.shape)
		N := len(x.d) / V
		var l float64
		for r := 0; r < N; r++ {
			var z float64
			for j := 0; j < V; j++ {
				z += math.Exp(x.d[r*V+j])
			}
			l -= x.d[r*V+int(tgt.d[r])] - math.Log(z)
		}
		out.d[0] = l / float64(N)
	case ir.OpMatmulConcat:
		x := a[0]
		k := last(x.shape)
		total := last(out.shape)
		for i := range out.d {
			row, col := i/total, i%total
			for _, w := range a[1:] {
				nw := w.shape[1]
				if col < nw {
					for c := 0; c < k; c++ {
						out.d[i] += x.d[row*k+c] * w.d[c*nw+col]
					}
					break
				}
				col -= nw
			}
		}
	case ir.OpGELU:
		for i, x := range a[0].d {
			out.d[i] = 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		}
	default:
		return fmt.Errorf("ref: unsupported op %s", v.Op)
	}
	return nil
}
