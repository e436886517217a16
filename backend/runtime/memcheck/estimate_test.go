package memcheck

import (
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/internal/testmodels"
)

// liveHeap is the Go heap in use after a full collection, without the
// GEMM's packed buffers kept for reuse (the estimate's Packed part, which
// the callers leave out: the pool is the process's, not a graph's).
func liveHeap() float64 {
	kernels.ReleasePackBuffers()
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc)
}

// The accepted ratio of measured to estimated memory. Measured on this
// test's configurations (among them the LLaMA-style block with LayerNorm)
// (the live heap after building and running the graphs, against the
// estimate): training graphs 0.97–0.99, forward graphs 0.96–1.00 (the
// lowest are moe.mhc's: the estimate counts the experts' scratch for the
// largest group a routing can give one expert, a row from every token,
// and the run's routing spreads the tokens). The band adds 5% on either
// side for scratch that depends on the number of CPUs and for the
// allocator's rounding.
const minRatio, maxRatio = 0.88, 1.07

// TestEstimateMatchesMeasuredHeap builds and runs training graphs (with
// the backward pass) and forward-only graphs sharing their parameters, as
// training and evaluation do, and holds gorgonia.EstimateMemory's totals
// against the heap they take.
func TestEstimateMatchesMeasuredHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs graphs of tens of MiB")
	}
	tiny, err := os.ReadFile("../../../examples/tiny.mhc")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := os.ReadFile("../../../examples/tiny_plain.mhc")
	if err != nil {
		t.Fatal(err)
	}
	// deep.mhc (16 sublayers) made wide and long enough for its buffers to
	// dominate, with recompute=true: the stream plan's accumulated
	// gradients and recomputed tensors
	deep := strings.NewReplacer("embed dim=16", "embed dim=64", "context 6", "context 48", "hidden=24", "hidden=128").
		Replace(testmodels.Deep("residual streams=4 constraint=birkhoff sinkhorn=5 recompute=true"))
	// the LLaMA-style block (grouped-query attention with normalised
	// queries and keys, SwiGLU, an untied head) with LayerNorm
	llama, err := os.ReadFile("../../../examples/ablation/llama/2_mhc.mhc")
	if err != nil {
		t.Fatal(err)
	}
	layer := strings.ReplaceAll(string(llama), "norm rms", "norm layer")
	// mixtures of experts, wide enough for the experts' kept hidden layers
	// (moe.experts's rule) to count
	moe, err := os.ReadFile("../../../examples/bench/moe.mhc")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		src  string
		B    int
	}{
		{"tiny.mhc", string(tiny), 4},
		{"tiny_plain.mhc", string(plain), 4},
		{"deep.mhc", deep, 8},
		{"llama.mhc", layer, 16},
		{"moe.mhc", string(moe), 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := compiler.CompileSource(c.name, []byte(c.src))
			if err != nil || res.Module == nil {
				t.Fatalf("compile: %v %v", err, res.Diags)
			}
			m, T := res.Module, res.Program.Model.Context
			binds := map[string]int{compiler.SymBatch: c.B, compiler.SymTime: T}
			trainEst, err := gb.EstimateMemory(m, gb.Options{Binds: binds, DType: gb.Float32, Grad: true}, false)
			if err != nil {
				t.Fatal(err)
			}
			evalEst, err := gb.EstimateMemory(m, gb.Options{Binds: binds, DType: gb.Float32}, true)
			if err != nil {
				t.Fatal(err)
			}
			tokens := make([]int, c.B*T)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range tokens {
				tokens[i] = rng.IntN(res.Program.Model.Vocab)
			}
			debug.SetGCPercent(-1) // nothing collected but by liveHeap
			defer debug.SetGCPercent(100)

			h0 := liveHeap()
			g, err := gb.Build(m, gb.Options{Binds: binds, DType: gb.Float32, Grad: true})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			g.InitParams(1)
			for range 2 {
				if err := g.SetInput(compiler.InputTokens, tokens); err != nil {
					t.Fatal(err)
				}
				if err := g.SetInput(compiler.InputTargets, tokens); err != nil {
					t.Fatal(err)
				}
				if _, err := g.Run(); err != nil {
					t.Fatal(err)
				}
			}
			h1 := liveHeap()
			ev, err := gb.BuildShared(m, gb.Options{Binds: binds, DType: gb.Float32}, g)
			if err != nil {
				t.Fatal(err)
			}
			defer ev.Close()
			if err := ev.SetInput(compiler.InputTokens, tokens); err != nil {
				t.Fatal(err)
			}
			if err := ev.SetInput(compiler.InputTargets, tokens); err != nil {
				t.Fatal(err)
			}
			if _, err := ev.RunOutputs(compiler.OutputLoss); err != nil {
				t.Fatal(err)
			}
			h2 := liveHeap()
			for _, r := range []struct {
				what          string
				measured, est float64
			}{
				// liveHeap leaves out the GEMM's pool of packed buffers
				{"training graph", h1 - h0, trainEst.Total() - trainEst.Packed},
				{"forward graph", h2 - h1, evalEst.Total() - evalEst.Packed},
			} {
				ratio := r.measured / r.est
				t.Logf("%s B=%d: measured %s, estimated %s, ratio %.3f", r.what, c.B, Bytes(r.measured), Bytes(r.est), ratio)
				if ratio < minRatio || ratio > maxRatio {
					t.Errorf("%s: measured %s, estimated %s: ratio %.3f outside [%.2f, %.2f]",
						r.what, Bytes(r.measured), Bytes(r.est), ratio, minRatio, maxRatio)
				}
			}
		})
	}
}

// TestPackedBuffersCountedOnce: the graphs of one command share the
// GEMM's pool of packed buffers, so the estimate has one part for it, the
// largest graph's need, not a sum.
func TestPackedBuffersCountedOnce(t *testing.T) {
	res, err := compiler.CompileSource("tiny_plain.mhc", mustRead(t, "../../../examples/tiny_plain.mhc"))
	if err != nil || res.Module == nil {
		t.Fatalf("compile: %v %v", err, res.Diags)
	}
	T := res.Program.Model.Context
	e := New("test")
	train, err := e.AddGraph(Graph{Module: res.Module, Batch: 8, Context: T, Grad: true})
	if err != nil {
		t.Fatal(err)
	}
	eval, err := e.AddGraph(Graph{Name: "evaluation graph", Module: res.Module, Batch: 2, Context: T, Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	var parts []float64
	for _, p := range e.Parts {
		if p.Name == packedPart {
			parts = append(parts, p.Bytes)
		}
	}
	want := max(train.Packed, eval.Packed)
	if want == 0 {
		if len(parts) != 0 {
			t.Errorf("no packed buffers (GEMM on the BLAS), parts %v", parts)
		}
		return
	}
	if len(parts) != 1 || parts[0] != want {
		t.Errorf("packed parts %v, want one of %g (training graph %g, evaluation graph %g)", parts, want, train.Packed, eval.Packed)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
