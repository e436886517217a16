package gorgonia

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// Kernels of the fused ops (fused.go). All work on flat row-major data,
// write every element of their outputs (no accumulation into a stale
// buffer), and split rows (tokens, heads) over the CPUs when the work is
// large enough. Reductions across rows (gradients of shared weights) use one
// partial result per chunk, combined in chunk order, so a run is
// deterministic.

// nChunks is the number of chunks parallelFor would use for n items of
// costPer work each.
func nChunks(n, costPer int) int {
	w := runtime.GOMAXPROCS(0)
	if w > n {
		w = n
	}
	if w <= 1 || n*costPer < 1<<15 {
		return 1
	}
	return w
}

// parallelChunks runs f(ch, lo, hi) for w contiguous chunks of [0, n).
func parallelChunks(n, w int, f func(ch, lo, hi int)) {
	if w <= 1 {
		f(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < w; i++ {
		lo, hi := i*n/w, (i+1)*n/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(i, lo, hi)
		}()
	}
	wg.Wait()
}

// sumChunks adds the w per-chunk partials part[ch*n : (ch+1)*n] into dst.
func sumChunks[T float](dst, part []T, n, w int) {
	copy(dst[:n], part[:n])
	for ch := 1; ch < w; ch++ {
		p := part[ch*n : (ch+1)*n]
		for i, v := range p {
			dst[i] += v
		}
	}
}

func dot[T float](a, b []T) T {
	b = b[:len(a)]
	var s0, s1, s2, s3 T
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// ---------------------------------------------------------------- rmsnorm

// rmsInv returns 1/sqrt(mean(x²) + eps).
func rmsInv[T float](x []T, eps float64) T {
	return T(1 / math.Sqrt(float64(dot(x, x))/float64(len(x))+eps))
}

// rmsFwd: y = x/sqrt(mean(x², row) + eps)·g for rows of length c.
func rmsFwd[T float](x, g, y []T, c int, eps float64) {
	g = g[:c]
	parallelFor(len(x)/c, 3*c, func(lo, hi int) {
		if xf, ok := any(x).([]float32); ok && useVec {
			vRMSFwd(xf, any(g).([]float32), any(y).([]float32), lo, hi, c, eps)
			return
		}
		for r := lo; r < hi; r++ {
			xr, yr := x[r*c:(r+1)*c], y[r*c:(r+1)*c]
			inv := rmsInv(xr, eps)
			for i, v := range xr {
				yr[i] = v * inv * g[i]
			}
		}
	})
}

// rmsBwd: with x̂ = x·inv and inv = 1/r,
//
//	dx = inv·(gy⊙g) − x·inv³·⟨gy⊙g, x⟩/C,   dg = Σ_rows gy⊙x̂.
//
// dx or dg may be nil (not needed).
func rmsBwd[T float](x, g, gy, dx, dg []T, s *side, c int, eps float64) {
	rows := len(x) / c
	g = g[:c]
	w := nChunks(rows, 6*c)
	var part []T
	if dg != nil {
		part = sideBuf[T](s, 0, w*c)
		clear(part)
	}
	parallelChunks(rows, w, func(ch, lo, hi int) {
		var pg []T
		if part != nil {
			pg = part[ch*c : (ch+1)*c]
		}
		if xf, ok := any(x).([]float32); ok && useVec {
			f := func(s []T) []float32 { return any(s).([]float32) }
			vRMSBwd(xf, f(g), f(gy), f(dx), f(pg), lo, hi, c, eps)
			return
		}
		for r := lo; r < hi; r++ {
			xr, gr := x[r*c:(r+1)*c], gy[r*c:(r+1)*c]
			inv := rmsInv(xr, eps)
			if dx != nil {
				var d T
				for i, v := range xr {
					d += gr[i] * g[i] * v
				}
				k := d * inv * inv * inv / T(c)
				dr := dx[r*c : (r+1)*c]
				for i, v := range xr {
					dr[i] = inv*gr[i]*g[i] - v*k
				}
			}
			if pg != nil {
				for i, v := range xr {
					pg[i] += gr[i] * v * inv
				}
			}
		}
	})
	if dg != nil {
		sumChunks(dg, part, c, w)
	}
}

// ---------------------------------------------------------------- sinkhorn

// sinkCols divides every column of the n×n matrix m by its sum (storing
// the reciprocal sums in inv when non-nil).
func sinkCols[T float](m []T, n int, inv []T) {
	for j := 0; j < n; j++ {
		var s T
		for i := j; i < len(m); i += n {
			s += m[i]
		}
		r := 1 / s
		if inv != nil {
			inv[j] = r
		}
		for i := j; i < len(m); i += n {
			m[i] *= r
		}
	}
}

// sinkRows divides every row of m by its sum.
func sinkRows[T float](m []T, n int, inv []T) {
	for i := 0; i < n; i++ {
		row := m[i*n : (i+1)*n]
		var s T
		for _, v := range row {
			s += v
		}
		r := 1 / s
		if inv != nil {
			inv[i] = r
		}
		for j := range row {
			row[j] *= r
		}
	}
}

// sinkFwd: for each n×n matrix, M = exp(L − max L), then iters times
// normalise the columns, then the rows (ending on rows: rows sum to 1).
func sinkFwd[T float](x, y []T, n, iters int) {
	nn := n * n
	parallelFor(len(x)/nn, (4*iters+4)*nn, func(lo, hi int) {
		if xf, ok := any(x).([]float32); ok && useVec {
			vSinkFwd(xf, any(y).([]float32), lo, hi, n, iters)
			return
		}
		for b := lo; b < hi; b++ {
			xm, m := x[b*nn:(b+1)*nn], y[b*nn:(b+1)*nn]
			expShift(xm, m, maxOf(xm))
			for range iters {
				sinkCols(m, n, nil)
				sinkRows(m, n, nil)
			}
		}
	})
}

// sinkBwd recomputes the 2·iters+1 iterates of each matrix and
// backpropagates through every half-step: for a row step out = in·r_i
// (r_i = 1/Σ_j in_ij), d in_ij = r_i·(g_ij − Σ_k g_ik·out_ik), and likewise
// for columns; finally dL = g ⊙ exp(L − max). The max shift needs no term:
// the result does not depend on a common scale of M.
func sinkBwd[T float](x, gy, dx []T, n, iters int) {
	nn := n * n
	parallelFor(len(x)/nn, (12*iters+4)*nn, func(lo, hi int) {
		if xf, ok := any(x).([]float32); ok && useVec {
			vSinkBwd(xf, any(gy).([]float32), any(dx).([]float32), lo, hi, n, iters)
			return
		}
		st := make([]T, (2*iters+1)*nn) // the iterates
		inv := make([]T, 2*iters*n)     // reciprocal sums of each half-step
		g := make([]T, nn)
		for b := lo; b < hi; b++ {
			xm := x[b*nn : (b+1)*nn]
			p0 := st[:nn]
			expShift(xm, p0, maxOf(xm))
			for it := 0; it < iters; it++ {
				c := st[(2*it+1)*nn : (2*it+2)*nn]
				copy(c, st[2*it*nn:(2*it+1)*nn])
				sinkCols(c, n, inv[2*it*n:(2*it+1)*n])
				r := st[(2*it+2)*nn : (2*it+3)*nn]
				copy(r, c)
				sinkRows(r, n, inv[(2*it+1)*n:(2*it+2)*n])
			}
			copy(g, gy[b*nn:(b+1)*nn])
			for it := iters - 1; it >= 0; it-- {
				out, ir := st[(2*it+2)*nn:(2*it+3)*nn], inv[(2*it+1)*n:(2*it+2)*n]
				for i := 0; i < n; i++ {
					gr, or := g[i*n:(i+1)*n], out[i*n:(i+1)*n]
					d := dot(gr, or)
					for j := range gr {
						gr[j] = (gr[j] - d) * ir[i]
					}
				}
				out, ic := st[(2*it+1)*nn:(2*it+2)*nn], inv[2*it*n:(2*it+1)*n]
				for j := 0; j < n; j++ {
					var d T
					for i := j; i < nn; i += n {
						d += g[i] * out[i]
					}
					for i := j; i < nn; i += n {
						g[i] = (g[i] - d) * ic[j]
					}
				}
			}
			d := dx[b*nn : (b+1)*nn]
			for i, v := range p0 {
				d[i] = g[i] * v
			}
		}
	})
}

// ---------------------------------------------------------------- hc.coeffs

func sigmoidT[T float](v T) T {
	if f, ok := any(v).(float32); ok {
		return T(sigmoidf32(f))
	}
	if v >= 0 {
		return T(1 / (1 + math.Exp(-float64(v))))
	}
	e := math.Exp(float64(v))
	return T(e / (1 + e))
}

// hcCoeffsFwd: m = (x·phi)/r (one GEMM per chunk of tokens, kept in st
// slot 0, 1/r in slot 1), then y = [σ(α₀m+b) | 2σ(α₁m+b) | α₂m+b].
func hcCoeffsFwd[T float](x, phi, alpha, bias, y []T, st *side, n, k int, eps float64) {
	w := len(phi) / k // 2n + R (R = n², or n! for permutations)
	N := len(x) / k
	m := sideBuf[T](st, 0, N*w)
	inv := sideBuf[T](st, 1, N)
	a0, a1, a2 := alpha[0], alpha[1], alpha[2]
	bias = bias[:w]
	parallelFor(N, 2*k*w, func(lo, hi int) {
		if hi == lo {
			return
		}
		if xf, ok := any(x).([]float32); ok && useVec {
			// The thin kernel (vec_cgo.go: 4 tokens × 24 columns in
			// registers, the 4 rows of x packed so that they do not
			// conflict in L1): 71 GFLOP/s against the packed GEMM's 41 at
			// [512, 2048]·[2048, 24].
			vHCProj(xf, any(phi).([]float32), any(m).([]float32), lo, hi, k, w)
			vRMSInv(xf, any(inv).([]float32), lo, hi, k, eps)
		} else {
			gemm(false, false, hi-lo, w, k, x[lo*k:], k, phi, w, 0, m[lo*w:], w)
			for t := lo; t < hi; t++ {
				inv[t] = rmsInv(x[t*k:(t+1)*k], eps)
			}
		}
		for t := lo; t < hi; t++ {
			iv := inv[t]
			mt, yt := m[t*w:(t+1)*w], y[t*w:(t+1)*w]
			for j := range mt {
				mt[j] *= iv
			}
			for j := 0; j < n; j++ {
				yt[j] = sigmoidT(a0*mt[j] + bias[j])
			}
			for j := n; j < 2*n; j++ {
				yt[j] = 2 * sigmoidT(a1*mt[j]+bias[j])
			}
			for j := 2 * n; j < w; j++ {
				yt[j] = a2*mt[j] + bias[j]
			}
		}
	})
}

// hcCoeffsBwd: with dh̃ the gradient before the σ/2σ epilogue,
//
//	dbias = Σ_t dh̃,  dα_g = Σ_t Σ_{j∈g} dh̃·m,  dm = α_g·dh̃,  dz = dm/r,
//	dphi = xᵀ·dz,  dx = dz·phiᵀ − x·(Σ_j dm·m)/(K·r²).
//
// Any of dx, dphi, dalpha, dbias may be nil.
//
// With accX, dx is added to (it holds the other readers' parts of X's
// gradient, streams.go); else it is overwritten.
func hcCoeffsBwd[T float](x, phi, alpha, y, gy []T, st, tmp *side, n, k int, accX bool, dx, dphi, dalpha, dbias []T) {
	w := len(phi) / k // 2n + R (R = n², or n! for permutations)
	N := len(x) / k
	m := sideBuf[T](st, 0, N*w)
	inv := sideBuf[T](st, 1, N)
	dz := sideBuf[T](tmp, 0, N*w)
	cst := sideBuf[T](tmp, 1, N)
	nch := nChunks(N, 2*k*w)
	part := sideBuf[T](tmp, 2, nch*(w+3))
	clear(part)
	_, vec := any(x).([]float32)
	vec = vec && useVec
	parallelChunks(N, nch, func(ch, lo, hi int) {
		pb := part[ch*(w+3) : ch*(w+3)+w]
		pa := part[ch*(w+3)+w : (ch+1)*(w+3)]
		for t := lo; t < hi; t++ {
			mt, yt, gt, zt := m[t*w:(t+1)*w], y[t*w:(t+1)*w], gy[t*w:(t+1)*w], dz[t*w:(t+1)*w]
			var acc T
			for j := range mt {
				var gi int
				var dh T
				switch {
				case j < n:
					dh = gt[j] * yt[j] * (1 - yt[j])
				case j < 2*n:
					gi, dh = 1, gt[j]*yt[j]*(1-yt[j]/2)
				default:
					gi, dh = 2, gt[j]
				}
				pb[j] += dh
				pa[gi] += dh * mt[j]
				dm := alpha[gi] * dh
				acc += dm * mt[j]
				zt[j] = dm * inv[t]
			}
			cst[t] = -acc * inv[t] * inv[t] / T(k)
		}
		// dx: the packed GEMM (NT) and a scaled add, also for float32: the
		// thin kernel it replaced measured 20–26 GFLOP/s against the GEMM's 30–35
		// at the shapes of examples/bench (N = 1024–2048, K = 512–2048, w = 24).
		if dx != nil && hi > lo {
			var beta T
			if accX {
				beta = 1
			}
			gemm(false, true, hi-lo, k, w, dz[lo*w:], w, phi, w, beta, dx[lo*k:], k)
			if vec {
				f := func(s []T) []float32 { return any(s).([]float32) }
				vAxpyRows(f(x), f(cst), f(dx), lo, hi, k)
				return
			}
			for t := lo; t < hi; t++ {
				c := cst[t]
				xr, dr := x[t*k:(t+1)*k], dx[t*k:(t+1)*k]
				for i, v := range xr {
					dr[i] += c * v
				}
			}
		}
	})
	for j := range dbias {
		var s T
		for ch := 0; ch < nch; ch++ {
			s += part[ch*(w+3)+j]
		}
		dbias[j] = s
	}
	if dalpha != nil {
		for g := 0; g < 3; g++ {
			var s T
			for ch := 0; ch < nch; ch++ {
				s += part[ch*(w+3)+w+g]
			}
			dalpha[g] = s
		}
	}
	if dphi != nil && vec {
		// dphi = xᵀ·dz, one partial per chunk of tokens
		pp := sideBuf[T](tmp, 3, nch*k*w)
		parallelChunks(N, nch, func(ch, lo, hi int) {
			f := func(s []T) []float32 { return any(s).([]float32) }
			vHCDphi(f(x), f(dz), f(pp[ch*k*w:(ch+1)*k*w]), lo, hi, k, w)
		})
		sumChunks(dphi, pp, k*w, nch)
	} else if dphi != nil {
		gemmTN(k, w, N, x, dz, dphi, tmp, 3)
	}
}

// gemmTN computes c [m, n] = aᵀ·b for a [rows, m] and b [rows, n], the
// reduction over rows split across the CPUs (partials in side slot).
func gemmTN[T float](m, n, rows int, a, b, c []T, s *side, slot int) {
	w := nChunks(rows, 2*m*n)
	if w == 1 || m*n > 1<<16 {
		gemm(true, false, m, n, rows, a, m, b, n, 0, c, n)
		return
	}
	part := sideBuf[T](s, slot, w*m*n)
	parallelChunks(rows, w, func(ch, lo, hi int) {
		p := part[ch*m*n : (ch+1)*m*n]
		if hi == lo {
			clear(p)
			return
		}
		gemm(true, false, m, n, hi-lo, a[lo*m:], m, b[lo*n:], n, 0, p, n)
	})
	sumChunks(c, part, m*n, w)
}

// ---------------------------------------------------------------- hc.read / hc.write

// hcReadFwd: u_t = Σ_j h[t,j]·X[t,j,:].
func hcReadFwd[T float](h, X, u []T, n, c int) {
	parallelFor(len(u)/c, 2*n*c, func(lo, hi int) {
		if hf, ok := any(h).([]float32); ok && useVec {
			vHCReadFwd(hf, any(X).([]float32), any(u).([]float32), lo, hi, n, c)
			return
		}
		for t := lo; t < hi; t++ {
			ut, ht, xt := u[t*c:(t+1)*c], h[t*n:(t+1)*n], X[t*n*c:(t+1)*n*c]
			h0 := ht[0]
			for i, v := range xt[:c] {
				ut[i] = h0 * v
			}
			for j := 1; j < n; j++ {
				hj := ht[j]
				for i, v := range xt[j*c : (j+1)*c] {
					ut[i] += hj * v
				}
			}
		}
	})
}

// hcReadBwd: dh[t,j] = ⟨gy_t, X_tj⟩, dX_tj = h[t,j]·gy_t.
//
// With add, dX is added to instead of overwritten.
func hcReadBwd[T float](h, X, gy, dh, dX []T, add bool, n, c int) {
	parallelFor(len(gy)/c, 3*n*c, func(lo, hi int) {
		if hf, ok := any(h).([]float32); ok && useVec {
			vHCReadBwd(hf, any(X).([]float32), any(gy).([]float32), any(dh).([]float32), any(dX).([]float32), add, lo, hi, n, c)
			return
		}
		for t := lo; t < hi; t++ {
			gt := gy[t*c : (t+1)*c]
			for j := 0; j < n; j++ {
				o := (t*n + j) * c
				if dh != nil {
					dh[t*n+j] = dot(gt, X[o:o+c])
				}
				if dX != nil {
					hj := h[t*n+j]
					d := dX[o : o+c]
					if add {
						for i, v := range gt {
							d[i] += hj * v
						}
					} else {
						for i, v := range gt {
							d[i] = hj * v
						}
					}
				}
			}
		}
	})
}

// hcWriteFwd: out[t,i,:] = Σ_j hRes[t,i,j]·X[t,j,:] + hPost[t,i]·y_t (row i
// of hRes produces stream i). Each token's X and y are read once.
func hcWriteFwd[T float](R, X, p, y, out []T, n, c int) {
	parallelFor(len(y)/c, 2*(n+1)*n*c, func(lo, hi int) {
		if rf, ok := any(R).([]float32); ok && useVec {
			vHCWriteFwd(rf, any(X).([]float32), any(p).([]float32), any(y).([]float32), any(out).([]float32), lo, hi, n, c)
			return
		}
		for t := lo; t < hi; t++ {
			yt, xt := y[t*c:(t+1)*c], X[t*n*c:(t+1)*n*c]
			for i := 0; i < n; i++ {
				o := out[(t*n+i)*c : (t*n+i+1)*c]
				ri := R[(t*n+i)*n : (t*n+i+1)*n]
				pi := p[t*n+i]
				for k, v := range yt {
					o[k] = pi * v
				}
				j := 0
				for ; j+2 <= n; j += 2 {
					r0, r1 := ri[j], ri[j+1]
					x0, x1 := xt[j*c:(j+1)*c], xt[(j+1)*c:(j+2)*c]
					x0, x1 = x0[:len(o)], x1[:len(o)]
					for k := range o {
						o[k] += r0*x0[k] + r1*x1[k]
					}
				}
				if j < n {
					r0, x0 := ri[j], xt[j*c:(j+1)*c]
					for k, v := range x0 {
						o[k] += r0 * v
					}
				}
			}
		}
	})
}

// hcWriteBwd, with G the gradient of the output:
//
//	dhRes[t,i,j] = ⟨G_ti, X_tj⟩,   dX_tj = Σ_i hRes[t,i,j]·G_ti,
//	dhPost[t,i] = ⟨G_ti, y_t⟩,     dy_t = Σ_i hPost[t,i]·G_ti.
//
// Any of the four outputs may be nil.
func hcWriteBwd[T float](R, X, p, y, G, dR, dX, dp, dy []T, n, c int) {
	parallelFor(len(y)/c, 4*n*n*c, func(lo, hi int) {
		if rf, ok := any(R).([]float32); ok && useVec {
			f := func(s []T) []float32 { return any(s).([]float32) }
			vHCWriteBwd(rf, f(X), f(p), f(y), f(G), f(dR), f(dX), f(dp), f(dy), lo, hi, n, c)
			return
		}
		for t := lo; t < hi; t++ {
			gt, xt, yt := G[t*n*c:(t+1)*n*c], X[t*n*c:(t+1)*n*c], y[t*c:(t+1)*c]
			for i := 0; i < n; i++ {
				gi := gt[i*c : (i+1)*c]
				if dp != nil {
					dp[t*n+i] = dot(gi, yt)
				}
				if dR != nil {
					for j := 0; j < n; j++ {
						dR[(t*n+i)*n+j] = dot(gi, xt[j*c:(j+1)*c])
					}
				}
			}
			if dX != nil {
				for j := 0; j < n; j++ {
					d := dX[(t*n+j)*c : (t*n+j+1)*c]
					r0 := R[t*n*n+j]
					for k, v := range gt[:c] {
						d[k] = r0 * v
					}
					for i := 1; i < n; i++ {
						ri := R[(t*n+i)*n+j]
						for k, v := range gt[i*c : (i+1)*c] {
							d[k] += ri * v
						}
					}
				}
			}
			if dy != nil {
				d := dy[t*c : (t+1)*c]
				p0 := p[t*n]
				for k, v := range gt[:c] {
					d[k] = p0 * v
				}
				for i := 1; i < n; i++ {
					pi := p[t*n+i]
					for k, v := range gt[i*c : (i+1)*c] {
						d[k] += pi * v
					}
				}
			}
		}
	})
}

// ---------------------------------------------------------------- attention

// attnFwd: per (batch, head) b, S = q_b·k_bᵀ·scale, P = softmax over j ≤ i
// (causal) or all j, out_b = P·v_b. P is kept in st slot 0.
func attnFwd[T float](q, k, v, out []T, a attnK) {
	tt, d, dv := a.t, a.d, a.dv
	bh := len(q) / (tt * d)
	P := sideBuf[T](a.st, 0, bh*tt*tt)
	sc := T(a.scale)
	parallelFor(bh, tt*tt*(d+dv+8), func(lo, hi int) {
		for b := lo; b < hi; b++ {
			pb := P[b*tt*tt : (b+1)*tt*tt]
			qb, kb, vb, ob := q[b*tt*d:], k[b*tt*d:], v[b*tt*dv:], out[b*tt*dv:]
			// S = q·kᵀ and out = P·v, causal: only the row blocks' columns
			// up to the block's last row (the rest is masked)
			for i0, i1 := range attnBlocks(tt, a.causal) {
				gemm(false, true, i1-i0, i1, d, qb[i0*d:], d, kb, d, 0, pb[i0*tt:], tt)
			}
			attnSoftmax(pb, tt, a.causal, sc)
			for i0, i1 := range attnBlocks(tt, a.causal) {
				gemm(false, false, i1-i0, dv, i1, pb[i0*tt:], tt, vb, dv, 0, ob[i0*dv:], dv)
			}
		}
	})
}

// attnBwd, from the kept P and the output gradient G, per (batch, head):
//
//	dv = Pᵀ·G,  dP = G·vᵀ,  dS = P ⊙ (dP − rowsum(P ⊙ dP))·scale,
//	dq = dS·k,  dk = dSᵀ·q.
//
// Any of dq, dk, dv may be nil.
func attnBwd[T float](q, k, v, G, dq, dk, dvv []T, a attnGradK) {
	tt, d, dv := a.t, a.d, a.dv
	bh := len(q) / (tt * d)
	P := sideBuf[T](a.st, 0, bh*tt*tt)
	sc := T(a.scale)
	nch := nChunks(bh, 2*tt*tt*(d+dv))
	var scratch []T
	if dq != nil || dk != nil {
		scratch = sideBuf[T](a.tmp, 0, nch*tt*tt)
	}
	parallelChunks(bh, nch, func(ch, lo, hi int) {
		for b := lo; b < hi; b++ {
			pb, gb := P[b*tt*tt:(b+1)*tt*tt], G[b*tt*dv:(b+1)*tt*dv]
			// causal: P and dS vanish above the diagonal, so column block
			// [j0, j1) of Pᵀ·G and dSᵀ·q only needs rows j0..T
			if dvv != nil {
				dvb := dvv[b*tt*dv:]
				for j0, j1 := range attnBlocks(tt, a.causal) {
					r0 := lowerRow(j0, a.causal)
					gemm(true, false, j1-j0, dv, tt-r0, pb[r0*tt+j0:], tt, gb[r0*dv:], dv, 0, dvb[j0*dv:], dv)
				}
			}
			if scratch == nil {
				continue
			}
			ds := scratch[ch*tt*tt : (ch+1)*tt*tt]
			vb := v[b*tt*dv:]
			for i0, i1 := range attnBlocks(tt, a.causal) {
				gemm(false, true, i1-i0, i1, dv, gb[i0*dv:], dv, vb, dv, 0, ds[i0*tt:], tt)
			}
			attnDSoftmax(pb, ds, tt, a.causal, sc)
			if dq != nil {
				kb, dqb := k[b*tt*d:], dq[b*tt*d:]
				for i0, i1 := range attnBlocks(tt, a.causal) {
					gemm(false, false, i1-i0, d, i1, ds[i0*tt:], tt, kb, d, 0, dqb[i0*d:], d)
				}
			}
			if dk != nil {
				qb, dkb := q[b*tt*d:], dk[b*tt*d:]
				for j0, j1 := range attnBlocks(tt, a.causal) {
					r0 := lowerRow(j0, a.causal)
					gemm(true, false, j1-j0, d, tt-r0, ds[r0*tt+j0:], tt, qb[r0*d:], d, 0, dkb[j0*d:], d)
				}
			}
		}
	})
}

// attnBlock is the row-block size of causal attention's GEMMs.
const attnBlock = 32

// attnBlocks yields the row blocks [i0, i1) of a T×T attention: one block
// (0, T) unless causal with T ≥ 2·attnBlock, where row block [i0, i1)
// only needs columns [0, i1) (about 60% of the work at T = 128).
func attnBlocks(tt int, causal bool) func(yield func(int, int) bool) {
	return func(yield func(int, int) bool) {
		if !causal || tt < 2*attnBlock {
			yield(0, tt)
			return
		}
		for i0 := 0; i0 < tt; i0 += attnBlock {
			if !yield(i0, min(i0+attnBlock, tt)) {
				return
			}
		}
	}
}

// lowerRow is the first row that has non-zero entries in column block
// [j0, ...) of a causal attention matrix blocked by attnBlocks.
func lowerRow(j0 int, causal bool) int {
	if causal {
		return j0
	}
	return 0
}

// attnSoftmax turns one T×T block of scores into probabilities in place:
// row i is scaled, softmaxed over j ≤ i (causal) or all j, zero beyond.
func attnSoftmax[T float](S []T, tt int, causal bool, sc T) {
	if sf, ok := any(S).([]float32); ok && useVec {
		vAttnSoftmax(sf, tt, causal, float32(sc))
		return
	}
	for i := 0; i < tt; i++ {
		row := S[i*tt : (i+1)*tt]
		lim := tt
		if causal {
			lim = i + 1
		}
		r := row[:lim]
		for j := range r {
			r[j] *= sc
		}
		s := expShift(r, r, maxOf(r))
		inv := T(1 / s)
		for j := range r {
			r[j] *= inv
		}
		clear(row[lim:])
	}
}

// attnDSoftmax: dS = P ⊙ (dP − rowsum(P ⊙ dP))·scale in place of dP, for
// one T×T block (zero above the diagonal when causal).
func attnDSoftmax[T float](P, ds []T, tt int, causal bool, sc T) {
	if pf, ok := any(P).([]float32); ok && useVec {
		vAttnDSoftmax(pf, any(ds).([]float32), tt, causal, float32(sc))
		return
	}
	for i := 0; i < tt; i++ {
		lim := tt
		if causal {
			lim = i + 1
		}
		pr, dr := P[i*tt:i*tt+lim], ds[i*tt:(i+1)*tt]
		s := dot(pr, dr[:lim])
		for j, p := range pr {
			dr[j] = p * (dr[j] - s) * sc
		}
		clear(dr[lim:])
	}
}

// ---------------------------------------------------------------- cross_entropy

// ceFwd: y = mean over rows of logsumexp(x_r) − x_r[target_r]; the
// probabilities are kept in st slot 0 for the backward.
func ceFwd[T float](x []T, tgt []int, y []T, v int, st *side) error {
	N := len(x) / v
	P := sideBuf[T](st, 0, N*v)
	nch := nChunks(N, 4*v)
	part := sideBuf[float64](st, 1, nch)
	errs := make([]error, nch)
	parallelChunks(N, nch, func(ch, lo, hi int) {
		for _, id := range tgt[lo:hi] {
			if id < 0 || id >= v {
				errs[ch] = fmt.Errorf("cross_entropy: target %d out of range [0, %d)", id, v)
				return
			}
		}
		if xf, ok := any(x).([]float32); ok && useVec && hi > lo {
			part[ch] = vCERows(xf, tgt, any(P).([]float32), lo, hi, v)
			return
		}
		var l float64
		for r := lo; r < hi; r++ {
			id := tgt[r]
			xr, pr := x[r*v:(r+1)*v], P[r*v:(r+1)*v]
			mx := maxOf(xr)
			s := expShift(xr, pr, mx)
			l += math.Log(s) + float64(mx) - float64(xr[id])
			inv := T(1 / s)
			for j := range pr {
				pr[j] *= inv
			}
		}
		part[ch] = l
	})
	var total float64
	for ch, err := range errs {
		if err != nil {
			return err
		}
		total += part[ch]
	}
	y[0] = T(total / float64(N))
	return nil
}

// ceBwd: dx = (P − onehot(target))·g/N.
func ceBwd[T float](tgt []int, g T, dx []T, v int, st *side) {
	P := sideBuf[T](st, 0, len(dx))
	N := len(dx) / v
	c := g / T(N)
	parallelFor(N, 2*v, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			pr, dr := P[r*v:(r+1)*v], dx[r*v:(r+1)*v]
			for j, p := range pr {
				dr[j] = p * c
			}
			dr[tgt[r]] -= c
		}
	})
}

// ---------------------------------------------------------------- matmul.concat

// packWeights copies the weights side by side into st slot 0: [K, ΣN].
func packWeights[T float](ws [][]T, a mmcK) ([]T, int) {
	total := 0
	for _, n := range a.ns {
		total += n
	}
	W := sideBuf[T](a.st, 0, a.k*total)
	off := 0
	for i, w := range ws {
		n := a.ns[i]
		for r := 0; r < a.k; r++ {
			copy(W[r*total+off:r*total+off+n], w[r*n:(r+1)*n])
		}
		off += n
	}
	return W, total
}

// mmcFwd: y = x·[w₁|w₂|…] as one GEMM.
func mmcFwd[T float](x []T, ws [][]T, y []T, a mmcK) {
	W, total := packWeights(ws, a)
	gemmRows(false, len(x)/a.k, total, a.k, x, W, total, y)
}

// mmcBwd: dx = G·Wᵀ (dst[0]); d[w₁|w₂|…] = xᵀ·G split into dst[1:].
func mmcBwd[T float](x []T, ws [][]T, G []T, dst [][]T, a mmcK) {
	W, total := packWeights(ws, a)
	N := len(x) / a.k
	if dst[0] != nil {
		gemmRows(true, N, a.k, total, G, W, total, dst[0])
	}
	need := false
	for _, d := range dst[1:] {
		need = need || d != nil
	}
	if !need {
		return
	}
	dW := sideBuf[T](a.st, 1, a.k*total)
	gemmTN(a.k, total, N, x, G, dW, a.st, 2)
	off := 0
	for i, d := range dst[1:] {
		n := a.ns[i]
		if d != nil {
			for r := 0; r < a.k; r++ {
				copy(d[r*n:(r+1)*n], dW[r*total+off:r*total+off+n])
			}
		}
		off += n
	}
}

// gemmRows computes c [m, n] = a [m, k]·op(b) with b [k, n] (or [n, k]
// with transB, leading dimension ldb), the rows of a split across the CPUs.
func gemmRows[T float](transB bool, m, n, k int, a, b []T, ldb int, c []T) {
	parallelFor(m, 2*n*k, func(lo, hi int) {
		if hi > lo {
			gemm(false, transB, hi-lo, n, k, a[lo*k:], k, b, ldb, 0, c[lo*n:], n)
		}
	})
}

// ---------------------------------------------------------------- gelu

// geluC is √(2/π), geluA the cubic coefficient of the tanh approximation.
const (
	geluC = 0.7978845608028654
	geluA = 0.044715
)

// tanhT is tanh in T: the fast float32 tanh of fastmath.go for float32,
// math.Tanh for float64.
func tanhT[T float](v T) T {
	if f, ok := any(v).(float32); ok {
		return T(tanhf32(f))
	}
	return T(math.Tanh(float64(v)))
}

// geluBlock is the block length of the float32 vector path: every step
// over a block is one AVX2 call (vBin, vUnary) short enough to run on the
// calling goroutine, on data that stays in L1/L2.
const geluBlock = 4096

// The kinds and modes of vBin (mhcc_vbin): y = a∘b, a∘c or c∘b.
const (
	vbAdd, vbSub, vbMul = 0, 1, 2
	vbVV, vbVC, vbCV    = 0, 1, 2
)

// geluBlocks runs f over the blocks of [0, n) in parallel chunks, giving
// each chunk scratch buffers of nbuf blocks.
func geluBlocks(n, nbuf int, f func(lo, hi int, scratch []float32)) {
	nb := (n + geluBlock - 1) / geluBlock
	parallelFor(nb, 16*geluBlock, func(b0, b1 int) {
		var scratch []float32
		if nbuf > 0 {
			scratch = make([]float32, nbuf*geluBlock)
		}
		for blk := b0; blk < b1; blk++ {
			f(blk*geluBlock, min((blk+1)*geluBlock, n), scratch)
		}
	})
}

// geluFwdVec is geluFwd for float32 with the AVX2 kernels: per block,
// u = ((x·x)·x·0.044715 + x)·√(2/π), t = tanh u, y = (t + 1)·x·0.5.
func geluFwdVec(x, y, t []float32) {
	geluBlocks(len(x), 0, func(lo, hi int, _ []float32) {
		xs, u, ts := x[lo:hi], y[lo:hi], t[lo:hi]
		vBin(vbMul, vbVV, xs, xs, 0, u)
		vBin(vbMul, vbVV, u, xs, 0, u)
		vBin(vbMul, vbVC, u, nil, geluA, u)
		vBin(vbAdd, vbVV, xs, u, 0, u)
		vBin(vbMul, vbVC, u, nil, geluC, u)
		vUnary(vTanh, u, ts)
		vBin(vbAdd, vbVC, ts, nil, 1, u)
		vBin(vbMul, vbVV, u, xs, 0, u)
		vBin(vbMul, vbVC, u, nil, 0.5, u)
	})
}

// geluBwdVec is geluBwd for float32 with the AVX2 kernels. With
// s = 0.5·√(2/π)·x·(1 + 3·0.044715·x²), the derivative
// 0.5·(1 + t) + s·(1 − t²) is computed as (1 + t)·(0.5 + s·(1 − t)).
func geluBwdVec(x, t, gy, dx []float32) {
	geluBlocks(len(x), 2, func(lo, hi int, scratch []float32) {
		xs, ts, g, d := x[lo:hi], t[lo:hi], gy[lo:hi], dx[lo:hi]
		s, w := scratch[:len(xs)], scratch[geluBlock:geluBlock+len(xs)]
		vBin(vbMul, vbVV, xs, xs, 0, s)
		vBin(vbMul, vbVC, s, nil, 3*geluA, s)
		vBin(vbAdd, vbVC, s, nil, 1, s)
		vBin(vbMul, vbVV, s, xs, 0, s)
		vBin(vbMul, vbVC, s, nil, 0.5*geluC, s)
		vBin(vbSub, vbCV, nil, ts, 1, w) // 1 − t
		vBin(vbMul, vbVV, s, w, 0, s)
		vBin(vbAdd, vbVC, s, nil, 0.5, s)
		vBin(vbAdd, vbVC, ts, nil, 1, d) // 1 + t
		vBin(vbMul, vbVV, d, s, 0, d)
		vBin(vbMul, vbVV, d, g, 0, d)
	})
}

// geluFwd: y = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), in the primitive
// form's order of operations; t receives the tanh for the backward.
func geluFwd[T float](x, y, t []T) {
	y, t = y[:len(x)], t[:len(x)]
	if xf, ok := any(x).([]float32); ok && useVec && len(x) >= vecMin {
		geluFwdVec(xf, any(y).([]float32), any(t).([]float32))
		return
	}
	parallelFor(len(x), 24, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := x[i]
			th := tanhT((v + v*v*v*geluA) * geluC)
			t[i] = th
			y[i] = v * 0.5 * (th + 1)
		}
	})
}

// geluBwd: with t = tanh(√(2/π)·(x + 0.044715·x³)) from the forward,
//
//	dx = gy·(0.5·(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²)).
func geluBwd[T float](x, t, gy, dx []T) {
	t, gy, dx = t[:len(x)], gy[:len(x)], dx[:len(x)]
	if xf, ok := any(x).([]float32); ok && useVec && len(x) >= vecMin {
		geluBwdVec(xf, any(t).([]float32), any(gy).([]float32), any(dx).([]float32))
		return
	}
	parallelFor(len(x), 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v, th := x[i], t[i]
			dx[i] = gy[i] * (0.5*(1+th) + 0.5*v*(1-th*th)*geluC*(1+3*geluA*v*v))
		}
	})
}
