package compiler

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mhcc/mhcc/backend/ref"
	"github.com/mhcc/mhcc/ir"
)

// These tests evaluate the decompositions the lowering emits for mHC sublayers
// with the float64 reference interpreter, against direct loops written
// from docs/hyperconnections.md §3.

var testBinds = map[string]int{SymBatch: 2, SymTime: 3}

func randSlice(rng *rand.Rand, n int, scale float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = rng.NormFloat64() * scale
	}
	return s
}

func evalOut(t *testing.T, b *ir.Builder, out *ir.Value, params map[string][]float64) *ref.Tensor {
	t.Helper()
	b.Output("out", out)
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	outs, err := ref.Eval(b.M, testBinds, params, nil)
	if err != nil {
		t.Fatal(err)
	}
	return outs["out"]
}

func TestSinkhornRowsExactColumnsClose(t *testing.T) {
	const n, iters = 4, 20
	rng := rand.New(rand.NewPCG(1, 2))
	b := ir.NewBuilder("t.mhc", SymBatch, SymTime)
	logits := b.Param("logits", bt(n, n), ir.Init{Kind: "zeros"}, false)
	out := b.Expand(ir.OpSinkhorn, ir.Attrs{{Key: "iters", Val: iters}}, logits)
	L := randSlice(rng, 2*3*n*n, 2)
	got := evalOut(t, b, out, map[string][]float64{"logits": L})

	for m := 0; m < 2*3; m++ {
		P := got.Data[m*n*n : (m+1)*n*n]
		// Direct Sinkhorn-Knopp from docs/hyperconnections.md §3 step 5: exp, then t times
		// normalise columns, then rows.
		want := make([]float64, n*n)
		for k := range want {
			want[k] = math.Exp(L[m*n*n+k])
		}
		for range iters {
			for j := 0; j < n; j++ {
				s := 0.0
				for i := 0; i < n; i++ {
					s += want[i*n+j]
				}
				for i := 0; i < n; i++ {
					want[i*n+j] /= s
				}
			}
			for i := 0; i < n; i++ {
				s := 0.0
				for j := 0; j < n; j++ {
					s += want[i*n+j]
				}
				for j := 0; j < n; j++ {
					want[i*n+j] /= s
				}
			}
		}
		for i := 0; i < n; i++ {
			row, col := 0.0, 0.0
			for j := 0; j < n; j++ {
				if P[i*n+j] <= 0 {
					t.Errorf("matrix %d entry (%d,%d) = %g, want positive", m, i, j, P[i*n+j])
				}
				if d := math.Abs(P[i*n+j] - want[i*n+j]); d > 1e-12 {
					t.Errorf("matrix %d entry (%d,%d) = %g, direct Sinkhorn gives %g", m, i, j, P[i*n+j], want[i*n+j])
				}
				row += P[i*n+j]
				col += P[j*n+i]
			}
			if math.Abs(row-1) > 1e-6 {
				t.Errorf("matrix %d row %d sums to %.9f, want 1 within 1e-6", m, i, row)
			}
			if math.Abs(col-1) > 1e-3 {
				t.Errorf("matrix %d column %d sums to %.6f, want ≈1 after %d iterations", m, i, col, iters)
			}
		}
	}
}

// TestMixWriteOrientation pins X'_i = Σ_j H_res[i,j]·X_j + H_post[i]·y with
// a non-symmetric H_res: applying the transpose by mistake fails it.
func TestMixWriteOrientation(t *testing.T) {
	const n, C = 3, 2
	H := []float64{ // rows sum to 1, columns do not; far from symmetric
		0.7, 0.2, 0.1,
		0.0, 0.5, 0.5,
		0.6, 0.3, 0.1,
	}
	// Stream j of every token holds the value 10^j in channel 0 and −10^j in channel 1.
	b := ir.NewBuilder("t.mhc", SymBatch, SymTime)
	hRes := b.Param("h_res", bt(n, n), ir.Init{Kind: "zeros"}, false)
	X := b.Param("x", bt(n, C), ir.Init{Kind: "zeros"}, false)
	hPost := b.Param("h_post", bt(n), ir.Init{Kind: "zeros"}, false)
	y := b.Param("y", bt(C), ir.Init{Kind: "zeros"}, false)
	out := b.Expand(ir.OpHCWrite, nil, hRes, X, hPost, y)

	tok := 2 * 3
	params := map[string][]float64{}
	for range tok {
		params["h_res"] = append(params["h_res"], H...)
		params["x"] = append(params["x"], 1, -1, 10, -10, 100, -100)
		params["h_post"] = append(params["h_post"], 1.5, 0.25, 2)
		params["y"] = append(params["y"], 3, 7)
	}
	got := evalOut(t, b, out, params)
	// Stream 0: 0.7·1 + 0.2·10 + 0.1·100 = 12.7, plus 1.5·3 = 4.5 → 17.2;
	// channel 1: −12.7 + 1.5·7 = −2.2.
	// Stream 1: 0·1 + 0.5·10 + 0.5·100 = 55, plus 0.25·3 → 55.75; −55 + 1.75 = −53.25.
	// Stream 2: 0.6·1 + 0.3·10 + 0.1·100 = 13.6, plus 2·3 → 19.6; −13.6 + 14 = 0.4.
	want := []float64{17.2, -2.2, 55.75, -53.25, 19.6, 0.4}
	for k := range tok {
		for i, w := range want {
			if g := got.Data[k*n*C+i]; math.Abs(g-w) > 1e-9 {
				t.Fatalf("token %d: X' = %v, want %v (H_res must act from the left)", k, got.Data[k*n*C:(k+1)*n*C], want)
			}
		}
	}
}

func TestReadIsWeightedSumOfStreams(t *testing.T) {
	const n, C = 3, 2
	b := ir.NewBuilder("t.mhc", SymBatch, SymTime)
	hPre := b.Param("h_pre", bt(n), ir.Init{Kind: "zeros"}, false)
	X := b.Param("x", bt(n, C), ir.Init{Kind: "zeros"}, false)
	out := b.Expand(ir.OpHCRead, nil, hPre, X)
	params := map[string][]float64{}
	for range 2 * 3 {
		params["h_pre"] = append(params["h_pre"], 0.5, 0.25, 2)
		params["x"] = append(params["x"], 1, -1, 10, -10, 100, -100)
	}
	got := evalOut(t, b, out, params)
	// u = 0.5·1 + 0.25·10 + 2·100 = 203 (channel 0) and −203 (channel 1).
	for k := range 2 * 3 {
		if got.Data[2*k] != 203 || got.Data[2*k+1] != -203 {
			t.Fatalf("token %d: u = %v, want [203 -203]", k, got.Data[2*k:2*k+2])
		}
	}
}
