package lang

import (
	"fmt"
	"math"
	"strings"
)

// This file is the schema: one table, in Go data, of every statement the
// language has. The checker validates files against it, and the docs,
// `mhcc explain` and (later) editor completion read it. A new statement
// starts here.

// Where is a set of places a statement may appear.
type Where uint8

// Places a statement may appear.
const (
	TopLevel  Where = 1 << iota // the file itself
	InModel                     // `model NAME { ... }`
	InTrain                     // `train { ... }`
	InRepeat                    // `repeat N { ... }`
	InBlock                     // `block NAME { ... }`
	InLayer                     // `layer { ... }`
	InAnyBody = InModel | InTrain | InRepeat | InBlock | InLayer
)

// String names the places, such as "`model` or `repeat`".
func (w Where) String() string {
	var names []string
	for _, x := range []struct {
		w    Where
		name string
	}{{TopLevel, "the top level"}, {InModel, "`model`"}, {InTrain, "`train`"}, {InRepeat, "`repeat`"}, {InBlock, "`block`"}, {InLayer, "`layer`"}} {
		if w&x.w != 0 {
			names = append(names, x.name)
		}
	}
	return joinOr(names)
}

// Type is the type of an attribute or label value.
type Type int

// Value types.
const (
	TypeInt       Type = iota // integer, may be a `let` name or arithmetic
	TypeFloat                 // number; integers are accepted
	TypeString                // double-quoted string
	TypeBool                  // `true` or `false`
	TypeEnum                  // one of the spec's Values, written bare
	TypeName                  // any bare identifier (block and model names)
	TypeFloatPair             // `[a, b]`
	TypeNormal                // `normal(STD)`
	TypeFloatList             // `[a, b, ...]`: one or more numbers
)

// String describes the type for messages: "an integer", "a number", ...
func (t Type) String() string {
	switch t {
	case TypeInt:
		return "an integer"
	case TypeFloat:
		return "a number"
	case TypeString:
		return "a string"
	case TypeBool:
		return "`true` or `false`"
	case TypeEnum:
		return "a keyword"
	case TypeName:
		return "a name"
	case TypeFloatPair:
		return "a list of two numbers"
	case TypeNormal:
		return "`normal(STD)`"
	case TypeFloatList:
		return "a list of numbers"
	}
	return "a value"
}

// Range is an inclusive or exclusive bound on a numeric value. The zero
// Range allows everything.
type Range struct {
	Min, Max         float64
	HasMin, HasMax   bool
	MinOpen, MaxOpen bool // exclusive bounds
}

// atLeast, greaterThan, between, ... build Ranges for the table.
func atLeast(x float64) Range     { return Range{Min: x, HasMin: true} }
func greaterThan(x float64) Range { return Range{Min: x, HasMin: true, MinOpen: true} }
func between(a, b float64) Range  { return Range{Min: a, Max: b, HasMin: true, HasMax: true} }
func openBetween(a, b float64) Range {
	return Range{Min: a, Max: b, HasMin: true, HasMax: true, MinOpen: true, MaxOpen: true}
}

// Contains reports whether x satisfies the range.
func (r Range) Contains(x float64) bool {
	if math.IsNaN(x) {
		return false
	}
	if r.HasMin && (x < r.Min || (r.MinOpen && x == r.Min)) {
		return false
	}
	if r.HasMax && (x > r.Max || (r.MaxOpen && x == r.Max)) {
		return false
	}
	return true
}

// String describes the range: "between 1 and 1000", "at least 1",
// "greater than 0", "between 0 and 1 (exclusive)". It is "" for no bound.
func (r Range) String() string {
	f := func(x float64) string { return formatFloat(x) }
	switch {
	case r.HasMin && r.HasMax && !r.MinOpen && !r.MaxOpen:
		return fmt.Sprintf("between %s and %s", f(r.Min), f(r.Max))
	case r.HasMin && r.HasMax && r.MinOpen && r.MaxOpen:
		return fmt.Sprintf("between %s and %s (exclusive)", f(r.Min), f(r.Max))
	case r.HasMin && r.HasMax:
		lo, hi := "≥ "+f(r.Min), "≤ "+f(r.Max)
		if r.MinOpen {
			lo = "> " + f(r.Min)
		}
		if r.MaxOpen {
			hi = "< " + f(r.Max)
		}
		return lo + " and " + hi
	case r.HasMin && r.MinOpen:
		return "greater than " + f(r.Min)
	case r.HasMin:
		return "at least " + f(r.Min)
	case r.HasMax && r.MaxOpen:
		return "less than " + f(r.Max)
	case r.HasMax:
		return "at most " + f(r.Max)
	}
	return ""
}

// AttrSpec describes one `key=value` attribute of a statement.
type AttrSpec struct {
	Name     string
	Type     Type
	Values   []string // TypeEnum: the accepted words
	Range    Range    // numeric types: the accepted values
	Default  string   // as written in the language; "" when Required or no default
	Required bool
	// Kinds limits the attribute to these statement kinds (the label
	// value, such as `hyper` for `residual`); empty means every kind.
	Kinds []string
	Doc   string
	// DefaultDoc describes a default that is computed from other settings
	// (Default is then ""), such as "the `eval` interval".
	DefaultDoc string
	// Neutral marks a setting that does not change the function a trained
	// model computes (initialisation, a memory-for-time trade-off, the
	// training length of the sequence): checkpoints of programs that
	// differ only in neutral settings are interchangeable.
	Neutral bool
}

// LabelSpec describes one positional label after a keyword.
type LabelSpec struct {
	Name   string   // placeholder for docs: NAME, N, KIND
	Type   Type     // TypeName, TypeInt or TypeEnum
	Values []string // TypeEnum: the accepted words
	Range  Range    // TypeInt: the accepted values
	// Default is the value when the label, or the whole statement, is
	// left out.
	Default string
	// Required labels must be written whenever the statement is.
	Required bool
	Doc      string
	// Neutral marks a setting that does not change the function a trained
	// model computes (initialisation, a memory-for-time trade-off, the
	// training length of the sequence): checkpoints of programs that
	// differ only in neutral settings are interchangeable.
	Neutral bool
}

// StatementSpec describes one statement kind.
type StatementSpec struct {
	Keyword string
	In      Where       // where it may appear
	Labels  []LabelSpec // positional, all optional after the first optional one
	Attrs   []AttrSpec
	Body    bool // takes a `{ ... }` body
	Once    bool // at most once per enclosing body
	// Required statements must appear (once) in each body listed in In.
	Required bool
	Example  string // a complete example, used in help lines
	Doc      string
}

// Attr returns the spec of the named attribute, or nil.
func (s *StatementSpec) Attr(name string) *AttrSpec {
	for i := range s.Attrs {
		if s.Attrs[i].Name == name {
			return &s.Attrs[i]
		}
	}
	return nil
}

// AttrNames lists the attribute names in table order.
func (s *StatementSpec) AttrNames() []string {
	var names []string
	for _, a := range s.Attrs {
		names = append(names, a.Name)
	}
	return names
}

// Usage returns a one-line synopsis such as
// "norm rms [eps=F]".
func (s *StatementSpec) Usage() string {
	parts := []string{s.Keyword}
	if s.Keyword == "let" {
		return "let NAME = VALUE"
	}
	for _, l := range s.Labels {
		x := l.Name
		if l.Type == TypeEnum {
			x = strings.Join(l.Values, "|")
		}
		if !l.Required {
			x = "[" + x + "]"
		}
		parts = append(parts, x)
	}
	for _, a := range s.Attrs {
		x := a.Name + "=" + placeholder(a)
		if !a.Required || len(a.Kinds) > 0 { // required for some kinds only
			x = "[" + x + "]"
		}
		parts = append(parts, x)
	}
	if s.Body {
		parts = append(parts, "{ ... }")
	}
	return strings.Join(parts, " ")
}

func placeholder(a AttrSpec) string {
	switch a.Type {
	case TypeInt:
		return "N"
	case TypeFloat:
		return "F"
	case TypeString:
		return `"..."`
	case TypeBool:
		return "true|false"
	case TypeEnum:
		return strings.Join(a.Values, "|")
	case TypeFloatPair:
		return "[F, F]"
	case TypeNormal:
		return "normal(F)"
	case TypeFloatList:
		return "[F, ...]"
	}
	return "X"
}

// Kinds of the statements whose label selects a kind.
const (
	kindHyper = "hyper"
)

// Schema lists every statement kind. Statements with the same keyword in
// different places (such as the `norm` of a block and the final `norm`)
// share one entry.
var Schema = []StatementSpec{
	{
		Keyword: "model", In: TopLevel, Body: true, Once: true, Required: true,
		Labels:  []LabelSpec{{Name: "NAME", Type: TypeName, Required: true, Doc: "the model's name"}},
		Example: "model tiny { ... }",
		Doc:     "the network: embedding, residual stream, blocks, final norm and head",
	},
	{
		Keyword: "train", In: TopLevel, Body: true, Once: true,
		Example: "train { ... }",
		Doc:     "training settings; every one has a default, so the block is optional",
	},
	{
		Keyword: "let", In: TopLevel | InAnyBody,
		Example: "let d = 128",
		Doc:     "names a value for the rest of the enclosing block, e.g. `let d = 128` then `hidden=4*d`",
	},
	{
		Keyword: "vocab", In: InModel, Once: true, Required: true,
		Labels:  []LabelSpec{{Name: "N", Type: TypeInt, Required: true, Range: between(1, 1<<20), Doc: "vocabulary size"}},
		Example: "vocab 256",
		Doc:     "vocabulary size (256 for bytes)",
	},
	{
		Keyword: "context", In: InModel, Once: true, Required: true,
		Labels:  []LabelSpec{{Name: "N", Type: TypeInt, Required: true, Range: between(1, 1<<20), Doc: "sequence length", Neutral: true}},
		Example: "context 128",
		Doc:     "the training sequence length T",
	},
	{
		Keyword: "embed", In: InModel, Once: true, Required: true,
		Attrs: []AttrSpec{
			{Name: "dim", Type: TypeInt, Required: true, Range: between(1, 1<<16), Doc: "model width d"},
			{Name: "init", Type: TypeNormal, Default: "normal(0.02)", Range: atLeast(0), Doc: "initialisation of the embedding table", Neutral: true},
		},
		Example: "embed dim=128",
		Doc:     "token embedding of width d",
	},
	{
		Keyword: "residual", In: InModel, Once: true,
		Labels: []LabelSpec{{Name: "KIND", Type: TypeEnum, Values: []string{"plain", kindHyper}, Default: kindHyper,
			Doc: "`plain` for x + F(norm(x)); `hyper` (the default when left out) for hyper-connections"}},
		Attrs: []AttrSpec{
			{Name: "streams", Type: TypeInt, Default: "4", Range: between(1, 1024), Kinds: []string{kindHyper}, Doc: "number of residual streams n"},
			{Name: "constraint", Type: TypeEnum, Values: []string{ConstraintBirkhoff, ConstraintStochastic, ConstraintPermutations, ConstraintNone, ConstraintIdentity}, Default: ConstraintBirkhoff, Kinds: []string{kindHyper},
				Doc: "the manifold of H_res: `birkhoff` doubly stochastic by Sinkhorn-Knopp (mHC); `stochastic` rows sum to 1 by softmax; `permutations` a learned convex combination of the n! permutation matrices (n ≤ 5); `none` unconstrained dynamic hyper-connections (HC); `identity` fixed, no parameters"},
			{Name: "dynamic", Type: TypeBool, Default: "true", Kinds: []string{kindHyper},
				Doc: "input-dependent coefficients; `false` keeps only the learned static part (mHC's bias, HC's A_m, A_r, B)"},
			{Name: "sinkhorn", Type: TypeInt, Default: "20", Range: between(1, 1000), Kinds: []string{kindHyper}, Doc: "Sinkhorn-Knopp iterations of `constraint=birkhoff`"},
			{Name: "init", Type: TypeEnum, Values: []string{InitResidual, InitUniform}, Default: InitResidual, Kinds: []string{kindHyper}, Neutral: true, Doc: "initial mixing: `residual` starts as a plain residual, `uniform` mixes all streams"},
			{Name: "alpha", Type: TypeFloat, Default: "0.01", Range: atLeast(0), Kinds: []string{kindHyper}, Neutral: true,
				Doc: "initial gating factors: α_pre = α_post = α_res (mHC), s_α = s_β (HC), α_head (`collapse=learned`)"},
			{Name: "phi_std", Type: TypeFloat, Default: "0.02", Range: atLeast(0), Kinds: []string{kindHyper}, Neutral: true, Doc: "std of the normal init of phi (mHC coefficients and the learned collapse)"},
			{Name: "collapse", Type: TypeEnum, Values: []string{CollapseSum, CollapseMean, CollapseLearned}, Default: CollapseSum, Kinds: []string{kindHyper},
				Doc: "how the streams are combined before the final norm: `sum`, `mean`, or `learned` (DeepSeek's pre-only head: a weighted sum with dynamic weights)"},
			{Name: "recompute", Type: TypeBool, Default: "false", Kinds: []string{kindHyper}, Neutral: true,
				Doc: "recompute the stream tensors in the backward pass instead of keeping them: one every S sublayers is stored (S ≈ √L for L hyper-connected sublayers, chosen to keep the fewest), the others are rebuilt from it with the write-and-mix kernel; bit-identical values, less memory (at -O2, where the hyper-connection ops are fused; not with `constraint=identity`, the compiler warns)"},
		},
		Example: "residual streams=4 constraint=birkhoff",
		Doc:     "the residual stream: plain, or n hyper-connected streams (default plain when the statement is absent)",
	},
	{
		Keyword: "repeat", In: InModel | InRepeat, Body: true,
		Labels:  []LabelSpec{{Name: "N", Type: TypeInt, Required: true, Range: between(1, 4096), Doc: "number of repetitions"}},
		Example: "repeat 4 { ... }",
		Doc:     "repeats its blocks N times; each iteration is one layer",
	},
	{
		Keyword: "layer", In: InModel | InRepeat, Body: true,
		Example: "layer { block attn { ... }; block mlp { ... } }",
		Doc:     "one layer: its blocks share one layer number in their parameter paths, such as a leading dense layer before a `repeat` of other layers (the same as `repeat 1`)",
	},
	{
		Keyword: "block", In: InModel | InRepeat | InLayer, Body: true,
		Labels:  []LabelSpec{{Name: "NAME", Type: TypeName, Required: true, Doc: "sublayer name, part of the parameter path"}},
		Example: "block attn { norm rms; attention heads=4 }",
		Doc:     "one hyper-connected sublayer: a norm and an attention, an MLP or a mixture of experts",
	},
	{
		Keyword: "norm", In: InModel | InBlock, Once: true,
		Labels: []LabelSpec{{Name: "KIND", Type: TypeEnum, Values: []string{NormRMS, NormLayer}, Default: NormRMS,
			Doc: "`rms`: x / sqrt(mean(x²) + eps) · g; `layer`: LayerNorm, (x − mean(x)) / sqrt(var(x) + eps) · g + b"}},
		Attrs: []AttrSpec{
			{Name: "eps", Type: TypeFloat, Default: "1e-6", Range: greaterThan(0), Doc: "added to the mean square (`rms`) or the variance (`layer`)"},
		},
		Example: "norm rms",
		Doc:     "normalisation over the model width with a learned gain (and, for `layer`, a learned bias): in a block before its layer, in the model after the last block (default `norm rms`)",
	},
	{
		Keyword: "attention", In: InBlock, Once: true,
		Labels: []LabelSpec{{Name: "KIND", Type: TypeEnum, Values: []string{AttentionMHA, AttentionMLA}, Default: AttentionMHA,
			Doc: "`mha`: query, key and value projections per head (multi-head, grouped-query or multi-query attention); `mla`: multi-head latent attention (DeepSeek-V2/V3), keys and values decompressed from one low-rank latent per token, with a rotary key part shared by the heads"}},
		Attrs: []AttrSpec{
			{Name: "heads", Type: TypeInt, Required: true, Range: between(1, 4096), Doc: "number of query heads; must divide dim unless `head_dim` is set"},
			{Name: "kv_heads", Type: TypeInt, Default: "0", Range: between(0, 4096), Kinds: []string{AttentionMHA},
				Doc: "number of key/value heads, each shared by heads / kv_heads query heads (grouped-query attention; 1 is multi-query attention); must divide `heads`; 0 = `heads` (multi-head attention)"},
			{Name: "head_dim", Type: TypeInt, Default: "0", Range: between(0, 1<<16),
				Doc: "width of each head; the projections map dim → heads·head_dim (kv_heads·head_dim for keys and values) and back; for `mla` the width of a value head and of the part of a query and key head without RoPE; 0 = dim / heads"},
			{Name: "qk_norm", Type: TypeBool, Default: "false", Kinds: []string{AttentionMHA},
				Doc: "RMSNorm of each query and key head over head_dim, before RoPE, with a learned gain per head dimension shared by the heads (`q_norm`, `k_norm`) and the eps of the block's `norm`"},
			{Name: "kv_rank", Type: TypeInt, Required: true, Range: between(1, 1<<16), Kinds: []string{AttentionMLA},
				Doc: "width of the key/value latent, the one vector per token (with the rotary key) that decoding caches; RMS-normalised (`kv_norm`), then decompressed into every head's key and value"},
			{Name: "q_rank", Type: TypeInt, Default: "0", Range: between(0, 1<<16), Kinds: []string{AttentionMLA},
				Doc: "width of the query latent (RMS-normalised, `q_norm`); 0 = queries projected from the input directly"},
			{Name: "rope_dim", Type: TypeInt, Default: "0", Range: between(0, 1<<16), Kinds: []string{AttentionMLA},
				Doc: "width of the rotary part of every query and key head (even: RoPE rotates pairs); the rotary key is one per token, shared by the heads; needs `rope=true`; 0 = head_dim / 2"},
			{Name: "rope", Type: TypeBool, Default: "true", Doc: "rotary position embedding"},
			{Name: "rope_base", Type: TypeFloat, Default: "10000", Range: greaterThan(0), Doc: "RoPE frequency base"},
		},
		Example: "attention heads=4",
		Doc:     "causal self-attention: multi-head, grouped-query (`kv_heads`), multi-query (`kv_heads=1`), or multi-head latent attention (`attention mla`)",
	},
	{
		Keyword: "mlp", In: InBlock, Once: true,
		Attrs: []AttrSpec{
			{Name: "hidden", Type: TypeInt, Required: true, Range: between(1, 1<<20), Doc: "hidden width (of the gated product for `swiglu` and `geglu`)"},
			{Name: "act", Type: TypeEnum, Values: []string{ActGELU, ActReLU, ActSiLU, ActSwiGLU, ActGeGLU}, Default: ActGELU,
				Doc: "activation (gelu: tanh approximation; silu: x·σ(x)); `swiglu` and `geglu` are gated: (silu or gelu of u·w1) ⊙ (u·w3), then ·w2"},
		},
		Example: "mlp hidden=512",
		Doc:     "feed-forward network: act(u·w1)·w2, or with a gated activation (act(u·w1) ⊙ (u·w3))·w2",
	},
	moeSpec, // moe.go
	{
		Keyword: "head", In: InModel, Once: true,
		Labels: []LabelSpec{{Name: "KIND", Type: TypeEnum, Values: []string{"tied", "untied"}, Default: "tied", Required: true, Doc: "`tied` reuses the embedding matrix"}},
		Attrs: []AttrSpec{
			{Name: "init", Type: TypeNormal, Range: atLeast(0), Kinds: []string{"untied"}, Neutral: true, DefaultDoc: "the `embed` init",
				Doc: "initialisation of the output matrix `head.weight` [dim, vocab]; by default the embedding's, so that untying changes nothing else"},
		},
		Example: "head tied",
		Doc:     "the output projection to the vocabulary (default `head tied`)",
	},
	{
		Keyword: "data", In: InTrain, Once: true,
		Labels: []LabelSpec{{Name: "KIND", Type: TypeEnum, Values: []string{DataSynthetic}, Default: DataSynthetic, Doc: "`synthetic` generated data; leave out with `file=`"}},
		Attrs: []AttrSpec{
			{Name: "task", Type: TypeEnum, Values: []string{"markov", "recall", "dyck"}, Default: "markov", Kinds: []string{DataSynthetic},
				Doc: "synthetic task: `markov` (a Markov chain whose entropy rate is the loss floor), `recall` (associative recall, needs attention) or `dyck` (nested brackets of 8 types: closing one needs finding the innermost open bracket; harder, separates ablation variants better)"},
			{Name: "file", Type: TypeString, Kinds: []string{DataFile}, Doc: "data file to train on, relative to the .mhc file"},
			{Name: "val", Type: TypeFloat, Default: "0.1", Range: openBetween(0, 1), Kinds: []string{DataFile}, Doc: "held-out fraction (the tail of the file)"},
			{Name: "format", Type: TypeEnum, Values: []string{DataFormatAuto, DataFormatText, DataFormatBin}, Default: DataFormatAuto, Kinds: []string{DataFile},
				Doc: "`text` (bytes are tokens, vocabulary 256), `bin` (little-endian uint16 tokens) or `auto` (`bin` for a .bin file, else `text`)"},
			{Name: "vocab", Type: TypeInt, Default: "0", Range: between(0, 65536), Kinds: []string{DataFile}, Doc: "declared vocabulary of a token file, at most the model's; 0 = the model's"},
			{Name: "sampling", Type: TypeEnum, Values: []string{SamplingRandom, SamplingSequential}, Default: SamplingRandom, Kinds: []string{DataFile},
				Doc: "training windows at `random` offsets, or `sequential` non-overlapping windows in file order"},
		},
		Example: `data file="input.txt"`,
		Doc:     "training data: `data synthetic task=markov|recall` (default `markov`) or `data file=\"path\" [format=text|bin] [vocab=N] [sampling=random|sequential]`",
	},
	{
		Keyword: "batch", In: InTrain, Once: true,
		Labels:  []LabelSpec{{Name: "N", Type: TypeInt, Required: true, Range: between(1, 1<<16), Default: "16", Doc: "sequences per step"}},
		Example: "batch 16", Doc: "batch size B (default 16)",
	},
	{
		Keyword: "steps", In: InTrain, Once: true,
		Labels:  []LabelSpec{{Name: "N", Type: TypeInt, Required: true, Range: between(1, 1<<40), Default: "1000", Doc: "optimizer steps"}},
		Example: "steps 1000", Doc: "number of training steps (default 1000)",
	},
	{
		Keyword: "optimizer", In: InTrain, Once: true,
		Labels: []LabelSpec{{Name: "KIND", Type: TypeEnum, Values: []string{OptimizerAdamW, OptimizerSGD}, Default: OptimizerAdamW,
			Doc: "`adamw` (decoupled weight decay) or `sgd` (PyTorch semantics, for parity checks)"}},
		Attrs: []AttrSpec{
			{Name: "lr", Type: TypeFloat, Default: "3e-3", Range: greaterThan(0), Doc: "peak learning rate"},
			{Name: "betas", Type: TypeFloatPair, Default: "[0.9, 0.95]", Range: Range{Min: 0, Max: 1, HasMin: true, HasMax: true, MaxOpen: true}, Kinds: []string{OptimizerAdamW}, Doc: "Adam β1, β2"},
			{Name: "eps", Type: TypeFloat, Default: "1e-8", Range: greaterThan(0), Kinds: []string{OptimizerAdamW}, Doc: "Adam ε"},
			{Name: "moments", Type: TypeEnum, Values: []string{MomentsF32, MomentsF64}, Default: MomentsF32, Kinds: []string{OptimizerAdamW},
				Doc: "precision of Adam's two moments: `f32` (8 bytes per parameter, as PyTorch keeps them) or `f64` (16 bytes); the update itself is computed in float64 either way"},
			{Name: "momentum", Type: TypeFloat, Default: "0", Range: Range{Min: 0, Max: 1, HasMin: true, HasMax: true, MaxOpen: true}, Kinds: []string{OptimizerSGD}, Doc: "SGD momentum μ, 0 = plain gradient descent"},
			{Name: "weight_decay", Type: TypeFloat, Default: "0.1", Range: atLeast(0), Doc: "weight decay (decoupled for AdamW, added to the gradient for SGD)"},
			{Name: "clip", Type: TypeFloat, Default: "1.0", Range: atLeast(0), Doc: "global gradient-norm clip, 0 = off"},
			{Name: "accumulate", Type: TypeInt, Default: "1", Range: between(1, 1<<16), Doc: "micro-batches whose mean gradient makes one step (gradient accumulation)"},
		},
		Example: "optimizer adamw lr=3e-3", Doc: "the optimizer (default `optimizer adamw`)",
	},
	{
		Keyword: "schedule", In: InTrain, Once: true,
		Labels: []LabelSpec{{Name: "KIND", Type: TypeEnum, Values: []string{ScheduleCosine, ScheduleConstant, ScheduleStep}, Default: ScheduleCosine,
			Doc: "`cosine` (to `min_lr`), `constant`, or `step` (the mHC paper's decay: ×0.316 from 80% of training, ×0.1 from 90%)"}},
		Attrs: []AttrSpec{
			{Name: "warmup", Type: TypeInt, Default: "0", Range: atLeast(0), Doc: "linear warmup steps"},
			{Name: "min_lr", Type: TypeFloat, Default: "0.1", Range: between(0, 1), Kinds: []string{ScheduleCosine}, Doc: "cosine floor as a fraction of lr"},
			{Name: "milestones", Type: TypeFloatList, Default: "[0.8, 0.9]", Range: Range{Min: 0, Max: 1, HasMin: true, HasMax: true, MinOpen: true}, Kinds: []string{ScheduleStep},
				Doc: "fractions of training, ascending, at which the rate drops"},
			{Name: "factors", Type: TypeFloatList, Default: "[0.316, 0.1]", Range: atLeast(0), Kinds: []string{ScheduleStep},
				Doc: "the rate from each milestone on, as a fraction of lr (not cumulative); one per milestone"},
		},
		Example: "schedule cosine warmup=100", Doc: "learning-rate schedule (default `schedule cosine`)",
	},
	{
		Keyword: "eval", In: InTrain, Once: true,
		Attrs: []AttrSpec{
			{Name: "every", Type: TypeInt, Default: "100", Range: atLeast(0), Doc: "steps between evaluations, 0 = off"},
			{Name: "batches", Type: TypeInt, Default: "10", Range: between(1, 1<<16), Doc: "validation batches per evaluation (generated as evaluated: their number costs time, not memory)"},
		},
		Example: "eval every=100 batches=10", Doc: "periodic validation loss",
	},
	{
		Keyword: "checkpoint", In: InTrain, Once: true,
		Attrs: []AttrSpec{
			{Name: "every", Type: TypeInt, Default: "500", Range: atLeast(0), Doc: "steps between checkpoints, 0 = only at the end and on interruption"},
			{Name: "keep", Type: TypeInt, Default: "3", Range: atLeast(0), Doc: "how many of the newest checkpoints to keep, 0 = all"},
		},
		Example: "checkpoint every=500 keep=3", Doc: "periodic checkpoints in the run folder (a final one is always written)",
	},
	{
		Keyword: "log", In: InTrain, Once: true,
		Attrs: []AttrSpec{
			{Name: "every", Type: TypeInt, Default: "10", Range: atLeast(1), Doc: "steps between log lines"},
		},
		Example: "log every=10", Doc: "training log frequency",
	},
	{
		Keyword: "diagnostics", In: InTrain, Once: true,
		Attrs: []AttrSpec{
			{Name: "every", Type: TypeInt, Range: atLeast(0), DefaultDoc: "the `eval` interval", Doc: "steps between diagnostics, 0 = off"},
		},
		Example: "diagnostics every=100",
		Doc:     "stability diagnostics of the hyper-connections in metrics.jsonl: Amax gains of each H_res and of their composite, means of H_pre and H_post, the Sinkhorn residual",
	},
	{
		Keyword: "seed", In: InTrain, Once: true,
		Labels:  []LabelSpec{{Name: "N", Type: TypeInt, Required: true, Range: atLeast(0), Default: "1337", Doc: "random seed"}},
		Example: "seed 1337", Doc: "random seed for initialisation and data (default 1337)",
	},
}

// Lookup returns the spec for keyword, or nil.
func Lookup(keyword string) *StatementSpec {
	for i := range Schema {
		if Schema[i].Keyword == keyword {
			return &Schema[i]
		}
	}
	return nil
}

// isEnumWord reports whether s is a keyword value of some label or
// attribute, such as `birkhoff` or `rms`.
func isEnumWord(s string) bool {
	for _, st := range Schema {
		for _, l := range st.Labels {
			if contains(l.Values, s) {
				return true
			}
		}
		for _, a := range st.Attrs {
			if contains(a.Values, s) {
				return true
			}
		}
	}
	return false
}

// keywordsIn lists the keywords allowed in w, in table order.
func keywordsIn(w Where) []string {
	var out []string
	for _, s := range Schema {
		if s.In&w != 0 {
			out = append(out, s.Keyword)
		}
	}
	return out
}

func joinOr(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
