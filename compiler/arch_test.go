package compiler

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// TestArchitectureParams: the parameters the architecture statements
// lower to, by name, shape and init — the checkpoint names a researcher
// reads: gated FFNs (w1, w3, w2), grouped-query attention with its own
// head width and qk_norm, LayerNorm gains and biases, an untied head with
// its own init.
func TestArchitectureParams(t *testing.T) {
	src := `model m {
  vocab 11
  context 5
  embed dim=8 init=normal(0.01)
  block attn {
    norm layer eps=1e-5
    attention heads=4 kv_heads=2 head_dim=6 qk_norm=true
  }
  block mlp { mlp hidden=12 act=swiglu }
  norm layer
  head untied init=normal(0.05)
}
`
	p, diags := lang.Load("m.mhc", []byte(src))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	m, err := Lower(p)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range m.Params() {
		got = append(got, fmt.Sprintf("%s %s %s", v.Param(), v.Type.Shape, v.Attrs.Init("init")))
	}
	want := []string{
		"embed.weight [11,8] normal(0.01)",
		"blocks.0.attn.norm.weight [8] ones",
		"blocks.0.attn.norm.bias [8] zeros",
		"blocks.0.attn.wq [8,24] normal(0.01)", // heads·head_dim = 4·6
		"blocks.0.attn.wk [8,12] normal(0.01)", // kv_heads·head_dim = 2·6
		"blocks.0.attn.wv [8,12] normal(0.01)",
		"blocks.0.attn.q_norm.weight [6] ones",
		"blocks.0.attn.k_norm.weight [6] ones",
		"blocks.0.attn.wo [24,8] normal(0.01)",
		"blocks.1.mlp.norm.weight [8] ones",
		"blocks.1.mlp.w1 [8,12] normal(0.01)",
		"blocks.1.mlp.w3 [8,12] normal(0.01)",
		"blocks.1.mlp.w2 [12,8] normal(0.01)",
		"norm.weight [8] ones",
		"norm.bias [8] zeros",
		"head.weight [8,11] normal(0.05)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("parameters:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// qk_norm takes the eps of the block's norm (1e-5, not the default)
	if _, err := RunPasses(m, Options{Level: O2}); err != nil {
		t.Fatal(err)
	}
	normed := map[string]float64{}
	for _, v := range m.Values {
		if v.Op == ir.OpRMSNorm {
			normed[v.Args[1].Param()] = v.Attrs.Float("eps")
		}
	}
	if normed["blocks.0.attn.q_norm.weight"] != 1e-5 || normed["blocks.0.attn.k_norm.weight"] != 1e-5 || normed["blocks.1.mlp.norm.weight"] != 1e-6 {
		t.Errorf("rmsnorm eps by gain: %v", normed)
	}
}
