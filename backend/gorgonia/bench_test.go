package gorgonia

import (
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mhcc/mhcc/ir"
)

// hcModel builds a hyper-connection transformer of roughly the project's
// target size (V=256, C=128, L=4, 4 heads, n=4 streams: about 0.9M params).
func hcModel(t testing.TB, V, C, L, H, n int) *ir.Module {
	b := ir.NewBuilder("hc.mhc", "B", "T")
	B, T := ir.S("B"), ir.S("T")
	bt := func(dims ...int) ir.Shape { return append(ir.Shape{B, T}, ir.Dims(dims...)...) }
	nrm := func(std float64) ir.Init { return ir.Init{Kind: "normal", Args: []float64{std}} }
	i32 := ir.Type{DType: ir.I32, Shape: ir.Shape{B, T}}
	tok := b.Input("tokens", i32)
	tgt := b.Input("targets", i32)
	emb := b.Param("emb", ir.Dims(V, C), nrm(0.02), true)
	rms := func(x *ir.Value, gain *ir.Value) *ir.Value {
		r := x.Type.Shape.Rank() - 1
		y := b.Div(x, b.Sqrt(b.Add(b.Mean(b.Square(x), r), b.Const(1e-6))))
		if gain != nil {
			y = b.Mul(y, gain)
		}
		return y
	}
	x := b.Gather(emb, tok)
	h := b.Broadcast(b.Reshape(x, bt(1, C)), bt(n, C))
	dh := C / H
	for l := 0; l < L; l++ {
		for blk := 0; blk < 2; blk++ {
			pfx := "l" + strconv.Itoa(l) + "." + []string{"attn", "mlp"}[blk] + "."
			flat := b.Reshape(h, bt(n*C))
			whc := b.Param(pfx+"hc_w", ir.Dims(n*C, 2*n+n*n), nrm(0.01), false)
			bias := b.Param(pfx+"hc_b", ir.Dims(2*n+n*n), ir.Init{Kind: "hc_bias", Args: []float64{float64(n), float64(l % n)}}, false)
			co := b.Add(b.Matmul(rms(flat, nil), whc, false), bias)
			pre := b.Sigmoid(b.Slice(co, 2, 0, n))
			post := b.Scale(b.Sigmoid(b.Slice(co, 2, n, 2*n)), 2)
			res := b.Softmax(b.Reshape(b.Slice(co, 2, 2*n, 2*n+n*n), bt(n, n)))
			xin := b.Reshape(b.Sum(b.Mul(h, b.Reshape(pre, bt(n, 1))), 2), bt(C))
			g := b.Param(pfx+"norm", ir.Dims(C), ir.Init{Kind: "ones"}, false)
			u := rms(xin, g)
			var y *ir.Value
			if blk == 0 {
				wqkv := b.Param(pfx+"wqkv", ir.Dims(C, 3*C), nrm(0.02), true)
				wo := b.Param(pfx+"wo", ir.Dims(C, C), nrm(0.02), true)
				qkv := b.Matmul(u, wqkv, false)
				heads := func(i int) *ir.Value {
					return b.Transpose(b.Reshape(b.Slice(qkv, 2, i*C, (i+1)*C), bt(H, dh)), 0, 2, 1, 3)
				}
				q, k, v := b.Rope(heads(0), 10000), b.Rope(heads(1), 10000), heads(2)
				att := b.Softmax(b.CausalMask(b.Scale(b.Matmul(q, k, true), 1/float64(dh))))
				o := b.Reshape(b.Transpose(b.Matmul(att, v, false), 0, 2, 1, 3), bt(C))
				y = b.Matmul(o, wo, false)
			} else {
				w1 := b.Param(pfx+"w1", ir.Dims(C, 4*C), nrm(0.02), true)
				w2 := b.Param(pfx+"w2", ir.Dims(4*C, C), nrm(0.02), true)
				y = b.Matmul(b.Relu(b.Matmul(u, w1, false)), w2, false)
			}
			mixed := b.Matmul(res, h, false) // [B,T,n,n]·[B,T,n,C]
			h = b.Add(mixed, b.Mul(b.Reshape(post, bt(n, 1)), b.Reshape(y, bt(1, C))))
		}
	}
	out := rms(b.Reshape(b.Sum(h, 2), bt(C)), b.Param("final_norm", ir.Dims(C), ir.Init{Kind: "ones"}, false))
	logits := b.Matmul(out, emb, true)
	nll := b.Neg(b.Pick(b.LogSoftmax(logits), tgt))
	b.Output("loss", b.Reshape(b.Mean(nll, 0, 1), ir.Shape{}))
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	return b.M
}

// TestHCModelStep times training steps of the target-size model. It is
// skipped unless MHCC_BENCH=1 (it takes a few seconds).
func TestHCModelStep(t *testing.T) {
	if os.Getenv("MHCC_BENCH") == "" {
		t.Skip("set MHCC_BENCH=1")
	}
	m := hcModel(t, 256, 128, 4, 4, 4)
	start := time.Now()
	g, err := Build(m, Options{Binds: map[string]int{"B": 16, "T": 128}, Grad: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	np := 0
	for _, p := range g.Params() {
		np += p.Size()
	}
	t.Logf("params %d, nodes %d, build %v", np, g.NodeCount(), time.Since(start))
	g.InitParams(1)
	setInputs(t, g, map[string][]int{"tokens": tokens(16*128, 256, 1), "targets": tokens(16*128, 256, 2)})
	steps := 5
	if s, err := strconv.Atoi(os.Getenv("MHCC_STEPS")); err == nil {
		steps = s
	}
	var total time.Duration
	for i := 0; i < steps; i++ {
		if i == 1 && os.Getenv("MHCC_OPTIMES") != "" {
			opTimes = map[string]time.Duration{}
			defer func() { opTimes = nil }()
		}
		st := time.Now()
		l, err := g.Run()
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			total += time.Since(st)
		}
		t.Logf("step %d: loss %.4f, %v", i, l, time.Since(st))
	}
	if opTimes != nil {
		var sum time.Duration
		var keys []string
		for k, v := range opTimes {
			keys = append(keys, k)
			sum += v
		}
		slices.SortFunc(keys, func(a, b string) int { return int(opTimes[b] - opTimes[a]) })
		for _, k := range keys {
			t.Logf("%-28s %8.1f ms/step", k, float64(opTimes[k].Microseconds())/1000/float64(steps-1))
		}
		t.Logf("custom ops total %.1f ms/step of %.1f", float64(sum.Microseconds())/1000/float64(steps-1), float64(total.Microseconds())/1000/float64(steps-1))
	}
}
