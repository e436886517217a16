package compiler

import (
	"bytes"
	"testing"

	"github.com/mhcc/mhcc/internal/golden"
	"github.com/mhcc/mhcc/internal/testmodels"
)

// TestSummaryMoEByHand checks the summary of the mixture-of-experts test
// model against counts worked out by hand, at -O0 and -O2 alike: total,
// active parameters (with and without the vocabulary) and vocabulary
// parameters, the untrained selection biases, and
// the forward FLOPs of an MoE sublayer, which count k experts per token.
//
// moe.mhc: vocab V = 11, context T = 5, width C = 8; layer 0 attention
// (2 heads) and a GELU MLP of hidden 16; layers 1 and 2 attention and
// `moe experts=4 active=2 shared=1 hidden=6` (E = 4, k = 2, S = 1, H = 6,
// SwiGLU); a tied head.
func TestSummaryMoEByHand(t *testing.T) {
	const V, C, E, k, S, H, T = 11, 8, 4, 2, 1, 6, 5
	embed := V * C                            // 88
	attn := C + 4*C*C                         // norm, wq, wk, wv, wo: 264
	mlp := C + 2*C*16                         // norm, w1, w2: 264
	routed := 3 * E * H * C                   // w1, w3, w2 [E, H, C]: 576
	moe := C + C*E + routed + 3*C*S*H         // norm, router, routed, shared: 760
	total := embed + 3*attn + mlp + 2*moe + C // + the final norm: 2,672
	active := total - 2*(E-k)*3*H*C           // 2 of the 4 experts idle per sublayer: 2,096
	// One MoE sublayer's forward FLOPs per token:
	moeTok := 2*C*E + E + E + E + // router, σ, + bias, top-k (one per affinity)
		k + // the load (one per index)
		k + 1 + k + // gates: Σ over the k, + 1e-20, divide
		k*(6*C*H+(2+2)*H) + // the k experts: three products, SiLU (2), ⊙, ·gate
		2*2*C*S*H + 2*S*H + S*H + 2*S*H*C + // shared: w1 and w3 products, SiLU, ⊙, w2 product
		C // routed + shared
	if total != 2672 || active != 2096 || moeTok != 1021 {
		t.Fatalf("hand arithmetic: %d %d %d", total, active, moeTok)
	}
	untied := testmodels.Replace(testmodels.MoE("residual plain", "act=geglu balance=aux route_scale=2.5"), "head tied", "head untied")
	untied = testmodels.Replace(untied, "shared=1", "shared=0")
	// untied head (+V·C), no shared experts, no bias, GeGLU, aux loss
	uTotal := total + V*C - 2*3*C*S*H
	uMoESeq := T*(2*C*E+E+E+ // router, σ, top-k
		k+ // load
		E+E+E+ // aux: Σ_e s, s / Σ, mean over the tokens
		k+1+k+k+ // gates: Σ, + 1e-20, divide, × route_scale
		k*(6*C*H+(9+2)*H)) + // the experts: GELU counts 9
		E + E + 1 // aux per sequence: load·P, Σ, × α·E
	for _, c := range []struct {
		name                                      string
		src                                       string
		params, active, vocab, untrained, moeRows int
		activeNonVocab                            int
		moeFLOPs                                  float64
	}{
		// tied: the table is the head's matrix, active in full
		{"tied, bias", testmodels.MoE("residual plain", ""), total, active, V * C, 2 * E, moe, active - V*C, float64(moeTok)},
		// untied: the head is active, the embedding table (a lookup) is not
		{"untied, aux, geglu, no shared", untied, uTotal, uTotal - 2*(E-k)*3*H*C - V*C, 2 * V * C, 0, moe - 3*C*S*H,
			uTotal - 2*(E-k)*3*H*C - 2*V*C, float64(uMoESeq) / T},
	} {
		for _, l := range []Level{O0, O2} {
			s := summaryOf(t, c.src, l)
			if s.Params != int64(c.params) || s.ActiveParams != int64(c.active) || s.VocabParams != int64(c.vocab) || s.Untrained != int64(c.untrained) {
				t.Errorf("%s %s: params %d, active %d, vocab %d, untrained %d; want %d, %d, %d, %d", c.name, l,
					s.Params, s.ActiveParams, s.VocabParams, s.Untrained, c.params, c.active, c.vocab, c.untrained)
			}
			if s.ActiveNonVocab != int64(c.activeNonVocab) {
				t.Errorf("%s %s: %d active parameters without the vocabulary, want %d", c.name, l, s.ActiveNonVocab, c.activeNonVocab)
			}
			for _, path := range []string{"blocks.1.ffn", "blocks.2.ffn"} {
				r := rowOf(t, s, path)
				// the row's parameters: the sublayer's but its norm
				if r.FLOPs != c.moeFLOPs || r.Params != int64(c.moeRows-C) {
					t.Errorf("%s %s: %s has %d params and %v FLOPs/token, want %d and %v", c.name, l, path, r.Params, r.FLOPs, c.moeRows-C, c.moeFLOPs)
				}
			}
			// AdamW keeps its two moments in float32: 8 bytes per trained parameter
			if s.ParamBytes != 4*int64(c.params+c.untrained) || s.GradBytes != 4*int64(c.params) || s.OptimizerBytes != 8*int64(c.params) {
				t.Errorf("%s %s: memory %d/%d/%d", c.name, l, s.ParamBytes, s.GradBytes, s.OptimizerBytes)
			}
		}
	}
}

// TestSummaryMoECountsActiveCompute: quadrupling the experts at the same
// k leaves the routed experts' FLOPs and active parameters alone; only
// the router grows, by (2C + 3) FLOPs per token (product, σ, bias, top-k)
// and C active parameters per added expert, while the total grows by
// every added expert's 3·H·C weights.
func TestSummaryMoECountsActiveCompute(t *testing.T) {
	const C, H, added = 8, 6, 12
	few := summaryOf(t, testmodels.MoE("residual plain", ""), O2)
	many := summaryOf(t, testmodels.Replace(testmodels.MoE("residual plain", ""), "experts=4", "experts=16"), O2)
	if d := rowOf(t, many, "blocks.1.ffn").FLOPs - rowOf(t, few, "blocks.1.ffn").FLOPs; d != (2*C+3)*added {
		t.Errorf("16 experts cost %v more FLOPs per token than 4, want %d", d, (2*C+3)*added)
	}
	if d := many.ActiveParams - few.ActiveParams; d != 2*C*added {
		t.Errorf("active parameters grew by %d, want %d (the two routers)", d, 2*C*added)
	}
	if d := many.Params - few.Params; d != 2*added*(3*H*C+C) {
		t.Errorf("parameters grew by %d, want %d", d, 2*added*(3*H*C+C))
	}
}

// TestSummaryGolden pins the text, Markdown and JSON summaries of each
// testdata/summary/*.txtar program (at -O2).
func TestSummaryGolden(t *testing.T) {
	golden.Run(t, "testdata/summary", func(t *testing.T, a *golden.Archive) {
		res := compileAt(t, "in", a.MustInput(t, "in.mhc"), Options{Level: O2})
		s, err := Analyze(res.Program, res.Module, "-O2")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{FormatText, FormatMarkdown, FormatJSON} {
			var b bytes.Buffer
			if err := WriteSummary(&b, s, f); err != nil {
				t.Fatal(err)
			}
			a.Out(f, b.String())
		}
	})
}

func summaryOf(t *testing.T, src string, l Level) *Summary {
	t.Helper()
	res := compileAt(t, "moe", []byte(src), Options{Level: l})
	s, err := Analyze(res.Program, res.Module, l.String())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rowOf(t *testing.T, s *Summary, path string) LayerRow {
	t.Helper()
	for _, r := range s.Rows {
		if r.Path == path {
			return r
		}
	}
	t.Fatalf("no row %s", path)
	return LayerRow{}
}
