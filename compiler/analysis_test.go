package compiler

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestSummaryTinyByHand checks the summary of examples/tiny.mhc against
// counts worked out by hand from the architecture, at -O0 and -O2 alike.
//
// tiny: vocab V = 256, context T = 128, width C = 128, n = 4 streams,
// Sinkhorn t = 20, 4 × (attention with H = 4 heads of 32, MLP with
// hidden 4C = 512, gelu), tied head, batch 16.
func TestSummaryTinyByHand(t *testing.T) {
	const (
		V, T, C, n, t20, H, dh, hidden, B = 256, 128, 128, 4, 20, 4, 32, 512, 16
		K                                 = n * C         // 512: the flattened token
		w                                 = n*n + 2*n     // 24 coefficients per sublayer
		sublayers, layers                 = 8, 4          // 4 attention + 4 MLP sublayers
		norms                             = sublayers + 1 // + the final norm
	)
	// Parameters.
	embed := V * C             // 32,768 (the head is tied: no more)
	hc := K*w + w + 3          // phi 12,288 + bias 24 + alpha 3 = 12,315
	attn := 4 * C * C          // wq, wk, wv, wo: 65,536
	mlp := C*hidden + hidden*C // w1, w2: 131,072
	norm := C                  // one gain per norm: 128
	params := embed + sublayers*hc + layers*(attn+mlp) + norms*norm
	if params != 918_872 {
		t.Fatalf("hand arithmetic: %d", params) // 32,768 + 98,520 + 786,432 + 1,152
	}

	// Forward FLOPs per token (one multiply-add = 2).
	hcCoeffs := 2*K + 2 + 2*K*w + 3*w + 3*n // x², mean; +ε, √; x·phi; /r, α·, +b; σ, σ, ·2 = 25,686
	sinkhorn := (3 + 4*t20) * n * n         // max, −, exp; 20 × (2 sums + 2 divides) over 16 = 1,328
	hcRead := 2 * n * C                     // Σ_j H_pre[j]·X_j: 1,024
	hcWrite := 2*n*n*C + 2*n*C              // H_res·X, + H_post·y: 5,120
	hcTok := hcCoeffs + sinkhorn + hcRead + hcWrite
	normTok := 4*C + 2   // x², mean, /, ·g per entry; +ε, √: 514
	attnTok := 3*2*C*C + // q, k, v projections: 98,304
		2*3*C + // rope on q and k: 768
		2*H*T*dh + H*T + 5*H*T + 2*H*T*dh + // q·kᵀ, ·scale, softmax, ·v: 71,168
		2*C*C // wo: 32,768
	mlpTok := 2*C*hidden + 9*hidden + 2*hidden*C // w1, gelu (9 elementwise ops), w2: 266,752
	collapseTok := n * C                         // Σ_i X_i: 512
	headTok := 2 * C * V                         // logits: 65,536
	lossTok := 5*V + 1                           // log_softmax, mean of the picks (+1 per sequence for −)
	perSeq := int64(T*(sublayers*hcTok+norms*normTok+layers*(attnTok+mlpTok)+collapseTok+headTok+lossTok) + 1)
	if perSeq != 282_370_433 {
		t.Fatalf("hand arithmetic: %d", perSeq)
	}

	for _, l := range []Level{O0, O2} {
		res := compileAt(t, "tiny", examples(t)["tiny.mhc"], Options{Level: l})
		s, err := Analyze(res.Program, res.Module, l.String())
		if err != nil {
			t.Fatal(err)
		}
		if s.Params != int64(params) || s.ParamTensors != 58 {
			t.Errorf("%s: params %d in %d tensors, want %d in 58", l, s.Params, s.ParamTensors, params)
		}
		if s.ForwardFLOPsPerSequence != perSeq {
			t.Errorf("%s: forward FLOPs per sequence %d, want %d", l, s.ForwardFLOPsPerSequence, perSeq)
		}
		if want := float64(perSeq) / T; s.ForwardFLOPs != want || s.BackwardFLOPs != 2*want {
			t.Errorf("%s: FLOPs per token %v + %v, want %v + %v", l, s.ForwardFLOPs, s.BackwardFLOPs, want, 2*want)
		}
		// AdamW (the file's optimizer) keeps two float32 moments per
		// parameter: 8 bytes (backend/runtime/bench checks this against
		// the optimizer's own state)
		if s.ParamBytes != 4*int64(params) || s.OptimizerBytes != 8*int64(params) || s.GradBytes != 4*int64(params) {
			t.Errorf("%s: parameter memory %d/%d/%d", l, s.ParamBytes, s.GradBytes, s.OptimizerBytes)
		}
		if s.Batch != B || s.Context != T {
			t.Errorf("%s: B=%d T=%d", l, s.Batch, s.Context)
		}
		// Per-layer rows.
		row := func(path string) LayerRow {
			for _, r := range s.Rows {
				if r.Path == path {
					return r
				}
			}
			t.Fatalf("%s: no row %s in %v", l, path, s.Rows)
			return LayerRow{}
		}
		checks := []struct {
			path   string
			params int
			flops  int
		}{
			{"embed", embed, 0},
			{"blocks.0.attn.hc", hc, hcTok},
			{"blocks.3.mlp.hc", hc, hcTok},
			{"blocks.2.attn.norm", norm, normTok},
			{"blocks.1.attn", attn, attnTok},
			{"blocks.1.mlp", mlp, mlpTok},
			{"residual.collapse", 0, collapseTok},
			{"norm", norm, normTok},
			{"head", 0, headTok},
		}
		for _, c := range checks {
			r := row(c.path)
			if r.Params != int64(c.params) || r.FLOPs != float64(c.flops) {
				t.Errorf("%s: row %s has %d params and %v FLOPs/token, want %d and %d", l, c.path, r.Params, r.FLOPs, c.params, c.flops)
			}
		}
		if r := row("blocks.0.attn.hc"); r.Shape != "f32[B,T,4,128]" {
			t.Errorf("%s: hc row output %s", l, r.Shape)
		}
		// The paths in execution order.
		var paths []string
		for _, r := range s.Rows {
			paths = append(paths, r.Path)
		}
		got := strings.Join(paths, " ")
		if !strings.HasPrefix(got, "inputs embed residual.expand blocks.0.attn.hc blocks.0.attn.norm blocks.0.attn blocks.0.mlp.hc") ||
			!strings.HasSuffix(got, "blocks.3.mlp residual.collapse norm head loss") {
			t.Errorf("%s: rows %s", l, got)
		}
	}
}

// TestSummaryActivationsShrinkWithFusion: fusion keeps fewer values for
// the backward pass.
func TestSummaryActivationsShrinkWithFusion(t *testing.T) {
	src := examples(t)["tiny.mhc"]
	var act [3]int64
	for l := O0; l <= O2; l++ {
		res := compileAt(t, "tiny", src, Options{Level: l})
		s, err := Analyze(res.Program, res.Module, l.String())
		if err != nil {
			t.Fatal(err)
		}
		act[l] = s.ActivationBytes
	}
	if !(act[2] < act[1] && act[1] <= act[0]) {
		t.Errorf("activation bytes -O0 %d, -O1 %d, -O2 %d", act[0], act[1], act[2])
	}
}

func TestSummaryFormats(t *testing.T) {
	res := compileAt(t, "tiny", examples(t)["tiny.mhc"], Options{Level: O2})
	s, err := Analyze(res.Program, res.Module, "-O2")
	if err != nil {
		t.Fatal(err)
	}
	var text, md, js bytes.Buffer
	for f, b := range map[string]*bytes.Buffer{FormatText: &text, FormatMarkdown: &md, FormatJSON: &js} {
		if err := WriteSummary(b, s, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"blocks.0.attn.hc    hc.coeffs,hc.write,sinkhorn,…", "total", "918,872",
		"parameters: 918,872 in 58 tensors", "FLOPs per token: 2.21M forward + 4.41M backward = 6.62M",
		// 4 layers × a key and a value of 4 heads × 32 × 4 bytes
		"KV cache when decoding (f32): 4.0 KiB per token, 512.0 KiB at the context of 128; a key and a value per query head"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text summary lacks %q:\n%s", want, text.String())
		}
	}
	if !strings.Contains(md.String(), "| `blocks.0.attn` | `matmul.concat,attention,matmul,…` | `f32[B,T,128]` | 65,536 | 200k |") {
		t.Errorf("markdown summary:\n%s", md.String())
	}
	var back Summary
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Params != s.Params || len(back.Rows) != len(s.Rows) {
		t.Errorf("json summary does not read back: %v", err)
	}
	if err := WriteSummary(&text, s, "yaml"); err == nil {
		t.Error("unknown format accepted")
	}
}
