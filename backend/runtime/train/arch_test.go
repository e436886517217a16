package train

import (
	"strings"
	"testing"

	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/internal/testmodels"
)

// archVariants are tiny models (testmodels.Tiny: 2 layers, width 8, vocab
// 11, context 5) that use the architecture choices beyond the residual:
// LayerNorm, gated FFNs, grouped-query attention, head_dim, qk_norm, an
// untied head with its own init and a heterogeneous stack. The
// finite-difference and -O0/-O2 tests run each.
func archVariants() map[string]string {
	mhc := testmodels.Tiny("residual streams=4 constraint=birkhoff sinkhorn=5")
	plain := testmodels.Tiny("residual plain")
	return map[string]string{
		// every norm (two per layer and the final one) a LayerNorm
		"norm layer":       strings.ReplaceAll(mhc, "norm rms", "norm layer eps=1e-5"),
		"plain norm layer": strings.ReplaceAll(plain, "norm rms", "norm layer"),
		// gated FFNs: w1 and w3 fused into one matmul.concat at -O2
		"swiglu":      testmodels.Replace(mhc, "act=gelu", "act=swiglu"),
		"plain geglu": testmodels.Replace(plain, "act=gelu", "act=geglu"),
		// grouped-query attention with its own head width and qk_norm;
		// multi-query attention; qk_norm alone, with LayerNorm blocks
		"gqa head_dim qk_norm":     testmodels.Replace(mhc, "heads=2 rope=true", "heads=4 kv_heads=2 head_dim=6 qk_norm=true rope=true"),
		"plain mqa":                testmodels.Replace(plain, "heads=2 rope=true", "heads=2 kv_heads=1 rope=true"),
		"untied head init":         testmodels.Replace(mhc, "head tied", "head untied init=normal(0.05)"),
		"heterogeneous":            heterogeneous,
		"plain qk_norm norm layer": strings.ReplaceAll(testmodels.Replace(plain, "heads=2 rope=true", "heads=2 qk_norm=true rope=true"), "norm rms", "norm layer"),
		// multi-head latent attention: under mHC; plain with a query
		// latent and an odd head width; without RoPE under HC
		"mla":              testmodels.Replace(mhc, "attention heads=2 rope=true", "attention mla heads=2 kv_rank=6"),
		"plain mla q_rank": testmodels.Replace(plain, "attention heads=2 rope=true", "attention mla heads=4 head_dim=3 kv_rank=6 q_rank=5 rope_dim=2"),
		"hc mla norope":    testmodels.Replace(testmodels.Tiny("residual streams=2 constraint=none"), "attention heads=2 rope=true", "attention mla heads=2 kv_rank=5 rope=false"),
	}
}

// heterogeneous is a stack of two kinds of layer: a leading LayerNorm
// layer with a GELU MLP, then two layers of multi-query attention with
// qk_norm and a SwiGLU FFN, under mHC with an untied head.
const heterogeneous = `model het {
  vocab 11
  context 5
  embed dim=8
  residual streams=4 constraint=birkhoff sinkhorn=5
  layer {
    block attn {
      norm layer
      attention heads=2
    }
    block mlp {
      norm layer
      mlp hidden=12 act=gelu
    }
  }
  repeat 2 {
    block attn {
      attention heads=4 kv_heads=1 head_dim=4 qk_norm=true
    }
    block mlp {
      mlp hidden=6 act=swiglu
    }
  }
  norm layer
  head untied
}
`

// TestGradientEveryParameterArchitectures: the float64 Gorgonia gradient
// of every parameter tensor of each architecture variant (elements of
// tensors above 40 sampled) against finite differences of the reference
// interpreter.
func TestGradientEveryParameterArchitectures(t *testing.T) {
	for name, src := range archVariants() {
		t.Run(name, func(t *testing.T) { gradCheck(t, src, 40, 12) })
	}
}

// archFused lists, per architecture variant, fused ops its -O2 module
// must hold and how many: TestVariantsO2MatchesO0 compares -O2 with -O0,
// which would hold trivially if the fusions did not apply.
var archFused = map[string]map[string]int{
	"norm layer":       {"layernorm": 5, "rmsnorm": 0},
	"plain norm layer": {"layernorm": 5, "rmsnorm": 0},
	// per layer: q, k, v and w1, w3 make two matmul.concat
	"swiglu":      {"matmul.concat": 4, "silu": 2, "gelu": 0},
	"plain geglu": {"matmul.concat": 4, "gelu": 2},
	// rmsnorm: the 4 block norms and the final one, and q and k of each
	// of the 2 attention blocks; broadcast: the stem's, and k and v of
	// each attention block repeated for their query heads
	"gqa head_dim qk_norm": {"attention": 2, "rmsnorm": 5 + 4, "broadcast": 1 + 4, "matmul.concat": 2},
	"plain mqa":            {"attention": 2, "broadcast": 4},
	"untied head init":     {"cross_entropy": 1, "attention": 2},
	// layernorm: the 2 norms of the first layer and the final one;
	// matmul.concat: q, k, v of 3 attention blocks and w1, w3 of 2 FFNs
	"heterogeneous":            {"layernorm": 3, "attention": 3, "matmul.concat": 5, "gelu": 1, "silu": 2},
	"plain qk_norm norm layer": {"attention": 2, "rmsnorm": 4, "layernorm": 5, "broadcast": 0},
	// per MLA block: u·wq (or u·wdq) and u·wdkv one matmul.concat, the
	// kv_norm (and q_norm) an rmsnorm, [q_nope ; q_rope] and
	// [k_nope ; k_rope] two concats, k_rope broadcast to the heads
	"mla":              {"attention": 2, "matmul.concat": 2, "rmsnorm": 5 + 2, "concat": 4, "broadcast": 1 + 2, "rope": 4},
	"plain mla q_rank": {"attention": 2, "matmul.concat": 2, "rmsnorm": 5 + 4, "concat": 4, "broadcast": 2, "rope": 4},
	// (HC's dynamic coefficients are one more matmul.concat per sublayer)
	"hc mla norope": {"attention": 2, "matmul.concat": 2 + 4, "concat": 0, "broadcast": 1, "rope": 0},
}

func TestArchVariantsFuse(t *testing.T) {
	variants := archVariants()
	if len(variants) != len(archFused) {
		t.Fatalf("%d variants, %d lists of fused ops", len(variants), len(archFused))
	}
	for name, src := range variants {
		res, err := compiler.CompileSource("tiny.mhc", []byte(src), compiler.Options{Level: compiler.O2})
		if err != nil || res.Module == nil {
			t.Fatalf("%s: %v %v", name, err, res.Diags)
		}
		counts := res.Module.OpCounts()
		for op, n := range archFused[name] {
			if counts[op] != n {
				t.Errorf("%s: %d %s at -O2, want %d", name, counts[op], op, n)
			}
		}
	}
}
