package compiler

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/backend/ref"
	"github.com/mhcc/mhcc/internal/testmodels"
	"github.com/mhcc/mhcc/ir"
)

// examples returns the .mhc files of examples/ (name → source).
func examples(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("../examples/*.mhc")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = src
	}
	return out
}

// variant is a small model exercising one configuration.
// variant is testmodels.Tiny with the residual statement and the
// attention and MLP attributes besides heads and width ("" keeps the
// defaults: rope=true, act=gelu).
func variant(residual, attn, mlp string) []byte {
	src := testmodels.Replace(testmodels.Tiny(residual), "heads=2 rope=true", strings.TrimSpace("heads=2 "+attn))
	return []byte(testmodels.Replace(src, "hidden=12 act=gelu", strings.TrimSpace("hidden=12 "+mlp)))
}

// variants are the small configurations checked besides the examples.
func variants() map[string][]byte {
	return map[string][]byte{
		"streams1":        variant("residual streams=1 sinkhorn=3", "rope=true", "act=gelu"),
		"streams2":        variant("residual streams=2 sinkhorn=4 init=uniform", "rope=false", "act=relu"),
		"streams4":        variant("residual streams=4 sinkhorn=5 collapse=mean", "rope=true", "act=relu"),
		"plain-rope":      variant("residual plain", "rope=true", "act=gelu"),
		"plain-norope":    variant("residual plain", "rope=false", "act=relu"),
		"identity1":       variant("residual streams=1 constraint=identity", "rope=true", "act=gelu"),
		"identity3":       variant("residual streams=3 constraint=identity collapse=mean", "rope=false", "act=gelu"),
		"streams3-untied": []byte(strings.Replace(string(variant("residual streams=3 sinkhorn=2", "", "")), "head tied", "head untied", 1)),
		// The other hyper-connection variants (docs/residual.md): static,
		// learned collapse, stochastic, permutations.
		"birkhoff3-static":   variant("residual streams=3 dynamic=false sinkhorn=4", "rope=true", "act=gelu"),
		"birkhoff3-learned":  variant("residual streams=3 sinkhorn=3 collapse=learned", "rope=false", "act=gelu"),
		"stochastic4":        variant("residual streams=4 constraint=stochastic collapse=learned", "rope=true", "act=gelu"),
		"stochastic2-static": variant("residual streams=2 constraint=stochastic dynamic=false init=uniform", "rope=true", "act=relu"),
		"perm1":              variant("residual streams=1 constraint=permutations", "rope=true", "act=gelu"),
		"perm3":              variant("residual streams=3 constraint=permutations collapse=mean", "rope=true", "act=gelu"),
		"perm4-static":       variant("residual streams=4 constraint=permutations dynamic=false init=uniform", "rope=false", "act=gelu"),
		"none4":              variant("residual streams=4 constraint=none", "rope=true", "act=gelu"),
		"none3-learned":      variant("residual streams=3 constraint=none collapse=learned init=uniform", "rope=true", "act=relu"),
		"none2-static":       variant("residual streams=2 constraint=none dynamic=false", "rope=true", "act=gelu"),
		// Mixtures of experts: a dense first layer, then routed and shared
		// experts, each balancing, both activations, one expert per token.
		"moe-bias":             []byte(testmodels.MoE("residual plain", "")),
		"moe-aux-geglu-hc":     []byte(testmodels.MoE("residual streams=2 sinkhorn=3", "act=geglu balance=aux route_scale=2.5")),
		"moe-none-k1-identity": []byte(testmodels.Replace(testmodels.MoE("residual streams=2 constraint=identity", "balance=none"), "active=2", "active=1")),
	}
}

func allPrograms(t *testing.T) map[string][]byte {
	progs := examples(t)
	for k, v := range variants() {
		progs[k] = v
	}
	return progs
}

func compileAt(t *testing.T, name string, src []byte, opts Options) *Result {
	t.Helper()
	res, err := CompileSource(name+".mhc", src, opts)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.Module == nil {
		var b bytes.Buffer
		res.Diags.Render(&b, src, false, 10)
		t.Fatalf("%s does not compile:\n%s", name, b.String())
	}
	return res
}

// randomWeights draws every parameter of m, large enough that every path
// of the model (α starts at 0.01 in the real init) matters.
func randomWeights(m *ir.Module, seed uint64) map[string][]float64 {
	rng := rand.New(rand.NewPCG(seed, 7))
	params := map[string][]float64{}
	for _, p := range m.Params() {
		n, _ := p.Type.Shape.Size()
		d := make([]float64, n)
		for i := range d {
			switch name := p.Param(); {
			case strings.HasSuffix(name, ".alpha"):
				d[i] = 0.5 + rng.Float64()
			case strings.HasSuffix(name, "norm.weight"):
				d[i] = 1 + 0.3*rng.NormFloat64()
			default:
				d[i] = 0.5 * rng.NormFloat64()
			}
		}
		params[p.Param()] = d
	}
	return params
}

func randomTokens(rng *rand.Rand, n, vocab int) []int {
	t := make([]int, n)
	for i := range t {
		t[i] = rng.IntN(vocab)
	}
	return t
}

func evalLoss(t *testing.T, m *ir.Module, binds map[string]int, params map[string][]float64, inputs map[string][]int) float64 {
	t.Helper()
	out, err := ref.Eval(m, binds, params, inputs)
	if err != nil {
		t.Fatal(err)
	}
	return out[OutputLoss].Data[0]
}

// TestOptimizedLossEqualsPrimitive evaluates every example and variant at
// -O0, -O1 and -O2 with the float64 reference interpreter on the same
// weights and tokens: the losses agree to 1e-9 relative.
func TestOptimizedLossEqualsPrimitive(t *testing.T) {
	for name, src := range allPrograms(t) {
		t.Run(name, func(t *testing.T) {
			o0 := compileAt(t, name, src, Options{Level: O0})
			if s, err := Analyze(o0.Program, o0.Module, "-O0"); err != nil || s.Params > 5_000_000 {
				t.Skipf("too large for the float64 interpreter (%v)", err)
			}
			B, T := 2, 5
			if strings.HasPrefix(name, "tiny") {
				B, T = 1, 6
			}
			binds := map[string]int{SymBatch: B, SymTime: T}
			params := randomWeights(o0.Module, 1)
			rng := rand.New(rand.NewPCG(3, 4))
			V := o0.Program.Model.Vocab
			inputs := map[string][]int{InputTokens: randomTokens(rng, B*T, V), InputTargets: randomTokens(rng, B*T, V)}
			want := evalLoss(t, o0.Module, binds, params, inputs)
			if math.IsNaN(want) || want <= 0 {
				t.Fatalf("-O0 loss %v", want)
			}
			for _, l := range []Level{O1, O2} {
				res := compileAt(t, name, src, Options{Level: l})
				got := evalLoss(t, res.Module, binds, params, inputs)
				if rel := math.Abs(got-want) / math.Abs(want); rel > 1e-9 {
					t.Errorf("%s loss %.17g, -O0 loss %.17g (relative difference %.3g)", l, got, want, rel)
				}
			}
		})
	}
}

// TestEveryPassVerifiesAndRoundTrips runs each pass of the -O2 pipeline
// one at a time on every example and variant, verifying after each, and
// checks that the IR text of every level re-parses to the same text.
func TestEveryPassVerifiesAndRoundTrips(t *testing.T) {
	for name, src := range allPrograms(t) {
		t.Run(name, func(t *testing.T) {
			m := compileAt(t, name, src, Options{Level: O0}).Module
			roundTrip(t, m)
			for _, p := range Passes() {
				p.Run(m)
				if err := ir.Verify(m); err != nil {
					t.Fatalf("after %s: %v", p.Name, err)
				}
				roundTrip(t, m)
			}
			for l := O0; l <= MaxLevel; l++ {
				roundTrip(t, compileAt(t, name, src, Options{Level: l}).Module)
			}
		})
	}
}

func roundTrip(t *testing.T, m *ir.Module) {
	t.Helper()
	text := m.String()
	p, err := ir.Parse(text)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := p.String(); got != text {
		t.Fatalf("IR does not round-trip")
	}
}

// TestTinyO2Counts pins what the passes do to examples/tiny.mhc: 4 blocks ×
// 2 hyper-connected sublayers = 8 mHC sublayers with 20 Sinkhorn
// iterations each, 4 attention blocks, 9 RMS norms (8 sublayers + final).
func TestTinyO2Counts(t *testing.T) {
	src := examples(t)["tiny.mhc"]
	o0 := compileAt(t, "tiny", src, Options{Level: O0})
	res := compileAt(t, "tiny", src, Options{Level: O2})
	st := res.Stats
	wantStats := []struct {
		pass, count string
		n           int
	}{
		{"fuse-rmsnorm", "fused", 9},
		{"fuse-hc-coeffs", "fused", 8},
		{"fuse-sinkhorn", "fused", 8},
		{"fuse-sinkhorn", "iterations", 160},
		{"fuse-hc-read", "fused", 8},
		{"fuse-hc-write", "fused", 8},
		{"fuse-qkv", "fused", 4},
		{"fuse-qkv", "matmuls", 12},
		{"fuse-attention", "fused", 4},
		{"fuse-cross-entropy", "fused", 1},
		{"fuse-gelu", "fused", 4},
	}
	for _, w := range wantStats {
		if got := st.Get(w.pass, w.count); got != w.n {
			t.Errorf("stats %s %s = %d, want %d", w.pass, w.count, got, w.n)
		}
	}
	ops := res.Module.OpCounts()
	wantOps := map[string]int{
		ir.OpSinkhorn: 8, ir.OpHCCoeffs: 8, ir.OpHCRead: 8, ir.OpHCWrite: 8, ir.OpAttention: 4,
		ir.OpCrossEntropy: 1, ir.OpRMSNorm: 9, ir.OpMatmulConcat: 4, ir.OpGELU: 4,
		// Nothing of the GELU chains is left.
		ir.OpTanh: 0, ir.OpSquare: 0,
		// Nothing of Sinkhorn, the norms, softmax or the loss is left.
		ir.OpDiv: 0, ir.OpExp: 0, ir.OpMax: 0, ir.OpSqrt: 0, ir.OpSigmoid: 0, ir.OpSoftmax: 0,
		ir.OpLogSoftmax: 0, ir.OpCausalMask: 0, ir.OpPick: 0,
		// The collapse Σ_i X_i is the only sum left.
		ir.OpSum: 1,
		// Params are never touched: 1 embedding + 8·3 hc + 8 norms + 4·4 attention + 4·2 mlp + final norm.
		ir.OpParam: 1 + 8*3 + 8 + 16 + 8 + 1,
	}
	for op, n := range wantOps {
		if ops[op] != n {
			t.Errorf("-O2 has %d %s, want %d", ops[op], op, n)
		}
	}
	// O0 has the unrolled Sinkhorn: 2 divisions per iteration per sublayer,
	// plus one per RMS norm (9) and one per coefficient projection (8).
	if got, want := o0.Module.OpCounts()[ir.OpDiv], 8*20*2+9+8; got != want {
		t.Errorf("-O0 has %d div, want %d", got, want)
	}
	// Every fused value records how many primitive values it replaced.
	members := map[string]int{ir.OpSinkhorn: 3 + 4*20, ir.OpHCCoeffs: 24, ir.OpHCRead: 4, ir.OpHCWrite: 5,
		ir.OpRMSNorm: 6, ir.OpAttention: 5, ir.OpCrossEntropy: 5, ir.OpMatmulConcat: 3, ir.OpGELU: 9}
	for _, v := range res.Module.Values {
		if ir.IsFused(v.Op) {
			if got := v.Attrs.Int("members"); got != members[v.Op] {
				t.Errorf("%s members=%d, want %d", v.Op, got, members[v.Op])
			}
			if v.Pos.Line == 0 {
				t.Errorf("%s lost its source position", v.Op)
			}
		}
	}
	if n0, n2 := len(o0.Module.Values), len(res.Module.Values); n2*4 > n0 {
		t.Errorf("-O2 has %d values, -O0 %d: want at least 4× fewer", n2, n0)
	}
}

// TestFusedPositions checks that fused values keep the source position of
// what they replace: hyper-connection ops sit on the residual statement,
// norms on their norm statement, attention on its attention statement.
func TestFusedPositions(t *testing.T) {
	res := compileAt(t, "tiny", examples(t)["tiny.mhc"], Options{Level: O2})
	md := res.Program.Model
	resPos := ir.Pos{Line: md.Residual.Pos.Line, Col: md.Residual.Pos.Col}
	for _, v := range res.Module.Values {
		switch v.Op {
		case ir.OpSinkhorn, ir.OpHCCoeffs, ir.OpHCRead, ir.OpHCWrite:
			if v.Pos != resPos {
				t.Errorf("%s at %s, want the residual statement %s", v.Op, v.Pos, resPos)
			}
		case ir.OpAttention:
			if p := md.Blocks[0].Attention.Pos; v.Pos != (ir.Pos{Line: p.Line, Col: p.Col}) {
				t.Errorf("attention at %s, want %d:%d", v.Pos, p.Line, p.Col)
			}
		case ir.OpCrossEntropy:
			if p := md.Head.Pos; v.Pos != (ir.Pos{Line: p.Line, Col: p.Col}) {
				t.Errorf("cross_entropy at %s, want the head %d:%d", v.Pos, p.Line, p.Col)
			}
		}
	}
}

func TestPassTable(t *testing.T) {
	if err := checkPassTable(passes[:]); err != nil {
		t.Fatal(err)
	}
	swap := func(a, b string) []Pass {
		tab := Passes()
		var ia, ib int
		for i, p := range tab {
			if p.Name == a {
				ia = i
			}
			if p.Name == b {
				ib = i
			}
		}
		tab[ia], tab[ib] = tab[ib], tab[ia]
		return tab
	}
	broken := map[string][]Pass{
		`pass "cse" must come before "dce"`:          swap("cse", "dce"),
		`pass "canonicalize" must come before "cse"`: swap("canonicalize", "dce"),
		`listed twice`:                           append(Passes(), passes[0]),
		`needs a name, a doc and a run function`: append(Passes(), Pass{Name: "x", Doc: "y"}),
		`comes after`:                            append(Passes(), Pass{Name: "late", Doc: "d", Level: O1, Run: dce}),
		`required passes run at -O0`:             append([]Pass{{Name: "r", Doc: "d", Level: O1, Required: true, Run: dce}}, Passes()...),
	}
	for want, tab := range broken {
		err := checkPassTable(tab)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("checkPassTable = %v, want %q", err, want)
		}
	}
}

func TestPipelines(t *testing.T) {
	names := func(o Options) string {
		ps, err := o.Pipeline()
		if err != nil {
			return "error: " + err.Error()
		}
		return pipelineString(ps)
	}
	cases := []struct {
		o    Options
		want string
	}{
		{Options{Level: O0}, "no passes"},
		{Options{Level: O1}, "fold,canonicalize,cse,dce"},
		{Options{Level: O2}, "fold,canonicalize,cse,dce,fuse-layernorm,fuse-rmsnorm,fuse-hc-coeffs,fuse-sinkhorn,fuse-hc-read,fuse-hc-write,fuse-qkv,fuse-attention,fuse-cross-entropy,fuse-moe,fuse-gelu,fuse-silu"},
		{Options{Level: O2, Passes: []string{"dce", "fuse-sinkhorn", "dce"}}, "dce,fuse-sinkhorn,dce"},
		{Options{Passes: []string{}}, "no passes"},
		{Options{Level: 3}, "error: invalid compiler options: no optimisation level 3"},
		{Options{Passes: []string{"cse", "fuse-everything"}}, `error: invalid compiler options: unknown pass "fuse-everything" (passes: fold, canonicalize, cse, dce, fuse-layernorm, fuse-rmsnorm,`},
		{Options{Level: O1, PrintIRAfter: "fuse-qkv"}, `error: invalid compiler options: --print-ir-after: pass "fuse-qkv" does not run in this pipeline (fold,canonicalize,cse,dce)`},
		{Options{Level: O1, PrintIRAfter: "nope"}, `error: invalid compiler options: --print-ir-after: unknown pass "nope" (passes: all, fold,`},
		{Options{Level: O1, PrintIRAfter: "all"}, "fold,canonicalize,cse,dce"},
	}
	for _, c := range cases {
		got := names(c.o)
		if strings.HasPrefix(got, "error: ") && !strings.Contains(got, c.want) || !strings.HasPrefix(got, "error: ") && got != c.want {
			t.Errorf("%+v:\n got  %s\n want %s", c.o, got, c.want)
		}
	}
	if _, err := (Options{Passes: []string{"x"}}).Pipeline(); !errors.Is(err, ErrOptions) {
		t.Errorf("unknown pass error %v does not wrap ErrOptions", err)
	}
	if DefaultOptions().Level != DefaultLevel {
		t.Error("DefaultOptions does not use DefaultLevel")
	}
}

func TestPrintIRAfterAndDumpDir(t *testing.T) {
	src := variants()["streams2"]
	dir := t.TempDir()
	var printed bytes.Buffer
	res := compileAt(t, "v", src, Options{Level: O2, PrintIRAfter: "cse", PrintTo: &printed, DumpDir: dir,
		Command: "mhcc ir models/v.mhc"})
	out := printed.String()
	if !strings.HasPrefix(out, "# IR after cse (") || strings.Count(out, "mhcc.ir v1") != 1 {
		t.Errorf("--print-ir-after=cse printed:\n%.300s", out)
	}
	if _, err := ir.Parse(out); err != nil {
		t.Errorf("printed IR does not parse: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
	}
	sort.Strings(files)
	want := []string{"00-input.ir", "01-fold.ir", "02-canonicalize.ir", "03-cse.ir", "04-dce.ir", "05-fuse-layernorm.ir",
		"06-fuse-rmsnorm.ir", "07-fuse-hc-coeffs.ir", "08-fuse-sinkhorn.ir", "09-fuse-hc-read.ir", "10-fuse-hc-write.ir",
		"11-fuse-qkv.ir", "12-fuse-attention.ir", "13-fuse-cross-entropy.ir", "14-fuse-moe.ir", "15-fuse-gelu.ir", "16-fuse-silu.ir"}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Fatalf("dump files %v, want %v", files, want)
	}
	for i, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		m, err := ir.Parse(text)
		if err != nil {
			t.Fatalf("%s does not parse: %v", f, err)
		}
		// The header says how to reproduce exactly this file.
		var wantRepro string
		if i == 0 {
			wantRepro = "# reproduce: mhcc ir models/v.mhc -O0\n"
		} else {
			wantRepro = "# reproduce: mhcc ir models/v.mhc --passes=" + strings.Join(PassNames()[:i], ",") + "\n"
		}
		if !strings.Contains(text, wantRepro) {
			t.Errorf("%s header lacks %q:\n%.200s", f, wantRepro, text)
		}
		// Reproducing it gives the same IR.
		var opts Options
		if i > 0 {
			opts.Passes = PassNames()[:i]
		}
		if got := compileAt(t, "v", src, opts).Module.String(); got != m.String() {
			t.Errorf("%s: reproducing with %v gives other IR", f, opts.Passes)
		}
	}
	if last := filepath.Join(dir, want[len(want)-1]); true {
		b, _ := os.ReadFile(last)
		if !strings.HasSuffix(string(b), res.Module.String()) {
			t.Errorf("the last dump is not the final IR")
		}
	}
}

func TestStatsString(t *testing.T) {
	res := compileAt(t, "tiny", examples(t)["tiny.mhc"], Options{Level: O2})
	s := res.Stats.String()
	for _, want := range []string{"cse: 38 merged\n", "dce: no change\n", "fuse-sinkhorn: 8 fused, 160 iterations\n",
		"fuse-qkv: 4 fused, 12 matmuls\n", "values: 1234 in, 224 out\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("stats lack %q:\n%s", want, s)
		}
	}
}
