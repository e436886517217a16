package train

import (
	"fmt"
	"math"
	"time"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// The stability diagnostics of hyper-connections (docs/hyperconnections.md §5), computed
// every N steps from the coefficients of one forward pass on the step's
// batch and written into metrics.jsonl (Record's hc fields):
//
//	gain_fwd, gain_bwd                per sublayer: the Amax gain of its H_res,
//	                                  forward = max_i |Σ_j H_ij| (max absolute row
//	                                  sum), backward = max_j |Σ_i H_ij| (max
//	                                  absolute column sum), averaged over tokens
//	composite_gain_fwd, _bwd          the same for the composite
//	                                  H_res^(L−1)···H_res^(0), per token, averaged
//	hpre_mean, hpost_mean             per sublayer: mean of H_pre, H_post over
//	                                  tokens and streams
//	sinkhorn_row_err, _col_err        birkhoff only: max |row sum − 1| and
//	                                  max |column sum − 1| over all sublayers and
//	                                  tokens

// HCStats are the diagnostics of one forward pass (the metrics.jsonl keys
// in parentheses).
type HCStats struct {
	// GainFwd and GainBwd are, per sublayer, the Amax gains of H_res
	// averaged over the tokens (gain_fwd, gain_bwd).
	GainFwd, GainBwd []float64
	// CompositeGainFwd and CompositeGainBwd are the gains of the composite
	// H_res^(L−1)···H_res^(0) averaged over the tokens
	// (composite_gain_fwd, composite_gain_bwd).
	CompositeGainFwd, CompositeGainBwd float64
	// HPreMean and HPostMean are, per sublayer, the means of H_pre and
	// H_post over the tokens and streams (hpre_mean, hpost_mean).
	HPreMean, HPostMean []float64
	// SinkhornRowErr and SinkhornColErr are the largest |row sum − 1| and
	// |column sum − 1| of any H_res (sinkhorn_row_err, sinkhorn_col_err);
	// set for constraint=birkhoff only.
	SinkhornRowErr, SinkhornColErr *float64
}

// hcValues are the coefficients of one forward pass: for each sublayer,
// pre and post [tokens·n] and res [tokens·n·n] (row-major, token-major).
type hcValues struct {
	n, tokens       int
	pre, post, res  [][]float64
	sinkhornResidue bool // report the Sinkhorn row and column errors
}

// amaxGain returns the forward gain max_i |Σ_j P_ij| and the backward gain
// max_j |Σ_i P_ij| of the n×n row-major matrix P.
func amaxGain(P []float64, n int) (fwd, bwd float64) {
	for i := 0; i < n; i++ {
		row, col := 0.0, 0.0
		for j := 0; j < n; j++ {
			row += P[i*n+j]
			col += P[j*n+i]
		}
		fwd = math.Max(fwd, math.Abs(row))
		bwd = math.Max(bwd, math.Abs(col))
	}
	return fwd, bwd
}

// matmulSquare sets dst = A·B for n×n row-major matrices (dst must not
// alias A or B).
func matmulSquare(dst, A, B []float64, n int) {
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			s := 0.0
			for k := 0; k < n; k++ {
				s += A[i*n+k] * B[k*n+j]
			}
			dst[i*n+j] = s
		}
	}
}

// stats computes the diagnostics of v.
func (v *hcValues) stats() HCStats {
	n, T, L := v.n, v.tokens, len(v.res)
	nn := n * n
	st := HCStats{GainFwd: make([]float64, L), GainBwd: make([]float64, L), HPreMean: make([]float64, L), HPostMean: make([]float64, L)}
	var rowErr, colErr float64
	for k := 0; k < L; k++ {
		for t := 0; t < T; t++ {
			H := v.res[k][t*nn : (t+1)*nn]
			f, b := amaxGain(H, n)
			st.GainFwd[k] += f / float64(T)
			st.GainBwd[k] += b / float64(T)
			if v.sinkhornResidue {
				for i := 0; i < n; i++ {
					row, col := 0.0, 0.0
					for j := 0; j < n; j++ {
						row += H[i*n+j]
						col += H[j*n+i]
					}
					rowErr = math.Max(rowErr, math.Abs(row-1))
					colErr = math.Max(colErr, math.Abs(col-1))
				}
			}
		}
		st.HPreMean[k] = mean(v.pre[k])
		st.HPostMean[k] = mean(v.post[k])
	}
	// The composite P = H^(L−1)···H^(0) per token: P ← H^(k)·P.
	P, tmp := make([]float64, nn), make([]float64, nn)
	for t := 0; t < T && L > 0; t++ {
		copy(P, v.res[0][t*nn:(t+1)*nn])
		for k := 1; k < L; k++ {
			matmulSquare(tmp, v.res[k][t*nn:(t+1)*nn], P, n)
			P, tmp = tmp, P
		}
		f, b := amaxGain(P, n)
		st.CompositeGainFwd += f / float64(T)
		st.CompositeGainBwd += b / float64(T)
	}
	if v.sinkhornResidue {
		st.SinkhornRowErr, st.SinkhornColErr = &rowErr, &colErr
	}
	return st
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// finite reports whether every number of the stats is finite (JSON cannot
// hold NaN or ±Inf).
func (st *HCStats) finite() bool {
	ok := func(xs ...float64) bool {
		for _, x := range xs {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return false
			}
		}
		return true
	}
	all := append(append(append(append([]float64{st.CompositeGainFwd, st.CompositeGainBwd}, st.GainFwd...), st.GainBwd...), st.HPreMean...), st.HPostMean...)
	if st.SinkhornRowErr != nil {
		all = append(all, *st.SinkhornRowErr, *st.SinkhornColErr)
	}
	return ok(all...)
}

// record copies the stats into the metrics record r.
func (st *HCStats) record(r *Record) {
	r.GainFwd, r.GainBwd = st.GainFwd, st.GainBwd
	r.CompositeGainFwd, r.CompositeGainBwd = &st.CompositeGainFwd, &st.CompositeGainBwd
	r.HPreMean, r.HPostMean = st.HPreMean, st.HPostMean
	r.SinkhornRowErr, r.SinkhornColErr = st.SinkhornRowErr, st.SinkhornColErr
}

// diagnoser computes the diagnostics of a hyper-connected model: from a
// forward-only graph of compiler.LowerDiagnostics that shares the
// training graph's parameters or, for constraint=identity (whose
// coefficients are fixed), from the known values.
type diagnoser struct {
	res    lang.Residual
	blocks int
	B, T   int
	g      *gb.Graph // nil for constraint=identity
	names  []string
	// took is the time of the last run (not counted as training time).
	took time.Duration
}

// diagnosticsModule is the module of the diagnostics graph: that of
// compiler.LowerDiagnostics without the loss, after the -O2 passes, so
// that the graph computes the coefficients and what they depend on, fused,
// and nothing else (the -O0 forward pass with the loss kept about three
// times the activations of a training step).
func diagnosticsModule(p *lang.Program) (*ir.Module, error) {
	m, err := compiler.LowerDiagnostics(p)
	if err != nil {
		return nil, err
	}
	outs := m.Outputs[:0]
	for _, o := range m.Outputs {
		if o.Name != compiler.OutputLoss {
			outs = append(outs, o)
		}
	}
	m.Outputs = outs
	if _, err := compiler.RunPasses(m, compiler.DefaultOptions()); err != nil {
		return nil, fmt.Errorf("optimising the diagnostics module: %w", err)
	}
	return m, nil
}

// newDiagnoser returns nil for a plain residual (no diagnostics).
func newDiagnoser(p *lang.Program, base *gb.Graph, B, T int) (*diagnoser, error) {
	res := p.Model.Residual
	if res.Kind != lang.ResidualHyper || len(p.Model.Blocks) == 0 {
		return nil, nil
	}
	d := &diagnoser{res: res, blocks: len(p.Model.Blocks), B: B, T: T}
	if res.Constraint == lang.ConstraintIdentity {
		return d, nil
	}
	m, err := diagnosticsModule(p)
	if err != nil {
		return nil, err
	}
	binds := map[string]int{compiler.SymBatch: B, compiler.SymTime: T}
	if d.g, err = gb.BuildShared(m, gb.Options{Binds: binds, DType: gb.Float32}, base); err != nil {
		return nil, fmt.Errorf("building the diagnostics graph: %w", err)
	}
	for k := 0; k < d.blocks; k++ {
		d.names = append(d.names, compiler.HCOutput(k, compiler.HCPre), compiler.HCOutput(k, compiler.HCPost), compiler.HCOutput(k, compiler.HCRes))
	}
	return d, nil
}

func (d *diagnoser) close() {
	if d != nil && d.g != nil {
		d.g.Close()
	}
}

// run computes the diagnostics on one batch with the current parameters.
func (d *diagnoser) run(tokens, targets []int) (HCStats, error) {
	start := time.Now()
	defer func() { d.took = time.Since(start) }()
	n := d.res.Streams
	v := hcValues{n: n, sinkhornResidue: d.res.Constraint == lang.ConstraintBirkhoff}
	if d.g == nil {
		// constraint=identity: H_pre = e_home, H_post = 1, H_res = I.
		v.tokens = 1
		for k := 0; k < d.blocks; k++ {
			pre, post, res := make([]float64, n), make([]float64, n), make([]float64, n*n)
			pre[k%n] = 1
			for i := 0; i < n; i++ {
				post[i] = 1
				res[i*n+i] = 1
			}
			v.pre, v.post, v.res = append(v.pre, pre), append(v.post, post), append(v.res, res)
		}
		return v.stats(), nil
	}
	if err := feed(d.g, tokens, targets); err != nil {
		return HCStats{}, err
	}
	out, err := d.g.RunOutputs(d.names...)
	if err != nil {
		return HCStats{}, fmt.Errorf("diagnostics: %w", err)
	}
	v.tokens = d.B * d.T
	for k := 0; k < d.blocks; k++ {
		v.pre = append(v.pre, out[d.names[3*k]])
		v.post = append(v.post, out[d.names[3*k+1]])
		v.res = append(v.res, out[d.names[3*k+2]])
	}
	return v.stats(), nil
}
