package compiler

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/internal/testmodels"
	"github.com/mhcc/mhcc/lang"
)

// mlaSummaryModel has two MLA layers of width C = 24 with H = 3 heads,
// head_dim dh = 8, rope_dim dr = 4 and kv_rank R = 10; the second
// compresses its queries to Q = 12. Plain residual, tied head, vocab 32,
// context T = 16.
const mlaSummaryModel = `model m {
  vocab 32
  context 16
  embed dim=24
  layer {
    block a { norm rms; attention mla heads=3 head_dim=8 kv_rank=10 rope_dim=4 }
  }
  layer {
    block b { norm rms; attention mla heads=3 head_dim=8 kv_rank=10 q_rank=12 rope_dim=4 }
  }
}
`

// TestSummaryMLAByHand checks the summary of an MLA model against counts
// derived from the architecture (compiler/mla.go), at -O0 and -O2 alike.
func TestSummaryMLAByHand(t *testing.T) {
	const (
		V, T, C, H, dh, dr, R, Q = 32, 16, 24, 3, 8, 4, 10, 12
		qk                       = dh + dr // 12: the width of a query and a key head
	)
	// Parameters of the block without a query latent: wq [C, H·qk],
	// wdkv [C, R+dr], kv_norm [R], wukv [R, H·2dh], wo [H·dh, C] — the
	// formula d·H·(dh+dr) + d·(R+dr) + R + R·H·2dh + H·dh·d.
	attnA := C*H*qk + C*(R+dr) + R + R*H*2*dh + H*dh*C // 864 + 336 + 10 + 480 + 576
	// With the query latent, wq is replaced by wdq [C, Q], q_norm [Q]
	// and wuq [Q, H·qk].
	attnB := attnA - C*H*qk + C*Q + Q + Q*H*qk // 2266 − 864 + 288 + 12 + 432
	if attnA != 2266 || attnB != 2134 {
		t.Fatalf("hand arithmetic: %d %d", attnA, attnB)
	}
	params := V*C + 3*C + attnA + attnB // embedding (tied head), two block norms and the final one

	// Forward FLOPs per token (a multiply-add is 2; a norm over n entries
	// is x², mean, /, ·g per entry and +ε, √ once: 4n + 2). Rope is 3 per
	// element, on the H query parts and the one shared key part; slices,
	// concats and the broadcast of the rotary key to the heads move data.
	// Attention over T keys per query: q·kᵀ over qk, ·scale, softmax (5),
	// ·v over dh, per head.
	attnTokA := 2*C*H*qk + // wq: 1,728
		2*C*(R+dr) + 4*R + 2 + // wdkv, kv_norm: 672 + 42
		2*R*H*2*dh + // wukv: 960
		3*H*dr + 3*dr + // rope of q_rope and of the shared k_rope: 36 + 12
		H*T*(2*qk+1+5+2*dh) + // attention: 2,208
		2*H*dh*C // wo: 1,152
	attnTokB := attnTokA - 2*C*H*qk + 2*C*Q + 4*Q + 2 + 2*Q*H*qk // wdq, q_norm, wuq: 576 + 50 + 864
	if attnTokA != 6810 || attnTokB != 6572 {
		t.Fatalf("hand arithmetic: %d %d", attnTokA, attnTokB)
	}
	normTok := 4*C + 2
	perSeq := int64(T*(3*normTok+attnTokA+attnTokB+2*C+2*C*V+5*V+1) + 1) // + residual adds, head, loss

	for _, l := range []Level{O0, O2} {
		res := compileAt(t, "m", []byte(mlaSummaryModel), Options{Level: l})
		s, err := Analyze(res.Program, res.Module, l.String())
		if err != nil {
			t.Fatal(err)
		}
		if s.Params != int64(params) {
			t.Errorf("%s: params %d, want %d", l, s.Params, params)
		}
		if s.ForwardFLOPsPerSequence != perSeq {
			t.Errorf("%s: forward FLOPs per sequence %d, want %d", l, s.ForwardFLOPsPerSequence, perSeq)
		}
		rows := map[string]LayerRow{}
		for _, r := range s.Rows {
			rows[r.Path] = r
		}
		for _, c := range []struct {
			path          string
			params, flops int
		}{{"blocks.0.a", attnA, attnTokA}, {"blocks.1.b", attnB, attnTokB}, {"blocks.1.b.norm", C, normTok}} {
			if r := rows[c.path]; r.Params != int64(c.params) || r.FLOPs != float64(c.flops) {
				t.Errorf("%s: row %s has %d params and %v FLOPs/token, want %d and %d", l, c.path, r.Params, r.FLOPs, c.params, c.flops)
			}
		}
		// The cache: kv_rank + rope_dim per token and layer, against
		// H keys of qk and H values of dh per layer.
		if want := int64(4 * 2 * (R + dr)); s.KVCacheBytes != want {
			t.Errorf("%s: KV cache %d bytes per token, want %d", l, s.KVCacheBytes, want)
		}
		if want := int64(4 * 2 * H * (qk + dh)); s.KVCachePerHeadBytes != want {
			t.Errorf("%s: per-head KV cache %d bytes per token, want %d", l, s.KVCachePerHeadBytes, want)
		}
		var text strings.Builder
		if err := WriteSummary(&text, s, FormatText); err != nil {
			t.Fatal(err)
		}
		// 112 B of 480 B per token; 16 tokens of context hold 1,792 B
		if want := "KV cache when decoding (f32): 112 B per token, 1.8 KiB at the context of 16; 23.3% of the 480 B per token of a key and a value per query head"; !strings.Contains(text.String(), want) {
			t.Errorf("%s: the summary lacks %q:\n%s", l, want, text.String())
		}
	}
}

// TestSummaryMLAPaperDims: with the mHC paper's MLA dimensions (kv_rank
// 512, head_dim 128, rope_dim 64, no query compression) and the widths and
// heads of its 3B, 9B and 27B models, one attention sublayer has
// d·H·(128+64) + d·(512+64) + 512 + 512·H·(128+128) + H·128·d parameters,
// and caches 512 + 64 numbers per token where multi-head attention with
// the same heads would cache H·(128+64) + H·128.
func TestSummaryMLAPaperDims(t *testing.T) {
	for _, c := range []struct{ d, H int }{{1280, 16}, {1920, 24}, {2560, 32}} {
		src := fmt.Sprintf("model paper {\n  vocab 64\n  context 32\n  embed dim=%d\n  block attn { attention mla heads=%d kv_rank=512 rope_dim=64 head_dim=128 }\n}\n", c.d, c.H)
		res := compileAt(t, "paper", []byte(src), Options{Level: O2})
		s, err := Analyze(res.Program, res.Module, "-O2")
		if err != nil {
			t.Fatal(err)
		}
		d, H := int64(c.d), int64(c.H)
		want := d*H*(128+64) + d*(512+64) + 512 + 512*H*(128+128) + H*128*d
		for _, r := range s.Rows {
			if r.Path == "blocks.0.attn" && r.Params != want {
				t.Errorf("d=%d H=%d: attention has %d parameters, want %d", c.d, c.H, r.Params, want)
			}
		}
		if s.KVCacheBytes != 4*(512+64) || s.KVCachePerHeadBytes != 4*H*(128+64+128) {
			t.Errorf("d=%d H=%d: KV cache %d of %d bytes per token", c.d, c.H, s.KVCacheBytes, s.KVCachePerHeadBytes)
		}
	}
}

// TestKVCacheBytesAreTheDecodeCaches: what the summary reports as the KV
// cache per token is what the decoding module's caches hold per position.
func TestKVCacheBytesAreTheDecodeCaches(t *testing.T) {
	tiny := testmodels.Tiny("residual streams=2")
	for name, src := range map[string]string{
		"mha":        tiny,
		"gqa":        testmodels.Replace(tiny, "heads=2 rope=true", "heads=4 kv_heads=2 head_dim=6"),
		"mla":        testmodels.Replace(tiny, "attention heads=2 rope=true", "attention mla heads=4 head_dim=3 kv_rank=6 q_rank=5 rope_dim=2"),
		"mla_norope": testmodels.Replace(tiny, "attention heads=2 rope=true", "attention mla heads=2 kv_rank=5 rope=false"),
		"mixed":      mlaSummaryModel,
	} {
		p, diags := lang.Load(name+".mhc", []byte(src))
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		_, caches, err := LowerDecode(p)
		if err != nil {
			t.Fatal(err)
		}
		var want int64
		for _, c := range caches {
			want += c.Bytes()
		}
		cached, perHead := KVCacheBytes(p)
		if cached != want || cached == 0 {
			t.Errorf("%s: KVCacheBytes %d, the decoding caches hold %d bytes per position", name, cached, want)
		}
		if mha := name == "mha"; (perHead == cached) != mha {
			t.Errorf("%s: %d cached against %d per head", name, cached, perHead)
		}
	}
}
