package lang

import "fmt"

// The checks of multi-head latent attention (`attention mla`): the width
// of the rotary part, and ranks that would not compress.

// mlaChecks resolves a.RopeDim and checks the MLA widths of an attention
// statement whose HeadDim is resolved: the rotary part has an even width
// (RoPE rotates pairs) and exists only with RoPE; a key/value latent that
// is no smaller than multi-head attention's keys and values, or a query
// rank that is no smaller than what it factors, is a warning.
func (c *checker) mlaChecks(a *Attention, in *inst, dim int) {
	kw := in.stmt.Keyword
	switch {
	case !a.Rope:
		if in.ok["rope_dim"] && a.RopeDim > 0 {
			p, e := in.attrSpan("rope_dim")
			d := c.diags.errorf(p, e, "`rope_dim` needs RoPE, but `rope=false`")
			if in.ok["rope"] {
				rp, re := in.attrSpan("rope")
				d.related(rp, re, "`rope` is set here")
			}
			d.help("without RoPE, MLA's keys and queries have no rotary part: remove `rope_dim`, or set `rope=true`")
		}
		a.RopeDim = 0
		return
	case in.keys["rope_dim"] != nil && !in.ok["rope_dim"]:
		return // reported
	case a.RopeDim > 0:
		if a.RopeDim%2 != 0 {
			p, e := in.attrSpan("rope_dim")
			d := c.diags.errorf(p, e, "RoPE rotates pairs of dimensions, but `rope_dim=%d` is odd", a.RopeDim)
			if a.RopeDim > 1 {
				d.help("use an even `rope_dim`, such as %d or %d", a.RopeDim-1, a.RopeDim+1)
			} else {
				d.help("use an even `rope_dim`, such as 2")
			}
			return
		}
	default:
		a.RopeDim = a.HeadDim / 2
		if a.RopeDim == 0 || a.RopeDim%2 != 0 {
			what := "which is odd"
			if a.RopeDim == 0 {
				what = "which leaves no rotary part"
			}
			c.diags.errorf(kw.Pos, kw.End, "RoPE rotates pairs of dimensions, but `rope_dim` defaults to head_dim / 2 = %d / 2 = %d, %s", a.HeadDim, a.RopeDim, what).
				help("set an even `rope_dim`, such as `rope_dim=%d`, or `rope=false`", max(a.RopeDim+a.RopeDim%2, 2))
			return
		}
	}
	mha := 2 * a.Heads * a.HeadDim
	if in.ok["kv_rank"] && a.KVRank+a.RopeDim >= mha {
		p, e := in.attrSpan("kv_rank")
		c.diags.warnf(p, e, "`kv_rank=%d` does not compress: a token's latent and rotary key (%d + %d) are no smaller than its keys and values under multi-head attention (2 · heads · head_dim = %d)",
			a.KVRank, a.KVRank, a.RopeDim, mha).
			help("MLA caches kv_rank + rope_dim numbers per token and layer; choose kv_rank well below %d (DeepSeek-V2 and V3: 512 against 2 · 128 · 128)", mha)
	}
	if q := min(dim, a.Heads*(a.HeadDim+a.RopeDim)); in.ok["q_rank"] && a.QRank > 0 && a.QRank >= q {
		p, e := in.attrSpan("q_rank")
		c.diags.warnf(p, e, "`q_rank=%d` does not compress the queries: it is not below min(dim, heads · (head_dim + rope_dim)) = %d", a.QRank, q).
			help("leave `q_rank` out to project the queries directly, with fewer parameters and FLOPs, or choose a smaller rank")
	}
}

// attentionKindHelp says why attribute attr does not apply to
// `attention kind`.
func attentionKindHelp(attr, kind string) string {
	switch {
	case kind == AttentionMLA && attr == "kv_heads":
		return "MLA decompresses every head's key and value from one latent per token (`kv_rank`): remove `kv_heads`, or use `attention mha`"
	case kind == AttentionMLA && attr == "qk_norm":
		return "MLA normalises its latents instead (`kv_norm`, and `q_norm` with `q_rank`): remove `qk_norm`"
	}
	return fmt.Sprintf("`%s` belongs to multi-head latent attention: write `attention mla ...`", attr)
}
