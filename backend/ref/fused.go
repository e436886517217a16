package ref

import (
	"fmt"
	"math"

	"github.com/mhcc/mhcc/ir"
)

// The fused ops of ir/ops.go, each computed literally from its definition
// there (the primitive computation it replaces, in the same order of
// operations), so that -O0 and -O2 modules agree to float64 rounding.

// evalFused computes one fused op.
func evalFused(v *ir.Value, args []*Tensor) (*Tensor, error) {
	switch v.Op {
	case ir.OpRMSNorm:
		eps, err := floatAttr(v, "eps")
		if err != nil {
			return nil, err
		}
		return rmsNorm(args[0], args[1], eps)
	case ir.OpSinkhorn:
		iters, ok := v.Attrs.Get("iters").(int)
		if !ok || iters < 1 {
			return nil, fmt.Errorf("sinkhorn needs an int attribute iters ≥ 1, got %v", v.Attrs.Get("iters"))
		}
		return sinkhorn(args[0], iters)
	case ir.OpHCCoeffs:
		eps, err := floatAttr(v, "eps")
		if err != nil {
			return nil, err
		}
		n, ok := v.Attrs.Get("n").(int)
		if !ok || n < 1 {
			return nil, fmt.Errorf("hc.coeffs needs an int attribute n ≥ 1, got %v", v.Attrs.Get("n"))
		}
		return hcCoeffs(args[0], args[1], args[2], args[3], n, ir.HCCoeffsWidth(n, v.Attrs), eps)
	case ir.OpHCRead:
		return hcRead(args[0], args[1])
	case ir.OpHCWrite:
		return hcWrite(args[0], args[1], args[2], args[3])
	case ir.OpAttention:
		scale, err := floatAttr(v, "scale")
		if err != nil {
			return nil, err
		}
		causal, ok := v.Attrs.Get("causal").(bool)
		if !ok {
			return nil, fmt.Errorf("attention needs a bool attribute causal, got %T", v.Attrs.Get("causal"))
		}
		return attention(args[0], args[1], args[2], scale, causal)
	case ir.OpCrossEntropy:
		return crossEntropy(args[0], args[1])
	case ir.OpMatmulConcat:
		if len(args) < 2 {
			return nil, fmt.Errorf("matmul.concat needs x and at least one weight")
		}
		return matmulConcat(args[0], args[1:])
	case ir.OpGELU:
		return gelu(args[0]), nil
	}
	return nil, fmt.Errorf("op %q is not a fused op", v.Op)
}

func floatAttr(v *ir.Value, key string) (float64, error) {
	f, ok := v.Attrs.Get(key).(float64)
	if !ok {
		return 0, fmt.Errorf("%s needs a float64 attribute %s, got %T", v.Op, key, v.Attrs.Get(key))
	}
	return f, nil
}

// lastAxis splits a shape into (rows, last dimension).
func lastAxis(t *Tensor) (rows, n int, err error) {
	if len(t.Shape) == 0 {
		return 0, 0, fmt.Errorf("want rank ≥ 1, got a scalar")
	}
	n = t.Shape[len(t.Shape)-1]
	if n == 0 {
		return 0, 0, nil
	}
	return len(t.Data) / n, n, nil
}

// rmsNorm is x / sqrt(mean(x², last axis) + eps) · g.
func rmsNorm(x, g *Tensor, eps float64) (*Tensor, error) {
	rows, C, err := lastAxis(x)
	if err != nil {
		return nil, err
	}
	if len(g.Shape) != 1 || g.Shape[0] != C {
		return nil, fmt.Errorf("gain %v does not match x %v", g.Shape, x.Shape)
	}
	out := NewTensor(x.Shape...)
	for r := 0; r < rows; r++ {
		in, o := x.Data[r*C:(r+1)*C], out.Data[r*C:(r+1)*C]
		var ss float64
		for _, a := range in {
			ss += a * a
		}
		rms := math.Sqrt(ss/float64(C) + eps)
		for i, a := range in {
			o[i] = a / rms * g.Data[i]
		}
	}
	return out, nil
}

// sinkhorn is M = exp(L − max over the last two axes), then iters times
// every column divided by its sum, then every row by its sum.
func sinkhorn(L *Tensor, iters int) (*Tensor, error) {
	r := len(L.Shape)
	if r < 2 || L.Shape[r-1] != L.Shape[r-2] {
		return nil, fmt.Errorf("want [..., n, n], got %v", L.Shape)
	}
	n := L.Shape[r-1]
	out := NewTensor(L.Shape...)
	if n == 0 {
		return out, nil
	}
	sums := make([]float64, n)
	for p := 0; p < len(L.Data)/(n*n); p++ {
		in, M := L.Data[p*n*n:(p+1)*n*n], out.Data[p*n*n:(p+1)*n*n]
		mx := math.Inf(-1)
		for _, a := range in {
			mx = math.Max(mx, a)
		}
		for k, a := range in {
			M[k] = math.Exp(a - mx)
		}
		for range iters {
			// Columns: sums over the rows i, for every column j.
			for j := range sums {
				sums[j] = 0
			}
			for i := 0; i < n; i++ {
				for j := 0; j < n; j++ {
					sums[j] += M[i*n+j]
				}
			}
			for i := 0; i < n; i++ {
				for j := 0; j < n; j++ {
					M[i*n+j] /= sums[j]
				}
			}
			// Rows.
			for i := 0; i < n; i++ {
				var s float64
				for j := 0; j < n; j++ {
					s += M[i*n+j]
				}
				for j := 0; j < n; j++ {
					M[i*n+j] /= s
				}
			}
		}
	}
	return out, nil
}

// hcCoeffs is [σ(α₀·m_pre + b_pre) | 2σ(α₁·m_post + b_post) | α₂·m_res + b_res]
// with m = (x·phi)/sqrt(mean(x²) + eps), per row of x [..., K].
func hcCoeffs(x, phi, alpha, bias *Tensor, n, w int, eps float64) (*Tensor, error) {
	rows, K, err := lastAxis(x)
	if err != nil {
		return nil, err
	}
	if w < 2*n {
		return nil, fmt.Errorf("width %d is less than 2n = %d", w, 2*n)
	}
	if len(phi.Shape) != 2 || phi.Shape[0] != K || phi.Shape[1] != w || !equalInts(alpha.Shape, []int{3}) ||
		!equalInts(bias.Shape, []int{w}) {
		return nil, fmt.Errorf("want x [..., K], phi [K, %d], alpha [3], bias [%d], got %v %v %v %v",
			w, w, x.Shape, phi.Shape, alpha.Shape, bias.Shape)
	}
	shape := append([]int(nil), x.Shape...)
	shape[len(shape)-1] = w
	out := NewTensor(shape...)
	m := make([]float64, w)
	for r := 0; r < rows; r++ {
		in, o := x.Data[r*K:(r+1)*K], out.Data[r*w:(r+1)*w]
		var ss float64
		for _, a := range in {
			ss += a * a
		}
		rms := math.Sqrt(ss/float64(K) + eps)
		for j := range m {
			m[j] = 0
		}
		for k, a := range in {
			row := phi.Data[k*w : (k+1)*w]
			for j, p := range row {
				m[j] += a * p
			}
		}
		for j := range m {
			mj := m[j] / rms
			switch {
			case j < n:
				o[j] = sigmoid(mj*alpha.Data[0] + bias.Data[j])
			case j < 2*n:
				o[j] = sigmoid(mj*alpha.Data[1]+bias.Data[j]) * 2
			default:
				o[j] = mj*alpha.Data[2] + bias.Data[j]
			}
		}
	}
	return out, nil
}

// hcRead is u[..., c] = Σ_j hPre[..., j]·X[..., j, c].
func hcRead(h, X *Tensor) (*Tensor, error) {
	r := len(X.Shape)
	if r < 2 || !equalInts(h.Shape, X.Shape[:r-1]) {
		return nil, fmt.Errorf("want hPre [..., n] and X [..., n, C], got %v and %v", h.Shape, X.Shape)
	}
	n, C := X.Shape[r-2], X.Shape[r-1]
	out := NewTensor(append(append([]int(nil), X.Shape[:r-2]...), C)...)
	for p := 0; p < numel(X.Shape[:r-2]); p++ {
		o := out.Data[p*C : (p+1)*C]
		for j := 0; j < n; j++ {
			hj := h.Data[p*n+j]
			xs := X.Data[(p*n+j)*C : (p*n+j+1)*C]
			for c, a := range xs {
				o[c] += a * hj
			}
		}
	}
	return out, nil
}

// hcWrite is X'[..., i, c] = Σ_j hRes[..., i, j]·X[..., j, c] + hPost[..., i]·y[..., c].
func hcWrite(hRes, X, hPost, y *Tensor) (*Tensor, error) {
	r := len(X.Shape)
	if r < 2 {
		return nil, fmt.Errorf("want X [..., n, C], got %v", X.Shape)
	}
	lead := X.Shape[:r-2]
	n, C := X.Shape[r-2], X.Shape[r-1]
	if !equalInts(hRes.Shape, append(append([]int(nil), lead...), n, n)) || !equalInts(hPost.Shape, X.Shape[:r-1]) ||
		!equalInts(y.Shape, append(append([]int(nil), lead...), C)) {
		return nil, fmt.Errorf("want hRes [..., n, n], X [..., n, C], hPost [..., n], y [..., C], got %v %v %v %v",
			hRes.Shape, X.Shape, hPost.Shape, y.Shape)
	}
	out := NewTensor(X.Shape...)
	for p := 0; p < numel(lead); p++ {
		xs := X.Data[p*n*C : (p+1)*n*C]
		ys := y.Data[p*C : (p+1)*C]
		for i := 0; i < n; i++ {
			o := out.Data[(p*n+i)*C : (p*n+i+1)*C]
			for j := 0; j < n; j++ {
				hij := hRes.Data[(p*n+i)*n+j]
				for c, a := range xs[j*C : (j+1)*C] {
					o[c] += hij * a
				}
			}
			hp := hPost.Data[p*n+i]
			for c, a := range ys {
				o[c] += hp * a
			}
		}
	}
	return out, nil
}

// attention is softmax(causal_mask(q·kᵀ·scale))·v, the mask only when
// causal, with causal_mask's value CausalMaskValue.
func attention(q, k, v *Tensor, scale float64, causal bool) (*Tensor, error) {
	r := len(q.Shape)
	if r < 2 || !equalInts(q.Shape, k.Shape) || len(v.Shape) != r || !equalInts(q.Shape[:r-1], v.Shape[:r-1]) {
		return nil, fmt.Errorf("want q, k [..., T, d] and v [..., T, dv], got %v %v %v", q.Shape, k.Shape, v.Shape)
	}
	T, d, dv := q.Shape[r-2], q.Shape[r-1], v.Shape[r-1]
	out := NewTensor(v.Shape...)
	s := make([]float64, T)
	for p := 0; p < numel(q.Shape[:r-2]); p++ {
		Q, K := q.Data[p*T*d:(p+1)*T*d], k.Data[p*T*d:(p+1)*T*d]
		V, O := v.Data[p*T*dv:(p+1)*T*dv], out.Data[p*T*dv:(p+1)*T*dv]
		for i := 0; i < T; i++ {
			qi := Q[i*d : (i+1)*d]
			mx := math.Inf(-1)
			for j := 0; j < T; j++ {
				var dot float64
				for c, a := range qi {
					dot += a * K[j*d+c]
				}
				s[j] = dot * scale
				if causal && j > i {
					s[j] = CausalMaskValue
				}
				mx = math.Max(mx, s[j])
			}
			var sum float64
			for j := range s {
				sum += math.Exp(s[j] - mx)
			}
			o := O[i*dv : (i+1)*dv]
			for j := 0; j < T; j++ {
				a := math.Exp(s[j]-mx) / sum
				for c, x := range V[j*dv : (j+1)*dv] {
					o[c] += a * x
				}
			}
		}
	}
	return out, nil
}

// crossEntropy is the mean over every position of
// −log_softmax(logits)[..., target].
func crossEntropy(logits, targets *Tensor) (*Tensor, error) {
	r := len(logits.Shape)
	if r < 1 || len(targets.Shape) != r-1 || !equalInts(logits.Shape[:r-1], targets.Shape) {
		return nil, fmt.Errorf("want logits [..., V] and targets [...], got %v and %v", logits.Shape, targets.Shape)
	}
	V := logits.Shape[r-1]
	var sum float64
	for p, t := range targets.Data {
		i, err := index(t, V)
		if err != nil {
			return nil, fmt.Errorf("position %d: %w", p, err)
		}
		row := logits.Data[p*V : (p+1)*V]
		mx := math.Inf(-1)
		for _, a := range row {
			mx = math.Max(mx, a)
		}
		var s float64
		for _, a := range row {
			s += math.Exp(a - mx)
		}
		sum += row[i] - mx - math.Log(s)
	}
	return &Tensor{Shape: []int{}, Data: []float64{-(sum / float64(len(targets.Data)))}}, nil
}

// matmulConcat is x·[w₁ | w₂ | ...] for shared weights wᵢ [K, Nᵢ].
func matmulConcat(x *Tensor, ws []*Tensor) (*Tensor, error) {
	rows, K, err := lastAxis(x)
	if err != nil {
		return nil, err
	}
	total := 0
	for _, w := range ws {
		if len(w.Shape) != 2 || w.Shape[0] != K {
			return nil, fmt.Errorf("weight %v does not match x %v", w.Shape, x.Shape)
		}
		total += w.Shape[1]
	}
	shape := append([]int(nil), x.Shape...)
	shape[len(shape)-1] = total
	out := NewTensor(shape...)
	for r := 0; r < rows; r++ {
		in := x.Data[r*K : (r+1)*K]
		off := r * total
		for _, w := range ws {
			N := w.Shape[1]
			o := out.Data[off : off+N]
			for k, a := range in {
				for j, b := range w.Data[k*N : (k+1)*N] {
					o[j] += a * b
				}
			}
			off += N
		}
	}
	return out, nil
}

// gelu is 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) elementwise, in the
// order of operations of the primitive form.
func gelu(x *Tensor) *Tensor {
	out := NewTensor(x.Shape...)
	c := math.Sqrt(2 / math.Pi)
	for i, a := range x.Data {
		x3 := a * a * a
		out.Data[i] = a * 0.5 * (math.Tanh((a+x3*0.044715)*c) + 1)
	}
	return out
}
