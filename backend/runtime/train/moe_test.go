package train

import (
	"math"
	"slices"
	"testing"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/backend/runtime/data"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/internal/testmodels"
)

// TestGradientEveryParameterMoE: finite differences of every parameter
// tensor of the mixture-of-experts model (a dense first layer, then two
// layers of routed and shared experts): the router through the gates, the
// routed experts through moe.experts, the shared experts; the selection
// bias gets no gradient and moves no loss (its differences are 0).
func TestGradientEveryParameterMoE(t *testing.T) {
	for name, src := range map[string]string{
		"bias":          testmodels.MoE("residual plain", ""),
		"mhc aux geglu": testmodels.MoE("residual streams=2 sinkhorn=4", "act=geglu balance=aux aux_weight=0.3 route_scale=2.5"),
		"stochastic k3": testmodels.Replace(testmodels.MoE("residual streams=2 constraint=stochastic", ""), "active=2", "active=3"),
		"balance=none":  testmodels.MoE("residual plain", "balance=none"),
	} {
		t.Run(name, func(t *testing.T) { gradCheck(t, src, 40, 12) })
	}
}

// TestBalanceMovesTheBias: the auxiliary-loss-free update moves each
// expert's selection bias by exactly γ towards the mean load — up for an
// expert below it, down above it, not at all at it — from the loads of
// every micro-batch of the step, and reports max and min load relative
// to the mean.
func TestBalanceMovesTheBias(t *testing.T) {
	p, m := compile(t, testmodels.MoE("residual plain", "bias_rate=0.25"))
	_ = m
	layers := compiler.MoELayers(p)
	if len(layers) != 2 || layers[0].Bias != "blocks.1.ffn.router_bias" || layers[1].Load != "blocks.2.ffn.load" {
		t.Fatalf("layers %+v", layers)
	}
	bias := [][]float32{{0, 0, 0, 0}, {1, 1, 1, 1}}
	s := &moeState{layers: layers, bias: bias, slots: 10, counts: [][]int64{{3, 5, 5, 7}, {10, 10, 0, 20}}, total: []int64{20, 40}}
	var rec Record
	s.finish(&rec)
	// layer 0: mean 5 → up, equal, equal, down; layer 1: mean 10
	if want := []float32{0.25, 0, 0, -0.25}; !slices.Equal(bias[0], want) {
		t.Errorf("layer 0 bias %v, want %v", bias[0], want)
	}
	if want := []float32{1, 1, 1.25, 0.75}; !slices.Equal(bias[1], want) {
		t.Errorf("layer 1 bias %v, want %v", bias[1], want)
	}
	if want := []float64{7.0 / 5, 20.0 / 10}; !slices.Equal(rec.MoEMaxLoad, want) {
		t.Errorf("max load %v, want %v", rec.MoEMaxLoad, want)
	}
	if want := []float64{3.0 / 5, 0}; !slices.Equal(rec.MoEMinLoad, want) {
		t.Errorf("min load %v, want %v", rec.MoEMinLoad, want)
	}
	if s.total[0] != 0 || s.counts[1][3] != 0 {
		t.Errorf("the counts were not reset: %v %v", s.total, s.counts)
	}
	if got := maxLoad(&rec); got != 2 {
		t.Errorf("maxLoad = %v, want 2", got)
	}
}

// TestMoETrains: the mixture-of-experts model learns (the mean loss of the
// last 5 steps is below that of the first 5), logs the load of both MoE
// sublayers every step (max ≥ 1 ≥ min; a max/mean load of k·E/k = E/1
// at most), moves the selection biases, and with balance=aux reports the
// auxiliary loss, which stays near its balanced value aux_weight per
// sublayer.
func TestMoETrains(t *testing.T) {
	for _, c := range []struct{ name, attrs string }{{"bias", "bias_rate=0.01"}, {"aux", "balance=aux"}} {
		t.Run(c.name, func(t *testing.T) {
			p, m := compile(t, testmodels.MoE("residual streams=2 sinkhorn=5", c.attrs))
			dir := t.TempDir()
			res, log := mustRun(t, p, m, Options{OutDir: dir, Steps: 60})
			recs, err := ReadMetrics(dir)
			if err != nil {
				t.Fatal(err)
			}
			mean := func(rs []Record) float64 {
				s := 0.0
				for _, r := range rs {
					s += r.Loss
				}
				return s / float64(len(rs))
			}
			if first, last := mean(recs[:5]), mean(recs[len(recs)-5:]); !(last < first-0.1) {
				t.Errorf("loss %.4f → %.4f: the model did not learn\n%s", first, last, log)
			}
			for _, r := range recs {
				if len(r.MoEMaxLoad) != 2 || len(r.MoEMinLoad) != 2 {
					t.Fatalf("step %d: loads %v %v", r.Step, r.MoEMaxLoad, r.MoEMinLoad)
				}
				for i := range r.MoEMaxLoad {
					if r.MoEMaxLoad[i] < 1 || r.MoEMaxLoad[i] > 2 || r.MoEMinLoad[i] > 1 || r.MoEMinLoad[i] < 0 {
						t.Fatalf("step %d: max/min load %v %v out of [1, E/k] and [0, 1]", r.Step, r.MoEMaxLoad, r.MoEMinLoad)
					}
				}
				if (r.AuxLoss != nil) != (c.name == "aux") {
					t.Fatalf("step %d: aux_loss %v", r.Step, r.AuxLoss)
				}
				if r.AuxLoss != nil && (*r.AuxLoss < 0.02*0.9 || *r.AuxLoss > 0.02*2) {
					t.Fatalf("step %d: aux loss %v, want about 2 × 0.01", r.Step, *r.AuxLoss)
				}
			}
			if res.FinalLoss != mean(recs[len(recs)-1:]) && math.IsNaN(res.FinalLoss) {
				t.Errorf("final loss %v", res.FinalLoss)
			}
		})
	}
}

// TestEvalReadsTheCrossEntropy: the validation loss of a model with an
// auxiliary balance loss is its cross-entropy: the module's loss minus
// the auxiliary loss, over the same windows.
func TestEvalReadsTheCrossEntropy(t *testing.T) {
	_, m := compile(t, testmodels.MoE("residual plain", "balance=aux aux_weight=0.5"))
	g, err := gb.Build(m, gb.Options{Binds: map[string]int{compiler.SymBatch: 2, compiler.SymTime: 5}, DType: gb.Float32, Grad: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.InitParams(1)
	ev, err := newEvaluator(m, g, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.close()
	ws := syntheticWindows(data.NewMarkov(11, 1), 1, 2, 5, 1)
	got, err := ev.meanLoss(ws)
	if err != nil {
		t.Fatal(err)
	}
	tokens, targets := make([]int, 10), make([]int, 10)
	for i := range 2 {
		ws.fill(i, tokens[i*5:(i+1)*5], targets[i*5:(i+1)*5])
	}
	if err := feed(ev.full, tokens, targets); err != nil {
		t.Fatal(err)
	}
	out, err := ev.full.RunOutputs(compiler.OutputLoss, compiler.OutputAuxLoss)
	if err != nil {
		t.Fatal(err)
	}
	loss, aux := out[compiler.OutputLoss][0], out[compiler.OutputAuxLoss][0]
	if aux < 0.5 || math.Abs(got-(loss-aux)) > 1e-5 {
		t.Errorf("validation loss %v; the module's loss %v, auxiliary loss %v", got, loss, aux)
	}
}
