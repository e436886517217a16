package gorgonia

import (
	"testing"

	"github.com/mhcc/mhcc/ir"
)

func TestUnaryOps(t *testing.T) {
	var cases []gcase
	for _, op := range []string{ir.OpNeg, ir.OpExp, ir.OpLog, ir.OpSqrt, ir.OpSquare, ir.OpSigmoid, ir.OpTanh, ir.OpRelu} {
		name := "x"
		if op == ir.OpLog || op == ir.OpSqrt {
			name = "posx"
		}
		cases = append(cases, gcase{name: op, build: func(b *ir.Builder) {
			x := param(b, name, d(3, 4)...)
			sumLoss(b, b.Apply(op, nil, x))
		}})
		// rank 5, through a same-shape stock op afterwards
		cases = append(cases, gcase{name: op + "_rank5", build: func(b *ir.Builder) {
			x := param(b, name, d(2, 1, 3, 2, 2)...)
			y := b.Apply(op, nil, x)
			sumLoss(b, b.Add(y, y))
		}})
	}
	runCases(t, cases)
}

func TestBinaryOps(t *testing.T) {
	shapes := []struct {
		name string
		a, b []int
	}{
		{"same", []int{3, 4}, []int{3, 4}},
		{"row", []int{2, 3, 4}, []int{4}},
		{"left_low_rank", []int{4}, []int{2, 3, 4}},
		{"both", []int{2, 1, 4}, []int{3, 1}},
		{"col", []int{3, 4}, []int{3, 1}},
		{"rank4", []int{2, 3, 1, 4}, []int{1, 3, 5, 1}},
		{"rank5", []int{2, 3, 2, 1, 4}, []int{2, 3, 1, 3, 1}},
		{"rank5_stream_bias", []int{2, 2, 3, 4, 2}, []int{4, 2}},
		{"scalar_param", []int{}, []int{3, 4}},
		{"scalar_both", []int{}, []int{}},
	}
	var cases []gcase
	for _, op := range []string{ir.OpAdd, ir.OpSub, ir.OpMul, ir.OpDiv} {
		for _, s := range shapes {
			bname := "y"
			if op == ir.OpDiv {
				bname = "posy"
			}
			cases = append(cases, gcase{name: op + "_" + s.name, build: func(b *ir.Builder) {
				x := param(b, "x", d(s.a...)...)
				y := param(b, bname, d(s.b...)...)
				sumLoss(b, b.Apply(op, nil, x, y))
			}})
		}
		// same node on both sides
		cases = append(cases, gcase{name: op + "_self", build: func(b *ir.Builder) {
			x := param(b, "posx", d(3, 4)...)
			sumLoss(b, b.Apply(op, nil, x, x))
		}})
		// constants on either side
		cases = append(cases, gcase{name: op + "_const_right", build: func(b *ir.Builder) {
			x := param(b, "posx", d(2, 3)...)
			sumLoss(b, b.Apply(op, nil, x, b.Const(1.7)))
		}})
		cases = append(cases, gcase{name: op + "_const_left", build: func(b *ir.Builder) {
			x := param(b, "posx", d(2, 3)...)
			sumLoss(b, b.Apply(op, nil, b.Const(-0.6), x))
		}})
		// const broadcast against a higher-rank value after a reshape of the const
		cases = append(cases, gcase{name: op + "_const_reshaped", build: func(b *ir.Builder) {
			x := param(b, "posx", d(2, 3)...)
			c := b.Reshape(b.Exp(b.Const(0.3)), ir.Dims(1, 1, 1))
			sumLoss(b, b.Apply(op, nil, x, c))
		}})
	}
	runCases(t, cases)
}

func TestReductions(t *testing.T) {
	var cases []gcase
	for _, op := range []string{ir.OpSum, ir.OpMean, ir.OpMax} {
		for _, ax := range []struct {
			name  string
			shape []int
			axes  []int
		}{
			{"mid", []int{2, 3, 4}, []int{1}},
			{"last", []int{2, 3, 4}, []int{2}},
			{"outer_and_last", []int{2, 3, 4}, []int{0, 2}},
			{"all", []int{2, 3, 4}, []int{0, 1, 2}},
			{"rank5", []int{2, 3, 2, 3, 2}, []int{2, 4}},
			{"size1_axis", []int{2, 1, 3}, []int{1}},
		} {
			cases = append(cases, gcase{name: op + "_" + ax.name, build: func(b *ir.Builder) {
				x := param(b, "x", d(ax.shape...)...)
				sumLoss(b, b.Apply(op, ir.Attrs{{Key: "axes", Val: ax.axes}}, x))
			}})
		}
	}
	runCases(t, cases)
}

func TestShapeOps(t *testing.T) {
	cases := []gcase{
		{name: "reshape", build: func(b *ir.Builder) {
			sumLoss(b, b.Reshape(param(b, "x", d(2, 3, 4)...), ir.Dims(6, 4)))
		}},
		{name: "reshape_square_tanh", build: func(b *ir.Builder) { // gorgonia.md P1 pattern
			x := param(b, "x", d(2, 3, 4)...)
			sumLoss(b, b.Square(b.Reshape(b.Tanh(x), ir.Dims(4, 6))))
		}},
		{name: "reshape_twice_added", build: func(b *ir.Builder) { // gorgonia.md P1 pattern
			tt := b.Tanh(param(b, "x", d(2, 3, 4)...))
			sumLoss(b, b.Add(b.Reshape(tt, ir.Dims(24)), b.Reshape(tt, ir.Dims(24))))
		}},
		{name: "reshape_then_add", build: func(b *ir.Builder) { // gradient reshaped back to the node's shape
			x := param(b, "x", d(2, 3, 4)...)
			y := param(b, "y", d(6, 4)...)
			sumLoss(b, b.Add(b.Reshape(x, ir.Dims(6, 4)), y))
		}},
		{name: "reshape_chain_used_twice", build: func(b *ir.Builder) {
			x := b.Exp(param(b, "x", d(2, 6)...))
			r := b.Reshape(b.Reshape(x, ir.Dims(3, 4)), ir.Dims(12))
			sumLoss(b, b.Add(b.Sub(r, b.Reshape(x, ir.Dims(12))), b.Mul(r, r)))
		}},
		{name: "reshape_to_rank5", build: func(b *ir.Builder) {
			x := param(b, "x", d(6, 4)...)
			y := b.Reshape(x, ir.Dims(2, 1, 3, 2, 2))
			sumLoss(b, b.Mul(y, y))
		}},
		{name: "transpose_2d", build: func(b *ir.Builder) {
			sumLoss(b, b.Transpose(param(b, "x", d(3, 4)...), 1, 0))
		}},
		{name: "transpose_square", build: func(b *ir.Builder) {
			sumLoss(b, b.Transpose(param(b, "x", d(3, 3)...), 1, 0))
		}},
		{name: "transpose_3d", build: func(b *ir.Builder) {
			sumLoss(b, b.Transpose(param(b, "x", d(2, 3, 4)...), 2, 0, 1))
		}},
		{name: "transpose_4d_heads", build: func(b *ir.Builder) {
			sumLoss(b, b.Transpose(param(b, "x", d(2, 3, 2, 4)...), 0, 2, 1, 3))
		}},
		{name: "transpose_5d", build: func(b *ir.Builder) {
			sumLoss(b, b.Transpose(param(b, "x", d(2, 3, 2, 4, 2)...), 0, 1, 3, 2, 4))
		}},
		{name: "transpose_identity", build: func(b *ir.Builder) {
			sumLoss(b, b.Transpose(param(b, "x", d(2, 3)...), 0, 1))
		}},
		{name: "slice_mid", build: func(b *ir.Builder) {
			sumLoss(b, b.Slice(param(b, "x", d(2, 4, 3)...), 1, 1, 3))
		}},
		{name: "slice_last", build: func(b *ir.Builder) {
			sumLoss(b, b.Slice(param(b, "x", d(2, 4, 5)...), 2, 2, 5))
		}},
		{name: "slice_first", build: func(b *ir.Builder) {
			sumLoss(b, b.Slice(param(b, "x", d(4, 3)...), 0, 1, 2))
		}},
		{name: "slice_rank5_exp", build: func(b *ir.Builder) {
			x := param(b, "x", d(2, 2, 3, 4, 2)...)
			sumLoss(b, b.Exp(b.Slice(x, 3, 1, 3)))
		}},
		{name: "slice_full", build: func(b *ir.Builder) {
			sumLoss(b, b.Slice(param(b, "x", d(2, 3)...), 1, 0, 3))
		}},
		{name: "slices_concat_like", build: func(b *ir.Builder) {
			x := param(b, "x", d(3, 4)...)
			sumLoss(b, b.Mul(b.Slice(x, 1, 0, 2), b.Slice(x, 1, 2, 4)))
		}},
		{name: "broadcast_mid", build: func(b *ir.Builder) {
			sumLoss(b, b.Broadcast(param(b, "x", d(2, 1, 4)...), ir.Dims(2, 3, 4)))
		}},
		{name: "broadcast_rank5", build: func(b *ir.Builder) {
			sumLoss(b, b.Broadcast(param(b, "x", d(1, 3, 1, 1, 2)...), ir.Dims(2, 3, 2, 2, 2)))
		}},
		{name: "broadcast_same", build: func(b *ir.Builder) {
			sumLoss(b, b.Broadcast(param(b, "x", d(2, 3)...), ir.Dims(2, 3)))
		}},
	}
	runCases(t, cases)
}

func TestMatmul(t *testing.T) {
	mm := func(name string, a, w []int, transB bool) gcase {
		return gcase{name: name, build: func(b *ir.Builder) {
			x := param(b, "x", d(a...)...)
			y := param(b, "w", d(w...)...)
			sumLoss(b, b.Matmul(x, y, transB))
		}}
	}
	runCases(t, []gcase{
		mm("2d", []int{3, 4}, []int{4, 5}, false),
		mm("2d_transb", []int{3, 4}, []int{5, 4}, true),
		mm("shared_3d", []int{2, 3, 4}, []int{4, 5}, false),
		mm("shared_3d_transb", []int{2, 3, 4}, []int{5, 4}, true),
		mm("shared_4d", []int{2, 3, 2, 4}, []int{4, 3}, false),
		mm("shared_5d_transb", []int{2, 1, 3, 2, 4}, []int{3, 4}, true),
		mm("shared_n1", []int{2, 3, 4}, []int{4, 1}, false),
		mm("shared_m1", []int{1, 4}, []int{4, 5}, false),
		mm("shared_k1", []int{2, 3, 1}, []int{1, 5}, false),
		mm("shared_all1", []int{1, 1}, []int{1, 1}, false),
		mm("batched_3d", []int{2, 3, 4}, []int{2, 4, 5}, false),
		mm("batched_3d_transb", []int{2, 3, 4}, []int{2, 5, 4}, true),
		mm("batched_4d", []int{2, 2, 3, 4}, []int{2, 2, 4, 3}, false),
		mm("batched_4d_transb", []int{2, 2, 3, 4}, []int{2, 2, 5, 4}, true),
		mm("batched_5d", []int{2, 1, 2, 3, 4}, []int{2, 1, 2, 4, 2}, false),
		mm("batched_5d_transb", []int{2, 1, 2, 3, 4}, []int{2, 1, 2, 2, 4}, true),
		mm("batched_1x1", []int{3, 1, 1}, []int{3, 1, 1}, false),
		mm("batched_stream_mix", []int{2, 3, 4, 4}, []int{2, 3, 4, 5}, false),
		{name: "attention_scores", build: func(b *ir.Builder) { // q·kᵀ with the same node
			x := param(b, "x", d(2, 3, 4)...)
			sumLoss(b, b.Matmul(x, x, true))
		}},
	})
}

func TestSoftmax(t *testing.T) {
	var cases []gcase
	for _, op := range []string{ir.OpSoftmax, ir.OpLogSoftmax} {
		for _, s := range [][]int{{5}, {3, 5}, {2, 3, 4}, {2, 2, 3, 3}, {2, 1, 2, 3, 4}} {
			cases = append(cases, gcase{name: op + ir.Dims(s...).String(), build: func(b *ir.Builder) {
				sumLoss(b, b.Apply(op, nil, param(b, "x", d(s...)...)))
			}})
		}
	}
	runCases(t, cases)
}

func TestIndexOps(t *testing.T) {
	i32 := func(dims ...ir.Dim) ir.Type { return ir.Type{DType: ir.I32, Shape: ir.Shape(dims)} }
	runCases(t, []gcase{
		{name: "gather_2d_idx", inputs: map[string][]int{"idx": {1, 6, 1, 0, 1, 3}}, build: func(b *ir.Builder) {
			tab := param(b, "table", d(7, 3)...)
			sumLoss(b, b.Gather(tab, b.Input("idx", i32(d(2, 3)...))))
		}},
		{name: "gather_1d_idx", inputs: map[string][]int{"idx": {4, 4, 2}}, build: func(b *ir.Builder) {
			tab := param(b, "table", d(5, 4)...)
			sumLoss(b, b.Gather(tab, b.Input("idx", i32(d(3)...))))
		}},
		{name: "pick_repeated", inputs: map[string][]int{"idx": {2, 2, 0, 4, 2, 2}}, build: func(b *ir.Builder) {
			x := param(b, "x", d(2, 3, 5)...)
			sumLoss(b, b.Pick(x, b.Input("idx", i32(d(2, 3)...))))
		}},
		{name: "pick_same_index", inputs: map[string][]int{"idx": {3, 3, 3, 3}}, build: func(b *ir.Builder) {
			x := param(b, "x", d(4, 5)...)
			sumLoss(b, b.Pick(x, b.Input("idx", i32(d(4)...))))
		}},
		{name: "pick_vector", inputs: map[string][]int{"idx": {1}}, build: func(b *ir.Builder) {
			x := param(b, "x", d(5)...)
			sumLoss(b, b.Pick(x, b.Input("idx", i32())))
		}},
		{name: "cross_entropy", inputs: map[string][]int{"idx": {1, 0, 4, 4, 2, 4}}, build: func(b *ir.Builder) {
			x := param(b, "x", d(2, 3, 5)...)
			nll := b.Neg(b.Pick(b.LogSoftmax(x), b.Input("idx", i32(d(2, 3)...))))
			b.Output("loss", b.Reshape(b.Mean(nll, 0, 1), ir.Shape{}))
		}},
		{name: "derived_int_inputs", inputs: map[string][]int{"tokens": {1, 2, 3, 4, 5, 6, 0, 6, 5, 4}}, build: func(b *ir.Builder) {
			tok := b.Input("tokens", i32(d(2, 5)...))
			in := b.Slice(tok, 1, 0, 4)
			tgt := b.Reshape(b.Slice(tok, 1, 1, 5), ir.Dims(8))
			emb := param(b, "emb", d(7, 3)...)
			w := param(b, "w", d(3, 7)...)
			logits := b.Reshape(b.Matmul(b.Gather(emb, in), w, false), ir.Dims(8, 7))
			sumLoss(b, b.Pick(b.LogSoftmax(logits), tgt))
		}},
		{name: "derived_int_transpose_broadcast", inputs: map[string][]int{"tokens": {1, 2, 3, 0, 2, 1}}, build: func(b *ir.Builder) {
			tok := b.Input("tokens", i32(d(2, 3)...))
			tt := b.Transpose(tok, 1, 0)                                         // [3,2]
			bb := b.Broadcast(b.Reshape(tt, ir.Dims(3, 1, 2)), ir.Dims(3, 2, 2)) // [3,2,2]
			sumLoss(b, b.Gather(param(b, "emb", d(4, 2)...), bb))
		}},
	})
}

func TestMaskAndRope(t *testing.T) {
	runCases(t, []gcase{
		{name: "causal_mask", build: func(b *ir.Builder) {
			sumLoss(b, b.Softmax(b.CausalMask(param(b, "x", d(2, 4, 4)...))))
		}},
		{name: "causal_mask_rank4", build: func(b *ir.Builder) {
			sumLoss(b, b.Softmax(b.CausalMask(param(b, "x", d(2, 2, 3, 3)...))))
		}},
		{name: "causal_mask_raw", build: func(b *ir.Builder) {
			// the −1e9 entries are multiplied by R: forward checks the fill value
			sumLoss(b, b.Mul(b.CausalMask(param(b, "x", d(3, 3)...)), b.Const(1e-9)))
		}},
		{name: "rope", build: func(b *ir.Builder) {
			sumLoss(b, b.Rope(param(b, "x", d(2, 4, 6)...), 10000))
		}},
		{name: "rope_rank4", build: func(b *ir.Builder) {
			sumLoss(b, b.Rope(param(b, "x", d(2, 2, 3, 4)...), 100))
		}},
		{name: "rope_rank5", build: func(b *ir.Builder) {
			sumLoss(b, b.Rope(param(b, "x", d(1, 2, 2, 5, 2)...), 10))
		}},
	})
}

func TestConstFolding(t *testing.T) {
	runCases(t, []gcase{
		{name: "const_exprs", build: func(b *ir.Builder) {
			x := param(b, "x", d(2, 3)...)
			c := b.Div(b.Sqrt(b.Const(2)), b.Add(b.Const(1), b.Tanh(b.Const(0.5))))
			sumLoss(b, b.Add(b.Mul(x, c), b.Broadcast(b.Reshape(c, ir.Dims(1, 1)), ir.Dims(2, 3))))
		}},
		{name: "const_sum", build: func(b *ir.Builder) {
			x := param(b, "x", d(2, 3)...)
			c := b.Sum(b.Broadcast(b.Reshape(b.Const(0.25), ir.Dims(1, 1)), ir.Dims(2, 3)), 1)
			sumLoss(b, b.Mul(x, c))
		}},
	})
}

// TestComposite checks blocks of a hyper-connection transformer with
// symbolic dims: RMSNorm, attention with causal mask and rope, stream mixing
// on [B,T,n,C] and rank-5 broadcasting.
func TestComposite(t *testing.T) {
	bt := func(dims ...ir.Dim) []ir.Dim { return append([]ir.Dim{ir.S("B"), ir.S("T")}, dims...) }
	binds := map[string]int{"B": 2, "T": 3}
	runCases(t, []gcase{
		{name: "rmsnorm", syms: []string{"B", "T"}, binds: binds, build: func(b *ir.Builder) {
			x := param(b, "x", bt(d(4)...)...)
			g := param(b, "gain", d(4)...)
			ms := b.Mean(b.Square(x), 2)
			y := b.Mul(b.Div(x, b.Sqrt(b.Add(ms, b.Const(1e-5)))), g)
			sumLoss(b, y)
		}},
		{name: "layernorm", syms: []string{"B", "T"}, binds: binds, build: func(b *ir.Builder) {
			x := param(b, "x", bt(d(4)...)...)
			xc := b.Sub(x, b.Mean(x, 2))
			v := b.Mean(b.Mul(xc, xc), 2)
			sumLoss(b, b.Div(xc, b.Sqrt(b.Add(v, b.Const(1e-5)))))
		}},
		{name: "attention", syms: []string{"B", "T"}, binds: binds, build: func(b *ir.Builder) {
			const H, dh = 2, 4
			x := param(b, "x", bt(d(H*dh)...)...)
			wq := param(b, "wq", d(H*dh, H*dh)...)
			wk := param(b, "wk", d(H*dh, H*dh)...)
			wv := param(b, "wv", d(H*dh, H*dh)...)
			heads := func(y *ir.Value) *ir.Value {
				return b.Transpose(b.Reshape(y, ir.Shape(bt(d(H, dh)...))), 0, 2, 1, 3)
			}
			q := b.Rope(heads(b.Matmul(x, wq, false)), 10000)
			k := b.Rope(heads(b.Matmul(x, wk, false)), 10000)
			v := heads(b.Matmul(x, wv, false))
			s := b.Scale(b.Matmul(q, k, true), 0.5)
			p := b.Softmax(b.CausalMask(s))
			o := b.Reshape(b.Transpose(b.Matmul(p, v, false), 0, 2, 1, 3), ir.Shape(bt(d(H*dh)...)))
			sumLoss(b, o)
		}},
		{name: "hyper_connections", syms: []string{"B", "T"}, binds: binds, build: func(b *ir.Builder) {
			const n, C = 3, 4
			h := param(b, "h", bt(d(n, C)...)...) // stream [B,T,n,C]
			wpre := param(b, "wpre", d(n*C, n)...)
			wres := param(b, "wres", d(n*C, n*n)...)
			bias := b.Param("hc_bias", ir.Dims(2*n+n*n), ir.Init{Kind: "hc_bias", Args: []float64{n, 1}}, false)
			flat := b.Reshape(h, ir.Shape(bt(d(n*C)...)))
			pre := b.Sigmoid(b.Add(b.Matmul(flat, wpre, false), b.Slice(bias, 0, 0, n))) // [B,T,n]
			x := b.Sum(b.Mul(h, b.Reshape(pre, ir.Shape(bt(d(n, 1)...)))), 2)            // [B,T,1,C]
			f := b.Tanh(x)                                                               // layer output
			res := b.Reshape(b.Add(b.Matmul(flat, wres, false), b.Slice(bias, 0, 2*n, 2*n+n*n)), ir.Shape(bt(d(n, n)...)))
			res = b.Softmax(res)                                           // [B,T,n,n]
			mixed := b.Matmul(res, h, false)                               // [B,T,n,C]
			five := b.Reshape(mixed, ir.Shape(bt(d(n, 2, C/2)...)))        // rank 5
			g5 := b.Mul(five, b.Reshape(f, ir.Shape(bt(d(1, 2, C/2)...)))) // rank-5 broadcast
			out := b.Add(b.Reshape(g5, ir.Shape(bt(d(n, C)...))), b.Max(h, 2))
			sumLoss(b, out)
		}},
	})
}
