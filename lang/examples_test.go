package lang

import (
	"fmt"
	"os"
	"testing"
)

// TestExamples loads the shipped examples and checks the fields the
// compiler relies on, beyond the golden dumps.
func TestExamples(t *testing.T) {
	for _, c := range []struct {
		file     string
		residual string
		streams  int
	}{
		{"../examples/tiny.mhc", ResidualHyper, 4},
		{"../examples/tiny_plain.mhc", ResidualPlain, 1},
	} {
		src, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		p, diags := Load(c.file, src)
		if p == nil || len(diags) > 0 {
			t.Fatalf("%s: %s", c.file, diags)
		}
		m := p.Model
		if p.File != c.file || m.Vocab != 256 || m.Context != 128 || m.Embed.Dim != 128 || m.Embed.InitStd != 0.02 {
			t.Errorf("%s: model header: %+v", c.file, m)
		}
		if m.Residual.Kind != c.residual || m.Residual.Streams != c.streams || !m.Residual.Pos.IsValid() {
			t.Errorf("%s: residual %+v", c.file, m.Residual)
		}
		if len(m.Blocks) != 8 {
			t.Fatalf("%s: %d blocks, want 8", c.file, len(m.Blocks))
		}
		for i, b := range m.Blocks {
			name, layer := "attn", i/2
			if i%2 == 1 {
				name = "mlp"
			}
			if want := fmt.Sprintf("blocks.%d.%s", layer, name); b.Path != want || b.Layer != layer || b.Index != i || b.Name != name {
				t.Errorf("%s: block %d = %s layer %d index %d", c.file, i, b.Path, b.Layer, b.Index)
			}
			if (b.Attention != nil) == (b.MLP != nil) {
				t.Errorf("%s: block %d: want exactly one of attention and mlp", c.file, i)
			}
			if b.Attention != nil && (b.Attention.Heads != 4 || !b.Attention.Rope || b.Attention.RopeBase != 10000) {
				t.Errorf("%s: attention %+v", c.file, *b.Attention)
			}
			if b.MLP != nil && (b.MLP.Hidden != 512 || b.MLP.Act != "gelu") {
				t.Errorf("%s: mlp %+v", c.file, *b.MLP)
			}
			if !b.Pos.IsValid() || !b.Norm.Pos.IsValid() || b.Norm.Eps != 1e-6 {
				t.Errorf("%s: block %d positions/norm: %+v", c.file, i, b)
			}
		}
		tr := p.Train
		if tr.Batch != 16 || tr.Steps != 1000 || tr.Seed != 1337 || tr.Optimizer.LR != 3e-3 || tr.Optimizer.Beta2 != 0.95 ||
			tr.Schedule.Warmup != 100 || tr.Eval.Every != 100 || tr.Log.Every != 10 || tr.Data.Kind != DataSynthetic || tr.Data.Task != "markov" {
			t.Errorf("%s: train %+v", c.file, tr)
		}
	}
}

func TestCheckNil(t *testing.T) {
	if p, diags := Check(nil); p != nil || !diags.HasErrors() {
		t.Error("Check(nil) should report an error")
	}
}
