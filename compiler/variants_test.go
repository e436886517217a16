package compiler

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/backend/ref"
	"github.com/mhcc/mhcc/internal/testmodels"
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// Tests of the hyper-connection variants: every H_res has the properties
// its constraint promises, and every coefficient equals the formula of
// docs/hyperconnections.md §3–§4 computed directly (with non-symmetric matrices, so that a
// transposed H_res fails).

// diagEval compiles src, lowers it with LowerDiagnostics and evaluates
// every output with the reference interpreter on random weights (scaled
// by scale) and random tokens, B=2, T=3.
func diagEval(t *testing.T, src string, scale float64) (*lang.Program, map[string]*ref.Tensor, map[string][]float64) {
	t.Helper()
	res := compileAt(t, "v", []byte(src), Options{Level: O0})
	m, err := LowerDiagnostics(res.Program)
	if err != nil {
		t.Fatal(err)
	}
	params := randomWeights(m, 5)
	for name, d := range params {
		if !strings.HasSuffix(name, "norm.weight") && !strings.HasSuffix(name, ".alpha") {
			for i := range d {
				d[i] *= scale
			}
		}
	}
	rng := rand.New(rand.NewPCG(8, 9))
	V := res.Program.Model.Vocab
	inputs := map[string][]int{InputTokens: randomTokens(rng, 6, V), InputTargets: randomTokens(rng, 6, V)}
	out, err := ref.Eval(m, map[string]int{SymBatch: 2, SymTime: 3}, params, inputs)
	if err != nil {
		t.Fatal(err)
	}
	return res.Program, out, params
}

// TestConstraintProperties checks the promise of each constraint on the
// H_res of every sublayer and token of a 2-layer model with random
// weights: birkhoff — positive entries, rows sum to 1 exactly, columns
// within the Sinkhorn tolerance; stochastic — non-negative, rows exact;
// permutations — non-negative, rows and columns exact. H_pre ∈ (0, 1) and
// H_post ∈ (0, 2) for the mHC family.
func TestConstraintProperties(t *testing.T) {
	for _, c := range []string{"birkhoff", "stochastic", "permutations"} {
		for _, dyn := range []string{"true", "false"} {
			t.Run(c+"-dynamic="+dyn, func(t *testing.T) {
				p, out, _ := diagEval(t, testmodels.Tiny("residual streams=4 constraint="+c+" dynamic="+dyn), 0.3)
				n := 4
				rowTol, colTol := 1e-12, 1e-12
				if c == "birkhoff" {
					colTol = 1e-3
				}
				if c == "stochastic" {
					colTol = math.Inf(1)
				}
				worstCol := 0.0
				for k := range p.Model.Blocks {
					H := out[HCOutput(k, HCRes)].Data
					pre, post := out[HCOutput(k, HCPre)].Data, out[HCOutput(k, HCPost)].Data
					if len(H) != 6*n*n || len(pre) != 6*n || len(post) != 6*n {
						t.Fatalf("sublayer %d: sizes %d %d %d", k, len(H), len(pre), len(post))
					}
					for i, x := range pre {
						if !(x > 0 && x < 1) || !(post[i] > 0 && post[i] < 2) {
							t.Fatalf("sublayer %d: H_pre %g, H_post %g out of range", k, x, post[i])
						}
					}
					for tok := 0; tok < 6; tok++ {
						M := H[tok*n*n : (tok+1)*n*n]
						for i := 0; i < n; i++ {
							row, col := 0.0, 0.0
							for j := 0; j < n; j++ {
								if M[i*n+j] < 0 || (c == "birkhoff" && M[i*n+j] <= 0) {
									t.Fatalf("sublayer %d token %d: entry (%d,%d) = %g", k, tok, i, j, M[i*n+j])
								}
								row += M[i*n+j]
								col += M[j*n+i]
							}
							if math.Abs(row-1) > rowTol {
								t.Errorf("sublayer %d token %d: row %d sums to %.15g", k, tok, i, row)
							}
							if math.Abs(col-1) > colTol {
								t.Errorf("sublayer %d token %d: column %d sums to %.15g", k, tok, i, col)
							}
							worstCol = math.Max(worstCol, math.Abs(col-1))
						}
					}
				}
				t.Logf("max |column sum − 1| = %.3g", worstCol)
				if c == "stochastic" && worstCol < 1e-6 {
					t.Errorf("stochastic H_res has exact columns too; the test weights do not exercise it")
				}
			})
		}
	}
}

// oneSublayer lowers a single hyper-connected sublayer (an MLP) of the
// residual res over a stream tensor X given as the param "x" [B,T,n,C],
// with the coefficients as outputs pre, post and res. The caller gives x
// in the params.
func oneSublayer(t *testing.T, res lang.Residual, C int) *ir.Module {
	t.Helper()
	p := &lang.Program{File: "t.mhc", Model: lang.Model{Embed: lang.Embed{Dim: C, InitStd: 0.02}, Residual: res}}
	blk := &lang.Block{Path: "blocks.0.mlp", Index: 1, Name: "mlp", Norm: lang.Norm{Kind: "rms", Eps: 1e-6}, MLP: &lang.MLP{Hidden: 3, Act: "relu"}}
	l := &lowerer{p: p, b: ir.NewBuilder("t.mhc", SymBatch, SymTime)}
	X := l.b.Input("x", ir.Type{DType: ir.F32, Shape: bt(res.Streams, C)})
	l.b.Output("x_next", l.hyperSublayer(blk, X))
	if len(l.coeffs) != 1 {
		t.Fatalf("%d coefficient sets recorded", len(l.coeffs))
	}
	l.b.Output("pre", l.coeffs[0].pre)
	l.b.Output("post", l.coeffs[0].post)
	l.b.Output("res", l.coeffs[0].res)
	if err := l.b.Err(); err != nil {
		t.Fatal(err)
	}
	if err := ir.Verify(l.b.M); err != nil {
		t.Fatal(err)
	}
	return l.b.M
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func evalModule(t *testing.T, m *ir.Module, params map[string][]float64) map[string]*ref.Tensor {
	t.Helper()
	out, err := ref.Eval(m, testBinds, params, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func near(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol {
			t.Fatalf("%s[%d] = %.15g, want %.15g\ngot  %v\nwant %v", what, i, got[i], want[i], got, want)
		}
	}
}

// TestHCCoefficientsFromFormula pins constraint=none (docs/hyperconnections.md §4) against
// a direct computation: H̄_j = RMSNorm(X_j)·g, A_m[j] = s_α·tanh(H̄_j·W_m)
// + A_m⁰[j], B[i] = s_β·tanh(H̄_i·W_β) + B⁰[i], A_r[j,i] =
// s_α·tanh(H̄_j·W_r[:,i]) + A_r⁰[j,i]; H_pre = A_m, H_post = B and
// H_res[i,j] = A_r[j,i]. Every matrix is non-symmetric and the streams
// differ, so a missing or extra transpose fails.
func TestHCCoefficientsFromFormula(t *testing.T) {
	const n, C = 3, 4
	res := lang.Residual{Kind: lang.ResidualHyper, Streams: n, Constraint: lang.ConstraintNone, Dynamic: true, Init: lang.InitResidual, Alpha: 0.01, Collapse: lang.CollapseSum}
	m := oneSublayer(t, res, C)
	params := randomWeights(m, 11)
	rng := rand.New(rand.NewPCG(3, 3))
	tok := testBinds[SymBatch] * testBinds[SymTime]
	params["x"] = randSlice(rng, tok*n*C, 1)
	params["blocks.0.mlp.hc.alpha"] = []float64{0.7, 1.3}
	out := evalModule(t, m, params)

	g := params["blocks.0.mlp.hc.norm.weight"]
	wm, wb, wr := params["blocks.0.mlp.hc.w_m"], params["blocks.0.mlp.hc.w_b"], params["blocks.0.mlp.hc.w_r"]
	am, ar, b0 := params["blocks.0.mlp.hc.a_m"], params["blocks.0.mlp.hc.a_r"], params["blocks.0.mlp.hc.b"]
	sa, sb := 0.7, 1.3
	var wantPre, wantPost, wantRes []float64
	for k := 0; k < tok; k++ {
		hbar := make([][]float64, n)
		for j := 0; j < n; j++ {
			x := params["x"][(k*n+j)*C : (k*n+j+1)*C]
			ms := 0.0
			for _, v := range x {
				ms += v * v
			}
			r := math.Sqrt(ms/C + 1e-6)
			hbar[j] = make([]float64, C)
			for c := range x {
				hbar[j][c] = x[c] / r * g[c]
			}
		}
		dot := func(h []float64, w []float64, stride, col int) float64 {
			s := 0.0
			for c := range h {
				s += h[c] * w[c*stride+col]
			}
			return s
		}
		Ar := make([]float64, n*n)
		for j := 0; j < n; j++ {
			wantPre = append(wantPre, sa*math.Tanh(dot(hbar[j], wm, 1, 0))+am[j])
			for i := 0; i < n; i++ {
				Ar[j*n+i] = sa*math.Tanh(dot(hbar[j], wr, n, i)) + ar[j*n+i]
			}
		}
		for i := 0; i < n; i++ {
			wantPost = append(wantPost, sb*math.Tanh(dot(hbar[i], wb, 1, 0))+b0[i])
		}
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				wantRes = append(wantRes, Ar[j*n+i]) // H_res = A_rᵀ
			}
		}
	}
	near(t, "H_pre", out["pre"].Data, wantPre, 1e-12)
	near(t, "H_post", out["post"].Data, wantPost, 1e-12)
	near(t, "H_res", out["res"].Data, wantRes, 1e-12)
	// The test is only meaningful if H_res is far from symmetric.
	H := out["res"].Data[:n*n]
	if math.Abs(H[0*n+1]-H[1*n+0]) < 1e-3 {
		t.Fatalf("H_res %v is nearly symmetric; the test would not catch a transpose", H)
	}
}

// TestStaticCoefficients: with dynamic=false the coefficients are the
// static parameters alone, the same for every token: HC's A_m⁰, B⁰ and
// (A_r⁰)ᵀ, and mHC's σ(b_pre), 2σ(b_post), SK(b_res).
func TestStaticCoefficients(t *testing.T) {
	const n, C = 3, 2
	tok := testBinds[SymBatch] * testBinds[SymTime]
	repeat := func(x []float64) []float64 {
		var out []float64
		for range tok {
			out = append(out, x...)
		}
		return out
	}
	t.Run("none", func(t *testing.T) {
		res := lang.Residual{Kind: lang.ResidualHyper, Streams: n, Constraint: lang.ConstraintNone, Init: lang.InitResidual, Collapse: lang.CollapseSum}
		m := oneSublayer(t, res, C)
		params := randomWeights(m, 2)
		params["x"] = randSlice(rand.New(rand.NewPCG(1, 1)), tok*n*C, 1)
		params["blocks.0.mlp.hc.a_r"] = []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}
		out := evalModule(t, m, params)
		near(t, "H_pre", out["pre"].Data, repeat(params["blocks.0.mlp.hc.a_m"]), 0)
		near(t, "H_post", out["post"].Data, repeat(params["blocks.0.mlp.hc.b"]), 0)
		near(t, "H_res", out["res"].Data, repeat([]float64{1, 4, 7, 2, 5, 8, 3, 6, 9}), 0)
		for _, name := range m.ParamNames() {
			if strings.Contains(name, ".w_") || strings.HasSuffix(name, "hc.alpha") || strings.Contains(name, "hc.norm") {
				t.Errorf("static HC has the dynamic parameter %s", name)
			}
		}
	})
	t.Run("birkhoff", func(t *testing.T) {
		res := lang.Residual{Kind: lang.ResidualHyper, Streams: n, Constraint: lang.ConstraintBirkhoff, Sinkhorn: 30, Init: lang.InitResidual, Collapse: lang.CollapseSum}
		m := oneSublayer(t, res, C)
		params := randomWeights(m, 2)
		params["x"] = randSlice(rand.New(rand.NewPCG(1, 1)), tok*n*C, 1)
		bias := params["blocks.0.mlp.hc.bias"]
		out := evalModule(t, m, params)
		var pre, post []float64
		for i := 0; i < n; i++ {
			pre = append(pre, sigmoid(bias[i]))
			post = append(post, 2*sigmoid(bias[n+i]))
		}
		near(t, "H_pre", out["pre"].Data, repeat(pre), 1e-15)
		near(t, "H_post", out["post"].Data, repeat(post), 1e-15)
		near(t, "H_res", out["res"].Data, repeat(directSinkhorn(bias[2*n:], n, 30)), 1e-14)
		for _, name := range m.ParamNames() {
			if strings.HasSuffix(name, "hc.phi") || strings.HasSuffix(name, "hc.alpha") {
				t.Errorf("static mHC has the dynamic parameter %s", name)
			}
		}
	})
}

// directSinkhorn is docs/hyperconnections.md §3 step 5 on one n×n logit matrix.
func directSinkhorn(L []float64, n, iters int) []float64 {
	M := make([]float64, n*n)
	mx := math.Inf(-1)
	for _, x := range L {
		mx = math.Max(mx, x)
	}
	for k := range M {
		M[k] = math.Exp(L[k] - mx)
	}
	for range iters {
		for j := 0; j < n; j++ {
			s := 0.0
			for i := 0; i < n; i++ {
				s += M[i*n+j]
			}
			for i := 0; i < n; i++ {
				M[i*n+j] /= s
			}
		}
		for i := 0; i < n; i++ {
			s := 0.0
			for j := 0; j < n; j++ {
				s += M[i*n+j]
			}
			for j := 0; j < n; j++ {
				M[i*n+j] /= s
			}
		}
	}
	return M
}

// TestMHCFamilyFromFormula pins the dynamic mHC family (docs/hyperconnections.md §3) for
// each manifold: m = vec(X)·phi / sqrt(mean(x²) + 1e-6); H_pre =
// σ(α₀·m_pre + b_pre), H_post = 2σ(α₁·m_post + b_post), and H_res from
// the logits α₂·m_res + b_res: Sinkhorn-Knopp (birkhoff), a softmax over
// each row (stochastic), or Σ_p softmax(logits)_p·P_p with P_p[i, π_p(i)]
// = 1 over the permutations in lexicographic order (permutations).
func TestMHCFamilyFromFormula(t *testing.T) {
	const n, C = 3, 2
	for _, c := range []string{lang.ConstraintBirkhoff, lang.ConstraintStochastic, lang.ConstraintPermutations} {
		t.Run(c, func(t *testing.T) {
			res := lang.Residual{Kind: lang.ResidualHyper, Streams: n, Constraint: c, Dynamic: true, Sinkhorn: 7, Init: lang.InitResidual, Alpha: 0.01, Collapse: lang.CollapseSum}
			m := oneSublayer(t, res, C)
			params := randomWeights(m, 4)
			rng := rand.New(rand.NewPCG(5, 5))
			tok := testBinds[SymBatch] * testBinds[SymTime]
			params["x"] = randSlice(rng, tok*n*C, 1)
			alpha := []float64{0.6, 0.9, 1.4}
			params["blocks.0.mlp.hc.alpha"] = alpha
			out := evalModule(t, m, params)
			phi, bias := params["blocks.0.mlp.hc.phi"], params["blocks.0.mlp.hc.bias"]
			width := len(bias)
			var wantPre, wantPost, wantRes []float64
			for k := 0; k < tok; k++ {
				x := params["x"][k*n*C : (k+1)*n*C]
				ms := 0.0
				for _, v := range x {
					ms += v * v
				}
				r := math.Sqrt(ms/float64(n*C) + 1e-6)
				mm := make([]float64, width)
				for col := range mm {
					for i, v := range x {
						mm[col] += v * phi[i*width+col]
					}
					mm[col] /= r
				}
				for i := 0; i < n; i++ {
					wantPre = append(wantPre, sigmoid(alpha[0]*mm[i]+bias[i]))
					wantPost = append(wantPost, 2*sigmoid(alpha[1]*mm[n+i]+bias[n+i]))
				}
				logits := make([]float64, width-2*n)
				for i := range logits {
					logits[i] = alpha[2]*mm[2*n+i] + bias[2*n+i]
				}
				switch c {
				case lang.ConstraintBirkhoff:
					wantRes = append(wantRes, directSinkhorn(logits, n, 7)...)
				case lang.ConstraintStochastic:
					for i := 0; i < n; i++ {
						wantRes = append(wantRes, softmaxOf(logits[i*n:(i+1)*n])...)
					}
				case lang.ConstraintPermutations:
					w := softmaxOf(logits)
					H := make([]float64, n*n)
					for p, pi := range ir.Permutations(n) {
						for i, j := range pi {
							H[i*n+j] += w[p]
						}
					}
					wantRes = append(wantRes, H...)
				}
			}
			near(t, "H_pre", out["pre"].Data, wantPre, 1e-12)
			near(t, "H_post", out["post"].Data, wantPost, 1e-12)
			near(t, "H_res", out["res"].Data, wantRes, 1e-12)
			H := out["res"].Data[:n*n]
			if math.Abs(H[0*n+1]-H[1*n+0]) < 1e-4 {
				t.Fatalf("H_res %v is nearly symmetric; the test would not catch a transpose", H)
			}
		})
	}
}

func softmaxOf(x []float64) []float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, v)
	}
	out := make([]float64, len(x))
	s := 0.0
	for i, v := range x {
		out[i] = math.Exp(v - mx)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

// TestLearnedCollapseFromFormula pins collapse=learned (docs/hyperconnections.md §2):
// h = Σ_i (σ(α·(x·φ)/r + b)_i + 1e-6)·X_i on the last stream tensor.
func TestLearnedCollapseFromFormula(t *testing.T) {
	const n, C = 3, 2
	p := &lang.Program{File: "t.mhc", Model: lang.Model{Embed: lang.Embed{Dim: C},
		Residual: lang.Residual{Kind: lang.ResidualHyper, Streams: n, Collapse: lang.CollapseLearned, PhiStd: 0.02, Alpha: 0.01}}}
	l := &lowerer{p: p, b: ir.NewBuilder("t.mhc", SymBatch, SymTime)}
	X := l.b.Param("x", bt(n, C), ir.Init{Kind: "zeros"}, false)
	out := l.collapse(X)
	params := map[string][]float64{}
	rng := rand.New(rand.NewPCG(6, 6))
	tok := testBinds[SymBatch] * testBinds[SymTime]
	params["x"] = randSlice(rng, tok*n*C, 1)
	params["collapse.phi"] = randSlice(rng, n*C*n, 0.7)
	params["collapse.bias"] = []float64{0.3, -0.2, 0.1}
	params["collapse.alpha"] = []float64{0.8}
	got := evalOut(t, l.b, out, params)
	var want []float64
	for k := 0; k < tok; k++ {
		x := params["x"][k*n*C : (k+1)*n*C]
		ms := 0.0
		for _, v := range x {
			ms += v * v
		}
		r := math.Sqrt(ms/float64(n*C) + 1e-6)
		h := make([]float64, C)
		for i := 0; i < n; i++ {
			m := 0.0
			for q, v := range x {
				m += v * params["collapse.phi"][q*n+i]
			}
			w := sigmoid(0.8*m/r+params["collapse.bias"][i]) + 1e-6
			for c := 0; c < C; c++ {
				h[c] += w * x[i*C+c]
			}
		}
		want = append(want, h...)
	}
	near(t, "h", got.Data, want, 1e-12)
}

// TestDiagnosticsOutputsSurviveFusion: the coefficient outputs of
// LowerDiagnostics compute the same values after the -O2 passes, for every
// variant (the fusions redirect outputs to their fused replacements).
func TestDiagnosticsOutputsSurviveFusion(t *testing.T) {
	for name, src := range variants() {
		t.Run(name, func(t *testing.T) {
			res := compileAt(t, name, src, Options{Level: O0})
			m0, err := LowerDiagnostics(res.Program)
			if err != nil {
				t.Fatal(err)
			}
			m2, err := LowerDiagnostics(res.Program)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := RunPasses(m2, Options{Level: O2}); err != nil {
				t.Fatal(err)
			}
			want := len(res.Program.Model.Blocks) * 3
			if res.Program.Model.Residual.Kind == lang.ResidualPlain || res.Program.Model.Residual.Constraint == lang.ConstraintIdentity {
				want = 0
			}
			got := 0
			for _, o := range m2.Outputs {
				if strings.HasPrefix(o.Name, "hc.") {
					got++
				}
			}
			if got != want {
				t.Fatalf("%d coefficient outputs, want %d", got, want)
			}
			params := randomWeights(m0, 1)
			rng := rand.New(rand.NewPCG(3, 4))
			V := res.Program.Model.Vocab
			inputs := map[string][]int{InputTokens: randomTokens(rng, 10, V), InputTargets: randomTokens(rng, 10, V)}
			binds := map[string]int{SymBatch: 2, SymTime: 5}
			o0, err := ref.Eval(m0, binds, params, inputs)
			if err != nil {
				t.Fatal(err)
			}
			o2, err := ref.Eval(m2, binds, params, inputs)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range m0.Outputs {
				a, b := o0[o.Name].Data, o2[o.Name].Data
				for i := range a {
					if d := math.Abs(a[i] - b[i]); d > 1e-9*math.Max(1, math.Abs(a[i])) {
						t.Fatalf("output %s[%d]: -O0 %.15g, -O2 %.15g", o.Name, i, a[i], b[i])
					}
				}
			}
		})
	}
}

// TestPermutationsStreamLimit: the IR refuses n > 5 (the checker reports
// it at the source line first; see lang's golden tests).
func TestPermutationsStreamLimit(t *testing.T) {
	src := []byte(testmodels.Tiny("residual streams=6 constraint=permutations"))
	res, err := CompileSource("v.mhc", src, Options{Level: O0})
	if err != nil {
		t.Fatal(err)
	}
	if res.Module != nil || !res.Diags.HasErrors() {
		t.Fatalf("streams=6 with constraint=permutations compiled")
	}
	var b strings.Builder
	res.Diags.Render(&b, src, false, 5)
	if !strings.Contains(b.String(), "v.mhc:5:12: error: `constraint=permutations` supports at most 5 streams") {
		t.Errorf("diagnostic:\n%s", b.String())
	}
}
