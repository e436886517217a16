package compiler

import (
	"fmt"
	"path/filepath"

	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// Decoding: the module that computes the logits of new positions given a
// key/value cache of the earlier ones, for incremental generation.

// InputDecodePos names the decoding module's i32[] input: the position of
// the first new token, which is also the number of cached positions.
const InputDecodePos = "decode.pos"

// DecodeCache describes the key/value cache of one attention sublayer of
// a decoding module: the inputs f32[B, Heads, Capacity, HeadDim] that
// hold the cached positions in their first rows, and the outputs
// f32[B, Heads, T, HeadDim] with the new positions' keys and values,
// which the runtime appends to the cache after the step.
type DecodeCache struct {
	// Path is the attention block's model path.
	Path string
	// Heads is the number of key/value heads (the attention's kv_heads:
	// grouped-query attention caches only those), HeadDim their width.
	Heads, HeadDim, Capacity int
	KeyIn, ValueIn           string
	KeyOut, ValueOut         string

	k, v *ir.Value
}

// decoding is the lowerer's state for LowerDecode.
type decoding struct {
	pos      *ir.Value
	capacity int
	caches   []DecodeCache
}

// LowerDecode lowers p into its decoding step (no passes run): inputs
// "tokens" i32[B,T] at positions InputDecodePos … +T−1 and a key/value
// cache per attention sublayer; outputs OutputLogits f32[B,T,V] and the
// new keys and values (DecodeCache). Its parameters are the training
// module's, by name and shape, so a checkpoint loads into it. The
// capacity of the caches is the model's context. Attention is
// attention.cached and RoPE rope.at, so every other op acts on each
// position alone and a step costs what one position costs.
func LowerDecode(p *lang.Program) (*ir.Module, []DecodeCache, error) {
	l := &lowerer{p: p, b: ir.NewBuilder(filepath.Base(p.File), SymBatch, SymTime), decode: &decoding{capacity: p.Model.Context}}
	l.model()
	if err := l.b.Err(); err != nil {
		return nil, nil, fmt.Errorf("internal compiler error while lowering the decoding step of %s: %w", p.File, err)
	}
	if err := ir.Verify(l.b.M); err != nil {
		return nil, nil, fmt.Errorf("internal compiler error while lowering the decoding step of %s: %w", p.File, err)
	}
	return l.b.M, l.decode.caches, nil
}

// attention is the decoding form of causal self-attention: the new
// positions' queries q [B,H,T,dh] against the cache and the new keys k
// and values v [B,K,T,dh]. The cache holds the K key/value heads only;
// each step repeats them for their query heads as the training module
// does (groupHeads, shareHeads).
func (d *decoding) attention(b *ir.Builder, path string, a *lang.Attention, q, k, v *ir.Value, scale float64) *ir.Value {
	if a.Rope {
		at := ir.Attrs{{Key: "base", Val: a.RopeBase}}
		q, k = b.Apply(ir.OpRopeAt, at, q, d.pos), b.Apply(ir.OpRopeAt, at, k, d.pos)
	}
	s := k.Type.Shape // [B, K, T, dh]
	c := DecodeCache{Path: path, Heads: s[1].N, HeadDim: s[3].N, Capacity: d.capacity, k: k, v: v}
	i := len(d.caches)
	c.KeyIn, c.ValueIn = fmt.Sprintf("kv.%d.k_cache", i), fmt.Sprintf("kv.%d.v_cache", i)
	c.KeyOut, c.ValueOut = fmt.Sprintf("kv.%d.k", i), fmt.Sprintf("kv.%d.v", i)
	d.caches = append(d.caches, c)
	return d.attend(b, i, q, k, v, scale)
}

// attend declares cache i's inputs and applies attention.cached.
func (d *decoding) attend(b *ir.Builder, i int, q, k, v *ir.Value, scale float64) *ir.Value {
	c := &d.caches[i]
	shape := ir.Shape{dB, ir.D(c.Heads), ir.D(c.Capacity), ir.D(c.HeadDim)}
	kc := b.Input(c.KeyIn, ir.Type{DType: ir.F32, Shape: shape})
	vc := b.Input(c.ValueIn, ir.Type{DType: ir.F32, Shape: shape})
	G := q.Type.Shape[1].N / c.Heads
	share := func(x *ir.Value) *ir.Value { return shareHeads(b, x, G) }
	o := b.Apply(ir.OpAttentionCached, ir.Attrs{{Key: "scale", Val: scale}},
		groupHeads(b, q, c.Heads), share(k), share(v), share(kc), share(vc), d.pos)
	return ungroupHeads(b, o)
}
