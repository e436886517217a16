package lang

// This file defines the checked, fully resolved program that lang.Check
// produces from a parsed file. Every default has been filled in, every
// `let` and arithmetic expression evaluated and every `repeat` unrolled, so
// the compiler never has to look at syntax. Positions point back at the
// statement (or attribute) that decided each value, for IR positions and
// diagnostics found later. A value that was not written (a default) points
// at the enclosing statement: a block's default norm at the `block`, a
// missing `residual`, final `norm` or `head` at `model`, a missing train
// statement at `train`, and a missing `train` block at `model`.

// Program is a checked .mhc file.
type Program struct {
	// File is the file name as given on the command line.
	File  string
	Model Model
	Train Train
	// Settings is the resolved configuration, one value per line of
	// `mhcc explain`, with where each value came from.
	Settings []Setting
}

// Model is the resolved `model NAME { ... }` block.
type Model struct {
	Name    string
	Pos     Pos
	Vocab   int // `vocab N`
	Context int // `context N`: the training sequence length T
	Embed   Embed
	// Residual is the `residual` statement (default: plain).
	Residual Residual
	// Blocks are the hyper-connected sublayers in execution order, with
	// every `repeat` unrolled.
	Blocks    []Block
	FinalNorm Norm // the `norm` statement after the blocks
	Head      Head
}

// Embed is `embed dim=D [init=normal(S)]`.
type Embed struct {
	Dim     int
	InitStd float64 // default 0.02
	Pos     Pos
}

// Residual kinds.
const (
	ResidualPlain = "plain" // `residual plain`: x ← x + F(norm(x))
	ResidualHyper = "hyper" // `residual streams=N ...`: hyper-connections
)

// Residual constraints on H_res.
const (
	ConstraintBirkhoff = "birkhoff" // mHC: Sinkhorn-Knopp onto doubly stochastic matrices
	// ConstraintStochastic: rows sum to 1 by a softmax over each row;
	// columns are free (mhcc).
	ConstraintStochastic = "stochastic"
	// ConstraintPermutations: a convex combination of the n! permutation
	// matrices, weights = softmax of n! logits; exactly doubly stochastic,
	// n ≤ 5 (mhcc).
	ConstraintPermutations = "permutations"
	// ConstraintNone: the dynamic hyper-connections of the HC paper, no
	// constraint on H_res (docs/hyperconnections.md §4).
	ConstraintNone     = "none"
	ConstraintIdentity = "identity" // fixed H_pre = e_home, H_post = 1, H_res = I; no parameters
)

// Initialisations of the hyper-connection coefficients (`init=`).
const (
	InitResidual = "residual" // start as a plain residual: read the home stream, keep every stream
	InitUniform  = "uniform"  // start with maximal mixing
)

// Collapses of the streams before the final norm (`collapse=`).
const (
	CollapseSum     = "sum"     // h = Σ_i X_i
	CollapseMean    = "mean"    // h = (1/n) Σ_i X_i
	CollapseLearned = "learned" // DeepSeek's pre-only head: h = Σ_i (σ(...)_i + 1e-6)·X_i
)

// Residual is the resolved `residual` statement. For ResidualPlain only
// Kind, Streams (1) and Pos are set.
type Residual struct {
	Kind    string // ResidualPlain or ResidualHyper
	Streams int    // n; 1 for plain
	// Constraint is ConstraintBirkhoff, ConstraintStochastic,
	// ConstraintPermutations, ConstraintNone or ConstraintIdentity (hyper
	// only).
	Constraint string
	// Dynamic keeps the input-dependent part of the coefficients (default
	// true); false keeps only their learned static part.
	Dynamic  bool
	Sinkhorn int     // Sinkhorn-Knopp iterations t_max, default 20
	Init     string  // InitResidual (default) or InitUniform
	Alpha    float64 // initial α_pre = α_post = α_res (HC: s_α = s_β), default 0.01
	PhiStd   float64 // std of the normal init of phi, default 0.02
	Collapse string  // CollapseSum (default), CollapseMean or CollapseLearned
	// Recompute drops the stream tensors after the forward pass and
	// recomputes them in the backward pass (`recompute=true`).
	Recompute bool
	Pos       Pos
}

// Block is one sublayer: `block NAME { norm ...; attention ... | mlp ... | moe ... }`.
type Block struct {
	// Path is the parameter prefix, "blocks.<layer>.<name>".
	Path string
	// Layer is the index of the enclosing repeat iteration (or of the
	// block itself when it stands outside any repeat).
	Layer int
	// Index is the sublayer number k (0, 1, 2, ... in execution order),
	// which selects the home stream k mod n.
	Index     int
	Name      string
	Norm      Norm
	Attention *Attention // exactly one of Attention, MLP and MoE is set
	MLP       *MLP
	MoE       *MoE // moe.go
	Pos       Pos
}

// Norm kinds.
const (
	NormRMS   = "rms"   // RMSNorm: x / sqrt(mean(x²) + eps) · g
	NormLayer = "layer" // LayerNorm: (x − mean(x)) / sqrt(var(x) + eps) · g + b
)

// Norm is `norm rms|layer [eps=E]`.
type Norm struct {
	Kind string  // NormRMS (default) or NormLayer
	Eps  float64 // default 1e-6
	Pos  Pos
}

// Attention kinds (the label of `attention`).
const (
	// AttentionMHA is multi-head attention with key and value projections
	// of their own: multi-head, grouped-query or multi-query attention
	// (KVHeads).
	AttentionMHA = "mha"
	// AttentionMLA is multi-head latent attention (DeepSeek-V2/V3): keys
	// and values are decompressed from a low-rank latent per token (KVRank)
	// with a rotary key part shared by the heads (RopeDim), and queries
	// optionally from a low-rank latent (QRank).
	AttentionMLA = "mla"
)

// Attention is `attention [mha|mla] heads=H [kv_heads=K] [head_dim=D]
// [qk_norm=true] [kv_rank=R] [q_rank=Q] [rope_dim=P] [rope=true]
// [rope_base=B]`: causal self-attention with query, key, value and output
// projections. For `mha`, K key/value heads are each shared by H/K query
// heads; for `mla`, keys and values come from a latent of width KVRank
// (docs/language.md#architecture).
type Attention struct {
	// Kind is AttentionMHA (the default) or AttentionMLA.
	Kind  string
	Heads int
	// KVHeads is the number of key/value heads, a divisor of Heads
	// (resolved: `kv_heads=0`, the default, is Heads; Heads for `mla`).
	KVHeads int
	// HeadDim is the width of a head (resolved: `head_dim=0`, the
	// default, is dim / Heads). For `mla` it is the width of a value
	// head and of the part of a query and key head without RoPE.
	HeadDim int
	// QKNorm normalises each query and key head (RMSNorm over HeadDim,
	// before RoPE; `mha` only).
	QKNorm bool
	// KVRank is the width of MLA's key/value latent; QRank that of its
	// query latent, 0 when the queries are not compressed; RopeDim the
	// width of the rotary part of every query and key head (resolved:
	// `rope_dim=0`, the default, is HeadDim / 2; 0 without RoPE). All 0
	// for `mha`.
	KVRank, QRank, RopeDim int
	Rope                   bool    // default true
	RopeBase               float64 // default 10000
	Pos                    Pos
}

// MLA reports whether the attention is multi-head latent attention.
func (a *Attention) MLA() bool { return a.Kind == AttentionMLA }

// MLP activations (`act=`).
const (
	ActGELU = "gelu" // GELU, tanh approximation (the default)
	ActReLU = "relu"
	ActSiLU = "silu" // x·σ(x)
	// ActSwiGLU and ActGeGLU are the gated FFNs
	// (act(u·w1) ⊙ (u·w3))·w2 with act SiLU and GELU.
	ActSwiGLU = "swiglu"
	ActGeGLU  = "geglu"
)

// MLP is `mlp hidden=H [act=gelu|relu|silu|swiglu|geglu]`.
type MLP struct {
	Hidden int
	Act    string // ActGELU (default), ActReLU, ActSiLU, ActSwiGLU or ActGeGLU
	Pos    Pos
}

// Gated reports whether the activation is a gated one (a third matrix
// w3).
func (m *MLP) Gated() bool { return m.Act == ActSwiGLU || m.Act == ActGeGLU }

// Head is `head tied|untied [init=normal(S)]`: the output projection to
// the vocabulary.
type Head struct {
	Tied bool
	// InitStd is the std of the normal init of an untied head's matrix
	// (default: the embedding's, Embed.InitStd); 0 for a tied head.
	InitStd float64
	Pos     Pos
}

// Train is the resolved `train { ... }` block. Every field has a default.
type Train struct {
	Data      Data
	Batch     int // `batch N`, default 16
	Steps     int // `steps N`, default 1000
	Optimizer Optimizer
	Schedule  Schedule
	Eval      Eval
	// Checkpoint is `checkpoint every=N keep=K`.
	Checkpoint Checkpoint
	Log        Log
	// Diagnostics is `diagnostics every=N`.
	Diagnostics HCDiagnostics
	Seed        int64 // `seed N`, default 1337
	Pos         Pos
}

// Data kinds.
const (
	DataSynthetic = "synthetic"
	DataFile      = "file"
)

// Data file formats (`data file=... format=`).
const (
	DataFormatAuto = "auto" // by extension: .bin is DataFormatBin, anything else DataFormatText
	DataFormatText = "text" // bytes are tokens, vocabulary 256
	DataFormatBin  = "bin"  // little-endian uint16 tokens
)

// Sampling modes of the training windows (`data file=... sampling=`).
const (
	SamplingRandom     = "random"     // windows at random offsets
	SamplingSequential = "sequential" // non-overlapping windows in file order
)

// Data is `data synthetic task=markov|recall` or
// `data file="path" [val=0.1] [format=auto|text|bin] [vocab=N] [sampling=random|sequential]`.
type Data struct {
	Kind string // DataSynthetic (default) or DataFile
	Task string // synthetic task, "markov" (default), "recall" or "dyck"
	// Path is the file path as written; relative paths are relative to the
	// .mhc file's directory.
	Path string
	// ValFraction is the held-out fraction (the tail of the file), default 0.1.
	ValFraction float64
	// Format is the file format: DataFormatAuto (default), DataFormatText
	// or DataFormatBin.
	Format string
	// Vocab is the declared vocabulary of a token file; 0 (default) means
	// the model's.
	Vocab int
	// Sampling is SamplingRandom (default, and always for synthetic data)
	// or SamplingSequential.
	Sampling string
	Pos      Pos
}

// Optimizer kinds.
const (
	OptimizerAdamW = "adamw"
	OptimizerSGD   = "sgd"
)

// Optimizer is `optimizer adamw lr=... betas=[b1, b2] eps=... weight_decay=... clip=... accumulate=...`
// or `optimizer sgd lr=... momentum=... weight_decay=... clip=... accumulate=...`.
type Optimizer struct {
	Kind     string  // OptimizerAdamW (default) or OptimizerSGD
	LR       float64 // default 3e-3
	Beta1    float64 // default 0.9 (adamw)
	Beta2    float64 // default 0.95 (adamw)
	Eps      float64 // default 1e-8 (adamw)
	Momentum float64 // SGD momentum, default 0 (sgd; 0 for adamw)
	// Moments is the precision AdamW keeps its moments in: MomentsF32
	// (default) or MomentsF64 ("" for sgd).
	Moments     string
	WeightDecay float64 // default 0.1
	Clip        float64 // global gradient-norm clip, 0 = off; default 1.0
	// Accumulate is the number of micro-batches whose mean gradient makes
	// one optimizer step, default 1 (no accumulation).
	Accumulate int
	Pos        Pos
}

// Precisions of AdamW's moments (`optimizer adamw moments=...`).
const (
	MomentsF32 = "f32"
	MomentsF64 = "f64"
)

// Schedule kinds.
const (
	ScheduleCosine   = "cosine"
	ScheduleConstant = "constant"
	ScheduleStep     = "step"
)

// Schedule is `schedule cosine|constant|step [warmup=N] [min_lr=F]
// [milestones=[...]] [factors=[...]]`.
type Schedule struct {
	Kind   string  // ScheduleCosine (default), ScheduleConstant or ScheduleStep
	Warmup int     // linear warmup steps, default 0
	MinLR  float64 // cosine floor as a fraction of lr, default 0.1
	// Milestones are the fractions of training, ascending in (0, 1], at
	// which a step schedule drops the rate; Factors (as long) are the rate
	// from each milestone on as a fraction of lr, absolute rather than
	// cumulative. Defaults: [0.8, 0.9] and [0.316, 0.1], the mHC paper's.
	// Both hold their defaults for the other kinds.
	Milestones []float64
	Factors    []float64
	Pos        Pos
}

// Eval is `eval every=N batches=K`: validation loss every N steps over K batches.
type Eval struct {
	Every   int // default 100; 0 disables periodic evaluation
	Batches int // default 10
	Pos     Pos
}

// Checkpoint is `checkpoint every=N keep=K`.
type Checkpoint struct {
	// Every is the number of steps between checkpoints, default 500; 0
	// writes one only at the end and on interruption.
	Every int
	// Keep is how many of the newest checkpoints are kept, default 3; 0
	// keeps all.
	Keep int
	Pos  Pos
}

// HCDiagnostics is `diagnostics every=N`: the hyper-connection stability
// diagnostics written to metrics.jsonl every N steps.
type HCDiagnostics struct {
	// Every is the interval in steps; when not written it is the eval
	// interval (Eval.Every). 0 turns the diagnostics off.
	Every int
	Pos   Pos
}

// Log is `log every=N`: one log line every N steps (default 10).
type Log struct {
	Every int
	Pos   Pos
}
