package train

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/lang"
)

// BenchmarkDecode generates 500 tokens greedily with the architecture of
// examples/tiny.mhc (random weights; 500 tokens cross the 128-token
// context three times, so the rebuilds of the cache are included) and
// reports tokens per second; llama and mla are the mHC models of
// examples/ablation/llama (grouped-query attention) and
// examples/ablation/mla (multi-head latent attention, decoded over its
// latents), of one width and context (64), which compare the two decoding
// forms:
//
//	go test -run '^$' -bench Decode -benchtime 5x ./backend/runtime/train
func BenchmarkDecode(b *testing.B) {
	examples := filepath.Join("..", "..", "..", "examples")
	for _, c := range []struct{ name, path string }{
		{"tiny", filepath.Join(examples, "tiny.mhc")},
		{"llama", filepath.Join(examples, "ablation", "llama", "2_mhc.mhc")},
		{"mla", filepath.Join(examples, "ablation", "mla", "2_mhc.mhc")},
	} {
		b.Run(c.name, func(b *testing.B) { benchmarkDecode(b, c.path) })
	}
}

func benchmarkDecode(b *testing.B, path string) {
	src, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	p, diags := lang.Load(path, src)
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	dec, err := NewDecoder(p, func(g *gb.Graph) error { g.InitParams(1); return nil })
	if err != nil {
		b.Fatal(err)
	}
	defer dec.Close()
	const tokens = 500
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		dec.Reset()
		tok := int('\n')
		for range tokens {
			logits, err := dec.Feed(tok)
			if err != nil {
				b.Fatal(err)
			}
			best := 0
			for i, x := range logits {
				if x > logits[best] {
					best = i
				}
			}
			tok = best
		}
	}
	b.ReportMetric(float64(tokens*b.N)/time.Since(start).Seconds(), "tokens/s")
}
