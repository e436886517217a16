package compiler

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mhcc/mhcc/backend/ref"
	"github.com/mhcc/mhcc/internal/testmodels"
	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// TestDecodeEqualsFullForward: decoding a sequence position by position
// (and in chunks) over the key/value cache gives, in the float64 reference
// interpreter, the logits of the full forward pass at every position, for
// every residual variant, with RoPE on and off, at -O0 and -O2.
func TestDecodeEqualsFullForward(t *testing.T) {
	variants := map[string]string{
		"plain":          testmodels.Tiny("residual plain"),
		"mhc":            testmodels.Tiny("residual streams=4 constraint=birkhoff sinkhorn=5"),
		"mhc_static":     testmodels.Tiny("residual streams=2 constraint=birkhoff dynamic=false"),
		"hc":             testmodels.Tiny("residual streams=3 constraint=none"),
		"permutations":   testmodels.Tiny("residual streams=3 constraint=permutations"),
		"learned_norope": testmodels.Replace(testmodels.Tiny("residual streams=2 collapse=learned"), "rope=true", "rope=false"),
		// grouped-query attention (2 query heads per key/value head), its
		// own head width, normalised queries and keys; multi-query attention
		"gqa_qk_norm":    testmodels.Replace(testmodels.Tiny("residual streams=2"), "heads=2 rope=true", "heads=4 kv_heads=2 head_dim=6 qk_norm=true rope=true"),
		"mqa_plain":      testmodels.Replace(testmodels.Tiny("residual plain"), "heads=2 rope=true", "heads=2 kv_heads=1 rope=true"),
		"qk_norm_norope": testmodels.Replace(testmodels.Tiny("residual plain"), "heads=2 rope=true", "heads=2 qk_norm=true rope=false"),
		// mixtures of experts route every position on its own
		"moe":           testmodels.MoE("residual plain", ""),
		"moe_mhc_geglu": testmodels.MoE("residual streams=2 sinkhorn=3", "act=geglu balance=aux route_scale=2.5"),
		// multi-head latent attention, decoded in the latent space: plain
		// and mHC residuals, with and without the query latent, an odd
		// head width, and without RoPE
		"mla_plain":        testmodels.Replace(testmodels.Tiny("residual plain"), "attention heads=2 rope=true", "attention mla heads=2 kv_rank=6"),
		"mla_q_rank_mhc":   testmodels.Replace(testmodels.Tiny("residual streams=4 constraint=birkhoff sinkhorn=5"), "attention heads=2 rope=true", "attention mla heads=4 head_dim=3 kv_rank=6 q_rank=5 rope_dim=2"),
		"mla_mhc":          testmodels.Replace(testmodels.Tiny("residual streams=2"), "attention heads=2 rope=true", "attention mla heads=2 kv_rank=5 rope_dim=4 rope_base=100"),
		"mla_q_rank_plain": testmodels.Replace(testmodels.Tiny("residual plain"), "attention heads=2 rope=true", "attention mla heads=2 kv_rank=6 q_rank=4"),
		"mla_norope_hc":    testmodels.Replace(testmodels.Tiny("residual streams=3 constraint=none"), "attention heads=2 rope=true", "attention mla heads=2 kv_rank=5 rope=false"),
	}
	for name, src := range variants {
		t.Run(name, func(t *testing.T) {
			p, diags := lang.Load(name+".mhc", []byte(src))
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			full, err := LowerLogits(p)
			if err != nil {
				t.Fatal(err)
			}
			params := randomParams(full, 7)
			N, V := p.Model.Context, p.Model.Vocab
			tokens := make([]int, N)
			for i := range tokens {
				tokens[i] = (3*i + 1) % V
			}
			out, err := ref.Eval(full, map[string]int{SymBatch: 1, SymTime: N}, params,
				map[string][]int{InputTokens: tokens, InputTargets: tokens})
			if err != nil {
				t.Fatal(err)
			}
			want := out[OutputLogits].Data
			for _, level := range []Level{O0, O2} {
				for _, chunk := range []int{1, 2, N} {
					got := decodeRef(t, p, level, params, tokens, chunk)
					for i := range want {
						if math.Abs(got[i]-want[i]) > 1e-10*math.Max(1, math.Abs(want[i])) {
							t.Fatalf("%v, chunks of %d: logit %d (position %d) = %.15g, full forward %.15g",
								level, chunk, i, i/V, got[i], want[i])
						}
					}
				}
			}
		})
	}
}

// decodeRef decodes tokens in chunks of the given size with the reference
// interpreter and returns the logits of every position.
func decodeRef(t *testing.T, p *lang.Program, level Level, params map[string][]float64, tokens []int, chunk int) []float64 {
	t.Helper()
	m, caches, err := LowerDecode(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RunPasses(m, Options{Level: level}); err != nil {
		t.Fatal(err)
	}
	if level == O2 && m.OpCounts()[ir.OpAttentionCached] != attentionSublayers(p) {
		t.Fatalf("the decoding module lost its cached attention:\n%s", m)
	}
	if n := len(MoELayers(p)); level == O2 && m.OpCounts()[ir.OpMoEExperts] != n {
		t.Fatalf("the decoding module has %d fused routed experts, want %d:\n%s", m.OpCounts()[ir.OpMoEExperts], n, m)
	}
	vals := map[string][]float64{}
	for k, v := range params {
		vals[k] = v
	}
	for _, c := range caches {
		vals[c.In] = make([]float64, c.Heads*c.Capacity*c.Width)
	}
	var logits []float64
	for at := 0; at < len(tokens); at += chunk {
		T := min(chunk, len(tokens)-at)
		out, err := ref.Eval(m, map[string]int{SymBatch: 1, SymTime: T}, vals,
			map[string][]int{InputTokens: tokens[at : at+T], InputDecodePos: {at}})
		if err != nil {
			t.Fatal(err)
		}
		logits = append(logits, out[OutputLogits].Data...)
		for _, c := range caches {
			rows, cache := out[c.Out].Data, vals[c.In]
			for h := 0; h < c.Heads; h++ { // rows [H, T, w] into cache [H, S, w] at row `at`
				copy(cache[(h*c.Capacity+at)*c.Width:(h*c.Capacity+at+T)*c.Width], rows[h*T*c.Width:(h+1)*T*c.Width])
			}
		}
	}
	return logits
}

// randomParams draws N(0, 0.3²) values for every parameter of m.
func randomParams(m *ir.Module, seed uint64) map[string][]float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	params := map[string][]float64{}
	for _, v := range m.Params() {
		n, _ := v.Type.Shape.Size()
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = 0.3 * rng.NormFloat64()
		}
		params[v.Param()] = vals
	}
	return params
}

func TestLowerDecodeInterface(t *testing.T) {
	p, diags := lang.Load("t.mhc", []byte(testmodels.Tiny("residual streams=2")))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	m, caches, err := LowerDecode(p)
	if err != nil {
		t.Fatal(err)
	}
	train, _ := Lower(p)
	if fmt.Sprint(m.ParamNames()) != fmt.Sprint(train.ParamNames()) {
		t.Errorf("parameters differ from the training module's:\n%v\n%v", m.ParamNames(), train.ParamNames())
	}
	if len(caches) != 4 || caches[0].Path != "blocks.0.attn" || caches[1].Name != "v" || caches[2].Path != "blocks.1.attn" ||
		caches[2].In != "kv.1.k_cache" || caches[3].Out != "kv.1.v" || caches[0].Heads != 2 || caches[0].Width != 4 || caches[0].Capacity != 5 {
		t.Errorf("caches %+v", caches)
	}
	if got := m.Output(OutputLogits).Type.String(); got != "f32[B,T,11]" {
		t.Errorf("logits %s", got)
	}
	if m.Output(OutputLoss) != nil {
		t.Error("the decoding module has a loss")
	}
}

// TestDecodeCachesKeyValueHeads: a grouped-query attention's cache holds
// its kv_heads heads, not the repeated ones.
func TestDecodeCachesKeyValueHeads(t *testing.T) {
	m, caches := lowerDecodeSource(t, testmodels.Replace(testmodels.Tiny("residual plain"), "heads=2 rope=true", "heads=4 kv_heads=1 head_dim=6 rope=true"))
	if len(caches) != 4 || caches[0].Heads != 1 || caches[0].Width != 6 {
		t.Fatalf("caches %+v, want 4 of 1 head of width 6", caches)
	}
	inputs := inputTypes(m)
	for _, c := range caches {
		if got := inputs[c.In]; got != "f32[B,1,5,6]" {
			t.Errorf("%s: %s, want f32[B,1,5,6]", c.In, got)
		}
		if got := m.Output(c.Out).Type.String(); got != "f32[B,1,T,6]" {
			t.Errorf("%s: %s, want f32[B,1,T,6]", c.Out, got)
		}
	}
}

// attentionSublayers counts p's attention blocks.
func attentionSublayers(p *lang.Program) int {
	n := 0
	for _, blk := range p.Model.Blocks {
		if blk.Attention != nil {
			n++
		}
	}
	return n
}

// TestDecodeCachesTheLatent: multi-head latent attention caches one
// tensor per sublayer, the latent and the rotary key of each position
// (kv_rank + rope_dim = 6 + 2 wide, one head), not a key and a value per
// head; without RoPE the latent alone.
func TestDecodeCachesTheLatent(t *testing.T) {
	for _, c := range []struct {
		attn, width string
	}{
		{"attention mla heads=2 kv_rank=6", "8"},
		{"attention mla heads=4 head_dim=3 kv_rank=6 q_rank=5 rope_dim=2", "8"},
		{"attention mla heads=2 kv_rank=5 rope=false", "5"},
	} {
		m, caches := lowerDecodeSource(t, testmodels.Replace(testmodels.Tiny("residual plain"), "attention heads=2 rope=true", c.attn))
		if len(caches) != 2 || caches[0].Name != "latent" || caches[0].Heads != 1 || caches[1].In != "kv.1.latent_cache" || caches[1].Out != "kv.1.latent" {
			t.Fatalf("%s: caches %+v, want one latent per sublayer", c.attn, caches)
		}
		inputs := inputTypes(m)
		for _, dc := range caches {
			if want := "f32[B,1,5," + c.width + "]"; inputs[dc.In] != want {
				t.Errorf("%s: %s is %s, want %s", c.attn, dc.In, inputs[dc.In], want)
			}
			if want := "f32[B,1,T," + c.width + "]"; m.Output(dc.Out).Type.String() != want {
				t.Errorf("%s: %s is %s, want %s", c.attn, dc.Out, m.Output(dc.Out).Type, want)
			}
		}
	}
}

// lowerDecodeSource checks src and lowers its decoding step.
func lowerDecodeSource(t *testing.T, src string) (*ir.Module, []DecodeCache) {
	t.Helper()
	p, diags := lang.Load("t.mhc", []byte(src))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	m, caches, err := LowerDecode(p)
	if err != nil {
		t.Fatal(err)
	}
	return m, caches
}

// inputTypes maps the names of m's inputs to their types.
func inputTypes(m *ir.Module) map[string]string {
	types := map[string]string{}
	for _, v := range m.Values {
		if v.Op == ir.OpInput {
			types[v.Attrs.String("name")] = v.Type.String()
		}
	}
	return types
}
