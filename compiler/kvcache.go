package compiler

import "github.com/mhcc/mhcc/lang"

// KVCacheBytes returns the float32 bytes that decoding (LowerDecode)
// caches per token over all attention sublayers of p, and, for
// comparison, those that a key and a value per query head of the same
// widths would take (what each attention computes before any sharing or
// compression). Per sublayer with H query heads of width dh:
//
//   - mha with K key/value heads caches a key and a value per key/value
//     head, 2·K·dh, against 2·H·dh (equal for multi-head attention);
//   - mla caches the normalised latent and the rotated shared key,
//     kv_rank + rope_dim, against the H keys of width dh + rope_dim and the
//     H values of width dh that it expands them into, H·(2·dh + rope_dim).
//
// TestKVCacheBytesAreTheDecodeCaches holds the first number against the
// caches LowerDecode declares.
func KVCacheBytes(p *lang.Program) (cached, perHead int64) {
	for _, blk := range p.Model.Blocks {
		a := blk.Attention
		if a == nil {
			continue
		}
		H, dh := int64(a.Heads), int64(a.HeadDim)
		if a.MLA() {
			cached += int64(a.KVRank + a.RopeDim)
			perHead += H * (2*dh + int64(a.RopeDim))
		} else {
			cached += 2 * int64(a.KVHeads) * dh
			perHead += 2 * H * dh
		}
	}
	return 4 * cached, 4 * perHead
}
