package compiler

import (
	"math"
	"testing"

	"github.com/mhcc/mhcc/backend/ref"
	"github.com/mhcc/mhcc/lang"
)

// TestLowerLogitsMatchesLoss: the logits output, log-softmaxed and picked
// at the targets, gives back the module's own loss.
func TestLowerLogitsMatchesLoss(t *testing.T) {
	src := "model m {\n  vocab 7\n  context 4\n  embed dim=8\n  residual streams=2 constraint=birkhoff\n  repeat 1 {\n    block attn { norm rms; attention heads=2 }\n  }\n}\n"
	prog, diags := lang.Load("m.mhc", []byte(src))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	m, err := LowerLogits(prog)
	if err != nil {
		t.Fatal(err)
	}
	lv := m.Output(OutputLogits)
	if lv == nil || lv.Type.String() != "f32[B,T,7]" {
		t.Fatalf("logits output %v", lv)
	}
	plain, _ := Lower(prog)
	if len(plain.Outputs) != 1 {
		t.Errorf("Lower now has %d outputs; LowerLogits must not change it", len(plain.Outputs))
	}
	params := map[string][]float64{}
	k := 0
	for _, v := range m.Values {
		if name := v.Param(); name != "" {
			n := 1
			for _, d := range v.Type.Shape {
				n *= d.N
			}
			vals := make([]float64, n)
			for i := range vals {
				k++
				vals[i] = math.Sin(float64(k)) * 0.5
			}
			params[name] = vals
		}
	}
	binds := map[string]int{SymBatch: 1, SymTime: 4}
	tokens, targets := []int{1, 2, 3, 4}, []int{2, 3, 4, 5}
	outs, err := ref.Eval(m, binds, params, map[string][]int{InputTokens: tokens, InputTargets: targets})
	if err != nil {
		t.Fatal(err)
	}
	lg := outs[OutputLogits].Data
	var nll float64
	for pos := 0; pos < 4; pos++ {
		row := lg[pos*7 : (pos+1)*7]
		mx := math.Inf(-1)
		for _, x := range row {
			mx = math.Max(mx, x)
		}
		var s float64
		for _, x := range row {
			s += math.Exp(x - mx)
		}
		nll -= row[targets[pos]] - mx - math.Log(s)
	}
	if got, want := nll/4, outs[OutputLoss].Data[0]; math.Abs(got-want) > 1e-12 {
		t.Errorf("loss from logits %v, module loss %v", got, want)
	}
}
