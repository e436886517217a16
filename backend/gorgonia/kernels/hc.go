package kernels

// HCCoeffsFwd computes the hyper-connection coefficients of n streams
// from x [N, k]: m = (x·phi)/r (one GEMM per chunk of tokens, kept in st
// slot 0, 1/r in slot 1), then y = [σ(α₀m+b) | 2σ(α₁m+b) | α₂m+b].
func HCCoeffsFwd[T Float](x, phi, alpha, bias, y []T, st *Side, n, k int, eps float64) {
	w := len(phi) / k // 2n + R (R = n², or n! for permutations)
	N := len(x) / k
	m := SideBuf[T](st, 0, N*w)
	inv := SideBuf[T](st, 1, N)
	a0, a1, a2 := alpha[0], alpha[1], alpha[2]
	bias = bias[:w]
	parallelFor(N, 2*k*w, func(lo, hi int) {
		if hi == lo {
			return
		}
		if xf, ok := any(x).([]float32); ok && useVec {
			// The thin kernel (mhcc_hc_proj in hc.c: 4 tokens × 24 columns in
			// registers, the 4 rows of x packed so that they do not
			// conflict in L1): 71 GFLOP/s against the packed GEMM's 41 at
			// [512, 2048]·[2048, 24].
			// It also computes 1/r from its packed rows of x, equal to
			// vRMSInv's, so that x is read once.
			vHCProj(xf, any(phi).([]float32), any(m).([]float32), any(inv).([]float32), lo, hi, k, w, eps)
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

// HCCoeffsBwd computes, with dh̃ the gradient before the σ/2σ epilogue,
//
//	dbias = Σ_t dh̃,  dα_g = Σ_t Σ_{j∈g} dh̃·m,  dm = α_g·dh̃,  dz = dm/r,
//	dphi = xᵀ·dz,  dx = dz·phiᵀ − x·(Σ_j dm·m)/(K·r²).
//
// Any of dx, dphi, dalpha, dbias may be nil.
//
// With accX, dx is added to (it holds the other readers' parts of X's
// gradient: the stream plan of backend/gorgonia/streams.go); else it is
// overwritten. st is HCCoeffsFwd's, tmp holds scratch.
func HCCoeffsBwd[T Float](x, phi, alpha, y, gy []T, st, tmp *Side, n, k int, accX bool, dx, dphi, dalpha, dbias []T) {
	hcCoeffsBwd(x, phi, alpha, y, gy, st, tmp, n, k, accX, nil, dx, dphi, dalpha, dbias)
}

// HCXParts are the parts of a stream tensor's gradient that hc.write's and
// hc.read's backward leave to hc.coeffs's (the stream plan of
// backend/gorgonia/streams.go), for X [N, n, c]: dX_tj gets
// Σ_i R[t,i,j]·G_ti from hc.write (R = hRes [N, n, n], G its output's
// gradient [N, n, c]) and H[t,j]·GU_t from hc.read (H = hPre [N, n], GU
// its output's gradient [N, c]).
type HCXParts[T Float] struct {
	R, G, H, GU []T
}

// HCCoeffsBwdX is HCCoeffsBwd that also adds the parts p of X's gradient
// into dx (overwritten, not added to): one pass over the stream tensor
// computes Σ_i R_ij·G_i + H_j·GU + the RMS term, then the GEMM adds
// dz·phiᵀ, where hc.write's, hc.read's and hc.coeffs's backward would
// each have read and written dx.
func HCCoeffsBwdX[T Float](x, phi, alpha, y, gy []T, st, tmp *Side, n, k int, p *HCXParts[T], dx, dphi, dalpha, dbias []T) {
	hcCoeffsBwd(x, phi, alpha, y, gy, st, tmp, n, k, false, p, dx, dphi, dalpha, dbias)
}

func hcCoeffsBwd[T Float](x, phi, alpha, y, gy []T, st, tmp *Side, n, k int, accX bool, xp *HCXParts[T], dx, dphi, dalpha, dbias []T) {
	w := len(phi) / k // 2n + R (R = n², or n! for permutations)
	N := len(x) / k
	m := SideBuf[T](st, 0, N*w)
	inv := SideBuf[T](st, 1, N)
	dz := SideBuf[T](tmp, 0, N*w)
	cst := SideBuf[T](tmp, 1, N)
	nch := nChunks(N, 2*k*w)
	part := SideBuf[T](tmp, 2, nch*(w+3))
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
		if dx != nil && hi > lo && xp != nil {
			hcXParts(xp, x, cst, dx, lo, hi, len(xp.H)/N, vec)
			gemm(false, true, hi-lo, k, w, dz[lo*w:], w, phi, w, 1, dx[lo*k:], k)
			return
		}
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
		pp := SideBuf[T](tmp, 3, nch*k*w)
		parallelChunks(N, nch, func(ch, lo, hi int) {
			f := func(s []T) []float32 { return any(s).([]float32) }
			vHCDphi(f(x), f(dz), f(pp[ch*k*w:(ch+1)*k*w]), lo, hi, k, w)
		})
		sumChunks(dphi, pp, k*w, nch)
	} else if dphi != nil {
		gemmTN(k, w, N, x, dz, dphi, tmp, 3)
	}
}

// HCReadFwd computes u_t = Σ_j h[t,j]·X[t,j,:] for X [N, n, c].
func HCReadFwd[T Float](h, X, u []T, n, c int) {
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

// HCReadBwd computes dh[t,j] = ⟨gy_t, X_tj⟩ and dX_tj = h[t,j]·gy_t (dh or
// dX may be nil).
//
// With add, dX is added to instead of overwritten.
func HCReadBwd[T Float](h, X, gy, dh, dX []T, add bool, n, c int) {
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

// HCWriteFwd computes out[t,i,:] = Σ_j hRes[t,i,j]·X[t,j,:] + hPost[t,i]·y_t
// (row i of hRes = R produces stream i; hPost = p) for X [N, n, c]. Each
// token's X and y are read once.
func HCWriteFwd[T Float](R, X, p, y, out []T, n, c int) {
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

// HCWriteBwd computes, with G the gradient of the output:
//
//	dhRes[t,i,j] = ⟨G_ti, X_tj⟩,   dX_tj = Σ_i hRes[t,i,j]·G_ti,
//	dhPost[t,i] = ⟨G_ti, y_t⟩,     dy_t = Σ_i hPost[t,i]·G_ti.
//
// Any of the four outputs may be nil.
func HCWriteBwd[T Float](R, X, p, y, G, dR, dX, dp, dy []T, n, c int) {
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
					mixRows(dX[(t*n+j)*c:(t*n+j+1)*c], gt, R[t*n*n+j:], n, n, c)
				}
			}
			if dy != nil {
				mixRows(dy[t*c:(t+1)*c], gt, p[t*n:], 1, n, c)
			}
		}
	})
}

// hcXParts sets dX_tj = Σ_i R[t,i,j]·G_ti + H[t,j]·GU_t + cs[t]·X_tj for
// the tokens [lo, hi) of X [N, n, c] (HCXParts).
func hcXParts[T Float](p *HCXParts[T], X, cs, dX []T, lo, hi, n int, vec bool) {
	c := len(p.GU) / (len(p.H) / n)
	if vec {
		f := func(s []T) []float32 { return any(s).([]float32) }
		vHCXParts(f(p.R), f(p.G), f(p.H), f(p.GU), f(cs), f(X), f(dX), lo, hi, n, c)
		return
	}
	for t := lo; t < hi; t++ {
		gt, ut, rt, ct := p.G[t*n*c:(t+1)*n*c], p.GU[t*c:(t+1)*c], p.R[t*n*n:(t+1)*n*n], cs[t]
		for j := 0; j < n; j++ {
			o := (t*n + j) * c
			d, xj, hj := dX[o:o+c], X[o:o+c], p.H[t*n+j]
			mixRows(d, gt, rt[j:], n, n, c)
			for e := range d {
				d[e] += hj*ut[e] + ct*xj[e]
			}
		}
	}
}

// mixRows sets d = Σ_i a[i·stride]·G_i for one token's G [n, c]: column j
// of R [n, n] with a = R[j:] and stride n (the part of dX_j through a
// stream mix), or p [n] with stride 1.
func mixRows[T Float](d, G, a []T, stride, n, c int) {
	a0 := a[0]
	for k, v := range G[:c] {
		d[k] = a0 * v
	}
	for i := 1; i < n; i++ {
		ai := a[i*stride]
		for k, v := range G[i*c : (i+1)*c] {
			d[k] += ai * v
		}
	}
}
