package compiler

import (
	"fmt"
	"path/filepath"

	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// Decoding: the module that computes the logits of new positions given
// caches of the earlier ones (their keys and values, or MLA's latents),
// for incremental generation.

// InputDecodePos names the decoding module's i32[] input: the position of
// the first new token, which is also the number of cached positions.
const InputDecodePos = "decode.pos"

// DecodeCache describes one cached tensor of an attention sublayer of a
// decoding module: the input In f32[B, Heads, Capacity, Width] that holds
// the cached positions in its first rows, and the output Out
// f32[B, Heads, T, Width] with the new positions' rows, which the runtime
// appends to the cache after the step. Multi-head attention caches two
// per sublayer, the keys ("k") and the values ("v") of its key/value
// heads; multi-head latent attention one ("latent"): per position its
// normalised latent and rotated shared key, Heads 1 and Width
// kv_rank + rope_dim.
type DecodeCache struct {
	// Path is the attention block's model path.
	Path string
	// Name is "k", "v" or "latent".
	Name string
	// Heads is the number of cached heads (the attention's kv_heads:
	// grouped-query attention caches only those; 1 for MLA), Width their
	// width.
	Heads, Width, Capacity int
	In, Out                string

	out *ir.Value
}

// Bytes returns the float32 bytes the cache holds per position.
func (c *DecodeCache) Bytes() int64 { return 4 * int64(c.Heads) * int64(c.Width) }

// decoding is the lowerer's state for LowerDecode.
type decoding struct {
	pos      *ir.Value
	capacity int
	caches   []DecodeCache
	// sublayers counts the attention sublayers lowered so far; the
	// caches of sublayer i are named kv.i.NAME_cache and kv.i.NAME.
	sublayers int
}

// LowerDecode lowers p into its decoding step (no passes run): inputs
// "tokens" i32[B,T] at positions InputDecodePos … +T−1 and the caches of
// every attention sublayer; outputs OutputLogits f32[B,T,V] and the new
// rows of the caches (DecodeCache). Its parameters are the training
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
	kc, vc := d.cache(b, path, "k", k), d.cache(b, path, "v", v)
	d.sublayers++
	G := q.Type.Shape[1].N / k.Type.Shape[1].N
	share := func(x *ir.Value) *ir.Value { return shareHeads(b, x, G) }
	o := b.Apply(ir.OpAttentionCached, ir.Attrs{{Key: "scale", Val: scale}},
		groupHeads(b, q, k.Type.Shape[1].N), share(k), share(v), share(kc), share(vc), d.pos)
	return ungroupHeads(b, o)
}

// cache records out [B,heads,T,width] as the new rows of a cache of the
// current attention sublayer and returns the cache's input
// [B,heads,capacity,width].
func (d *decoding) cache(b *ir.Builder, path, name string, out *ir.Value) *ir.Value {
	s := out.Type.Shape
	c := DecodeCache{Path: path, Name: name, Heads: s[1].N, Width: s[3].N, Capacity: d.capacity, out: out,
		In: fmt.Sprintf("kv.%d.%s_cache", d.sublayers, name), Out: fmt.Sprintf("kv.%d.%s", d.sublayers, name)}
	d.caches = append(d.caches, c)
	return b.Input(c.In, ir.Type{DType: ir.F32, Shape: ir.Shape{dB, ir.D(c.Heads), ir.D(c.Capacity), ir.D(c.Width)}})
}
