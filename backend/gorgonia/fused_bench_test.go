package gorgonia

import (
	"math"
	"syscall"
	"testing"
	"time"

	"github.com/mhcc/mhcc/ir"
)

// cpuTime returns the process's user + system CPU time (robust to other
// processes competing for the machine, unlike wall time).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchPair times training steps (forward + backward) of two modules
// interleaved, and reports both and their ratio in wall and CPU time.
func benchPair(b *testing.B, prim, fused *ir.Module, binds map[string]int, inputs map[string][]int) {
	vals := testValues(prim, binds, 3)
	mk := func(m *ir.Module) *Graph {
		g, err := Build(m, Options{Binds: binds, DType: Float32, Grad: true})
		if err != nil {
			b.Fatal(err)
		}
		setValues(b, g, vals)
		setInputs(b, g, inputs)
		if _, err := g.Run(); err != nil {
			b.Fatal(err)
		}
		return g
	}
	gp, gf := mk(prim), mk(fused)
	defer gp.Close()
	defer gf.Close()
	var wp, wf, cp, cf time.Duration
	step := func(g *Graph, w, c *time.Duration) {
		c0, w0 := cpuTime(), time.Now()
		if _, err := g.Run(); err != nil {
			b.Fatal(err)
		}
		*w += time.Since(w0)
		*c += cpuTime() - c0
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step(gp, &wp, &cp)
		step(gf, &wf, &cf)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(wp), "prim-ms")
	b.ReportMetric(ms(wf), "fused-ms")
	b.ReportMetric(float64(wp)/float64(wf), "speedup")
	b.ReportMetric(float64(cp)/math.Max(float64(cf), 1), "cpu-speedup")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkFusedOps compares every fused op with its decomposition on the
// shapes of examples/tiny.mhc (B=16, T=128, C=128, n=4, 4 heads of 32,
// vocabulary 256), one forward + backward step with loss = Σ y⊙R. Example:
//
//	go test -run '^$' -bench FusedOps -benchtime 10x ./backend/gorgonia/
func BenchmarkFusedOps(b *testing.B) {
	const B, T, C, n, H, V = 16, 128, 128, 4, 4, 256
	dh := C / H
	w := n*n + 2*n
	tg := tokens(B*T, V, 5)
	cases := []struct {
		name   string
		inputs map[string][]int
		build  func(b *ir.Builder, fused bool)
	}{
		{"rmsnorm", nil, func(bb *ir.Builder, fused bool) {
			x, g := param(bb, "x", d(B, T, C)...), param(bb, "posg", d(C)...)
			sumLoss(bb, form1(bb, fused, ir.OpRMSNorm, attrs("eps", 1e-5), x, g))
		}},
		{"layernorm", nil, func(bb *ir.Builder, fused bool) {
			x, g, bias := param(bb, "x", d(B, T, C)...), param(bb, "posg", d(C)...), param(bb, "bias", d(C)...)
			sumLoss(bb, form1(bb, fused, ir.OpLayerNorm, attrs("eps", 1e-5), x, g, bias))
		}},
		{"sinkhorn", nil, func(bb *ir.Builder, fused bool) {
			l := param(bb, "x", d(B, T, n, n)...)
			sumLoss(bb, form1(bb, fused, ir.OpSinkhorn, attrs("iters", 20), l))
		}},
		{"hc.coeffs", nil, func(bb *ir.Builder, fused bool) {
			x, phi := param(bb, "x", d(B, T, n*C)...), param(bb, "phi", d(n*C, w)...)
			alpha, bias := param(bb, "alpha", d(3)...), param(bb, "bias", d(w)...)
			sumLossAll(bb, form(bb, fused, ir.OpHCCoeffs, attrs("n", n, "eps", 1e-6), x, phi, alpha, bias)...)
		}},
		{"hc.read", nil, func(bb *ir.Builder, fused bool) {
			h, X := param(bb, "h", d(B, T, n)...), param(bb, "X", d(B, T, n, C)...)
			sumLoss(bb, form1(bb, fused, ir.OpHCRead, nil, h, X))
		}},
		{"hc.write", nil, func(bb *ir.Builder, fused bool) {
			R, X := param(bb, "Hres", d(B, T, n, n)...), param(bb, "X", d(B, T, n, C)...)
			p, y := param(bb, "p", d(B, T, n)...), param(bb, "y", d(B, T, C)...)
			sumLoss(bb, form1(bb, fused, ir.OpHCWrite, nil, R, X, p, y))
		}},
		{"attention", nil, func(bb *ir.Builder, fused bool) {
			q, k, v := param(bb, "q", d(B, H, T, dh)...), param(bb, "k", d(B, H, T, dh)...), param(bb, "v", d(B, H, T, dh)...)
			sumLoss(bb, form1(bb, fused, ir.OpAttention, attrs("scale", 1/math.Sqrt(float64(dh)), "causal", true), q, k, v))
		}},
		{"cross_entropy", map[string][]int{"t": tg}, func(bb *ir.Builder, fused bool) {
			x := param(bb, "x", d(B, T, V)...)
			t := bb.Input("t", i32(B, T))
			bb.Output("loss", form1(bb, fused, ir.OpCrossEntropy, nil, x, t))
		}},
		{"matmul.concat", nil, func(bb *ir.Builder, fused bool) {
			x := param(bb, "x", d(B, T, C)...)
			ws := []*ir.Value{param(bb, "wq", d(C, C)...), param(bb, "wk", d(C, C)...), param(bb, "wv", d(C, C)...)}
			sumLossAll(bb, form(bb, fused, ir.OpMatmulConcat, nil, append([]*ir.Value{x}, ws...)...)...)
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			mk := func(fused bool) *ir.Module {
				bb := ir.NewBuilder(c.name + ".mhc")
				c.build(bb, fused)
				if err := bb.Err(); err != nil {
					b.Fatal(err)
				}
				return bb.M
			}
			benchPair(b, mk(false), mk(true), nil, c.inputs)
		})
	}
}
