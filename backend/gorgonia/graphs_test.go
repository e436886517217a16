package gorgonia

import (
	"testing"

	"github.com/mhcc/mhcc/ir"
)

// Graphs the backend builds from several ops, where its own mechanics can
// go wrong even when every op conforms (backend/conformance checks each op
// alone): reshapes that share their argument's node (the Gorgonia aliasing
// patterns of docs/gorgonia.md G1), gradients of one node summed from
// several users, constant folding, i32 values derived from inputs, and
// blocks of a transformer with symbolic dimensions. Every case runs the
// harness: forward against the reference, two identical runs, every
// gradient against float64 central differences, float32 against float64,
// with gathered and with row walks.

func TestReshapeGraphs(t *testing.T) {
	runCases(t, []gcase{
		{name: "reshape_square_tanh", build: func(b *ir.Builder) { // G1
			x := param(b, "x", d(2, 3, 4)...)
			sumLoss(b, b.Square(b.Reshape(b.Tanh(x), ir.Dims(4, 6))))
		}},
		{name: "reshape_twice_added", build: func(b *ir.Builder) { // G1
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
		{name: "rank5_through_a_stock_add", build: func(b *ir.Builder) {
			y := b.Tanh(param(b, "x", d(2, 1, 3, 2, 2)...))
			sumLoss(b, b.Add(y, y))
		}},
		{name: "slices_concat_like", build: func(b *ir.Builder) {
			x := param(b, "x", d(3, 4)...)
			sumLoss(b, b.Mul(b.Slice(x, 1, 0, 2), b.Slice(x, 1, 2, 4)))
		}},
		{name: "const_reshaped_operand", build: func(b *ir.Builder) {
			x := param(b, "posx", d(2, 3)...)
			c := b.Reshape(b.Exp(b.Const(0.3)), ir.Dims(1, 1, 1))
			sumLoss(b, b.Div(x, c))
		}},
		{name: "causal_mask_softmax", build: func(b *ir.Builder) {
			sumLoss(b, b.Softmax(b.CausalMask(param(b, "x", d(2, 4, 4)...))))
		}},
	})
}

func TestIndexGraphs(t *testing.T) {
	i32 := func(dims ...ir.Dim) ir.Type { return ir.Type{DType: ir.I32, Shape: ir.Shape(dims)} }
	runCases(t, []gcase{
		{name: "cross_entropy_primitive", inputs: map[string][]int{"idx": {1, 0, 4, 4, 2, 4}}, build: func(b *ir.Builder) {
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
