package compiler

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/mhcc/mhcc/ir"
	"github.com/mhcc/mhcc/lang"
)

// The analyses behind `mhcc summary`: parameter count, FLOPs per token and
// memory per training step, computed from IR types alone (no graph is
// built and no weight allocated, so a multi-billion-parameter
// configuration is as quick as a tiny one).
//
// FLOPs come from the op table's FLOPs rules (ir.ValueFLOPs; the
// conventions are in docs/ir.md): a fused op counts exactly what its
// decomposition counts, so the totals do not depend on the -O level except
// where cleanup really removes work; backward = 2 × forward (gradients with
// respect to both operands of every product; the usual estimate, total ≈ 6
// FLOPs per parameter and token for a dense model).
//
// FLOPs per token are those of one sequence of T = context tokens divided
// by T, so attention's T×T products are included at the training length.
//
// Memory per step, in bytes: parameters and gradients (one float32 each
// per parameter), the optimizer's state as backend/runtime/optim keeps it
// (AdamW: two float32 moments by default); activations are every computed
// IR value (all but params, inputs, consts and reshapes, which are views)
// at B = train batch and T = context, in float32: what a tape-based
// backend keeps for the backward pass — fusion lowers it because a fused
// op's intermediates are not kept — plus the hidden activations a fused
// op declares it keeps (ir.OpDef.Activations: the routed experts' x·W1ᵀ
// and x·W3ᵀ, which a dense FFN has as values). It is an upper bound on
// what the backward reads (a few values are read only by the forward,
// e.g. the projections before RoPE) and leaves out what fused kernels
// keep that a backward could recompute (attention's probabilities).

// LayerRow is one row of the layer table: the IR values attributed to one
// model path.
type LayerRow struct {
	// Path is the model path (a parameter prefix such as
	// "blocks.0.attn.hc", or "embed", "residual.expand", "norm", "head",
	// "loss").
	Path string `json:"path"`
	// Op lists the row's ops with the most FLOPs first (at most three).
	Op string `json:"op"`
	// Shape is the type of the row's last value, e.g. f32[B,T,4,128].
	Shape string `json:"output"`
	// Params counts the elements of the parameters declared in the row
	// (a tied parameter is declared, and counted, once).
	Params int64 `json:"params"`
	// FLOPs is the forward FLOPs per token.
	FLOPs float64 `json:"flops_per_token"`
	// Values is the number of IR values in the row.
	Values int `json:"ir_values"`

	flops   int64 // per sequence of T tokens
	opFLOPs map[string]int64
	opCount map[string]int
	opOrder []string
}

// Summary is the result of Analyze.
type Summary struct {
	Model  string `json:"model"`
	Source string `json:"source"`
	Level  string `json:"level"`
	// Batch and Context are the B and T the per-step numbers use.
	Batch   int        `json:"batch"`
	Context int        `json:"context"`
	Rows    []LayerRow `json:"layers"`
	// Params is the number of trainable scalars (each tensor once).
	Params int64 `json:"params"`
	// ParamTensors is the number of trainable parameter tensors.
	ParamTensors int `json:"param_tensors"`
	// ActiveParams counts the parameters one token is multiplied by, the
	// convention of the mHC and DeepSeek papers' "activated parameters"
	// (docs/moe.md, docs/paper.md): every trainable parameter, except that
	// of each mixture-of-experts sublayer's E routed experts only k count
	// (its router and shared experts count in full), and an untied
	// embedding table does not count, since its lookup reads one row and
	// multiplies by nothing; a tied table is the head's matrix and counts.
	// A dense model with a tied head has ActiveParams = Params.
	ActiveParams int64 `json:"active_params"`
	// InactiveExperts counts the routed experts' parameters one token
	// leaves idle (E − k of the E experts of every MoE sublayer).
	InactiveExperts int64 `json:"inactive_expert_params,omitempty"`
	// ActiveNonVocab is ActiveParams without the head's matrix: the active
	// parameters outside the vocabulary.
	ActiveNonVocab int64 `json:"active_params_without_vocab"`
	// VocabParams are the parameters of the vocabulary: the embedding and
	// an untied head (a tied head is the embedding, counted once).
	VocabParams int64 `json:"vocab_params"`
	TiedHead    bool  `json:"tied_head"`
	// Untrained counts the scalars of the parameters no gradient trains
	// (the experts' selection biases of balance=bias), which Params leaves
	// out; they take memory but no gradient or optimizer state.
	Untrained int64 `json:"untrained_params,omitempty"`
	// ForwardFLOPs and BackwardFLOPs are per token.
	ForwardFLOPs  float64 `json:"flops_per_token_forward"`
	BackwardFLOPs float64 `json:"flops_per_token_backward"`
	// ForwardFLOPsPerSequence is the exact forward count for one sequence
	// of Context tokens (ForwardFLOPs × Context).
	ForwardFLOPsPerSequence int64 `json:"flops_per_sequence_forward"`
	// Memory per training step, in bytes: parameters, gradients and
	// activations in float32, the optimizer state as backend/runtime/optim
	// keeps it (OptimizerState names it). With `recompute=true`
	// ActivationBytes leaves out RecomputedBytes: the stream tensors that
	// are recomputed in the backward pass instead of kept.
	ActivationBytes int64 `json:"activation_bytes"`
	RecomputedBytes int64 `json:"recomputed_bytes,omitempty"`
	ParamBytes      int64 `json:"param_bytes"`
	GradBytes       int64 `json:"grad_bytes"`
	OptimizerBytes  int64 `json:"optimizer_bytes"`
	// OptimizerState describes the optimizer state: "AdamW moments (2 ×
	// f32)", "AdamW moments (2 × f64)" or "SGD momentum (f64)".
	OptimizerState string `json:"optimizer_state"`
	// KVCacheBytes is what decoding caches per token over all attention
	// sublayers (float32), KVCachePerHeadBytes what a key and a value per
	// query head of the same widths would take (KVCacheBytes).
	KVCacheBytes        int64 `json:"kv_cache_bytes_per_token"`
	KVCachePerHeadBytes int64 `json:"kv_cache_per_head_bytes_per_token"`
	// IRValues is the number of values of the analysed module.
	IRValues int `json:"ir_values"`
}

// TotalBytes is the memory of one training step.
func (s *Summary) TotalBytes() int64 {
	return s.ActivationBytes + s.ParamBytes + s.GradBytes + s.OptimizerBytes
}

// Analyze computes the summary of module m compiled from program p (which
// names the layers and gives B and T) at the given level (for the report).
func Analyze(p *lang.Program, m *ir.Module, level string) (*Summary, error) {
	md := &p.Model
	B, T := p.Train.Batch, md.Context
	perSeq := map[string]int{SymBatch: 1, SymTime: T}
	perStep := map[string]int{SymBatch: B, SymTime: T}
	s := &Summary{Model: md.Name, Source: m.Source, Level: level, Batch: B, Context: T, IRValues: len(m.Values), TiedHead: md.Head.Tied}
	label := newLabeler(p, m)
	rows := map[string]*LayerRow{}
	var order []string // paths in order of first appearance
	paramSize := map[string]int64{}
	for i, v := range m.Values {
		path := label.at(i, v)
		r := rows[path]
		if r == nil {
			r = &LayerRow{Path: path, opFLOPs: map[string]int64{}, opCount: map[string]int{}}
			rows[path] = r
			order = append(order, path)
		}
		f, err := ir.ValueFLOPs(v, perSeq)
		if err != nil {
			return nil, err
		}
		r.flops += f
		if r.opCount[v.Op] == 0 {
			r.opOrder = append(r.opOrder, v.Op)
		}
		r.opCount[v.Op]++
		r.opFLOPs[v.Op] += f
		r.Values++
		r.Shape = v.Type.String()
		switch v.Op {
		case ir.OpParam:
			n, _ := v.Type.Shape.Size()
			if !ir.ParamTrainable(v) {
				s.Untrained += int64(n)
				break
			}
			r.Params += int64(n)
			s.Params += int64(n)
			s.ParamTensors++
			if isVocab(v.Param()) {
				s.VocabParams += int64(n)
			}
			paramSize[v.Param()] = int64(n)
		case ir.OpInput, ir.OpConst, ir.OpReshape: // a reshape is a view of its operand: no memory
		default:
			sh, err := v.Type.Shape.Resolve(perStep)
			if err != nil {
				return nil, err
			}
			s.ActivationBytes += 4 * numel(sh)
			hidden, err := ir.ValueActivations(v, perStep)
			if err != nil {
				return nil, err
			}
			s.ActivationBytes += 4 * hidden
		}
		s.ForwardFLOPsPerSequence += f
	}
	if S := m.RecomputeSegment; S > 0 {
		// the fused hc.write outputs X_1 … X_L; the inner L−1 are the
		// candidates (compiler.RecomputeKept)
		var writes []*ir.Value
		for _, v := range m.Values {
			if v.Op == ir.OpHCWrite {
				writes = append(writes, v)
			}
		}
		if L := len(writes); L > 1 {
			sh, err := writes[0].Type.Shape.Resolve(perStep)
			if err != nil {
				return nil, err
			}
			s.RecomputedBytes = int64(L-1-RecomputeKept(L, S)) * 4 * numel(sh)
			s.ActivationBytes -= s.RecomputedBytes
		}
	}
	for _, path := range order {
		r := rows[path]
		r.FLOPs = float64(r.flops) / float64(T)
		r.Op = r.describeOps()
		s.Rows = append(s.Rows, *r)
	}
	s.ForwardFLOPs = float64(s.ForwardFLOPsPerSequence) / float64(T)
	s.BackwardFLOPs = 2 * s.ForwardFLOPs
	s.InactiveExperts = inactiveParams(p, m)
	s.ActiveParams = s.Params - s.InactiveExperts
	headParams := paramSize[embedParam]
	if !md.Head.Tied {
		// the lookup reads one row of the table; the head multiplies by all of its own
		s.ActiveParams -= paramSize[embedParam]
		headParams = paramSize[headParam]
	}
	s.ActiveNonVocab = s.ActiveParams - headParams
	s.ParamBytes = 4 * (s.Params + s.Untrained)
	s.GradBytes = 4 * s.Params
	perParam, state := optimizerState(p.Train.Optimizer)
	s.OptimizerBytes, s.OptimizerState = perParam*s.Params, state
	s.KVCacheBytes, s.KVCachePerHeadBytes = KVCacheBytes(p)
	return s, nil
}

// isVocab reports whether a parameter is the vocabulary's: the embedding
// table and the untied head, by the names lowering gives them.
func isVocab(name string) bool { return name == embedParam || name == headParam }

// The names lowering gives the embedding table and the untied head.
const (
	embedParam = "embed.weight"
	headParam  = "head.weight"
)

// inactiveParams counts the routed experts' weights one token does not
// touch: E − k of the E experts of every mixture-of-experts sublayer.
func inactiveParams(p *lang.Program, m *ir.Module) int64 {
	size := map[string]int64{}
	for _, v := range m.Params() {
		n, _ := v.Type.Shape.Size()
		size[v.Param()] = int64(n)
	}
	var out int64
	for _, l := range MoELayers(p) {
		for _, w := range l.Routed {
			out += size[w] / int64(l.Experts) * int64(l.Experts-l.Active)
		}
	}
	return out
}

// activeText is the summary's line on the active parameters: the count,
// the count outside the vocabulary, and what is left out.
func activeText(s *Summary) string {
	moe := s.InactiveExperts > 0 || s.Untrained > 0
	switch {
	case !moe && s.TiedHead:
		return fmt.Sprintf("%s (every parameter: no mixture of experts, and the embedding table is the tied head's matrix)", group(s.ActiveParams))
	case !moe:
		return fmt.Sprintf("%s (%s without the vocabulary): every parameter but the embedding table, whose lookup reads one row",
			group(s.ActiveParams), group(s.ActiveNonVocab))
	case s.TiedHead:
		return fmt.Sprintf("%s (%s without the vocabulary): k of the E routed experts of each MoE sublayer, everything else in full (the embedding table as the tied head's matrix)",
			group(s.ActiveParams), group(s.ActiveNonVocab))
	}
	return fmt.Sprintf("%s (%s without the vocabulary): k of the E routed experts of each MoE sublayer, the head, not the embedding table (its lookup reads one row), everything else in full",
		group(s.ActiveParams), group(s.ActiveNonVocab))
}

// optimizerState is the state backend/runtime/optim keeps per parameter
// for the optimizer o, in bytes, and its description: AdamW's first and
// second moments in float32 (or float64 with `moments=f64`), SGD's
// momentum buffer in float64 (each update is computed in float64 and
// rounded once into the float32 parameter).
func optimizerState(o lang.Optimizer) (int64, string) {
	switch {
	case o.Kind == lang.OptimizerSGD:
		return 8, "SGD momentum (f64)"
	case o.Moments == lang.MomentsF64:
		return 16, "AdamW moments (2 × f64)"
	}
	return 8, "AdamW moments (2 × f32)"
}

func (r *LayerRow) describeOps() string {
	var ops []string
	for _, op := range r.opOrder {
		if op != ir.OpParam && op != ir.OpConst || len(r.opOrder) == 1 {
			ops = append(ops, op)
		}
	}
	sort.SliceStable(ops, func(i, j int) bool { return r.opFLOPs[ops[i]] > r.opFLOPs[ops[j]] })
	var shown []string
	if len(ops) == 0 {
		return ""
	}
	for _, op := range ops {
		if r.opFLOPs[op] > 0 || r.opFLOPs[ops[0]] == 0 {
			shown = append(shown, op)
		}
	}
	more := ""
	if len(shown) > 3 {
		shown, more = shown[:3], ",…"
	}
	return strings.Join(shown, ",") + more
}

func numel(s []int) int64 {
	n := int64(1)
	for _, d := range s {
		n *= int64(d)
	}
	return n
}

// labeler attributes every IR value to a model path from its source
// position, the parameters declared so far, and the order in which the
// lowering emits a program (lower.go): inputs, embedding, stream expansion,
// then per block the hyper-connection coefficients and read, the norm, the
// body, the write, then the collapse, the final norm, the head and the
// loss.
type labeler struct {
	p         *lang.Program
	paths     []string
	cur       int // current block index, −1 before the first
	lastWrite int // index of the last stream write at the residual position
	blockOf   map[string]int
	headSeen  bool
}

func newLabeler(p *lang.Program, m *ir.Module) *labeler {
	l := &labeler{p: p, paths: make([]string, len(m.Values)), cur: -1, lastWrite: -1, blockOf: map[string]int{}}
	for i, b := range p.Model.Blocks {
		l.blockOf[b.Path] = i
	}
	res := p.Model.Residual
	for i, v := range m.Values {
		// The write of a sublayer is hc.write or the add of the stream tensor
		// [B,T,n,C]; the learned collapse's adds have rank 3.
		if samePos(v.Pos, res.Pos) && (v.Op == ir.OpHCWrite || v.Op == ir.OpAdd && v.Type.Shape.Rank() == 4) {
			l.lastWrite = i
		}
	}
	return l
}

func samePos(a ir.Pos, b lang.Pos) bool { return a.Line == b.Line && a.Col == b.Col && a.Line != 0 }

// blockPath returns the path of block k's statement at pos, or "".
func (l *labeler) blockPath(k int, pos ir.Pos) string {
	if k < 0 || k >= len(l.p.Model.Blocks) {
		return ""
	}
	b := &l.p.Model.Blocks[k]
	switch {
	case samePos(pos, b.Norm.Pos):
		return b.Path + ".norm"
	case b.Attention != nil && samePos(pos, b.Attention.Pos), b.MLP != nil && samePos(pos, b.MLP.Pos),
		b.MoE != nil && samePos(pos, b.MoE.Pos):
		return b.Path
	case samePos(pos, b.Pos):
		return b.Path + ".residual"
	}
	return ""
}

func (l *labeler) at(i int, v *ir.Value) string {
	path := l.label(i, v)
	l.paths[i] = path
	return path
}

func (l *labeler) label(i int, v *ir.Value) string {
	md := &l.p.Model
	if name := v.Param(); name != "" {
		for k := len(name) - 1; k > 0; k-- {
			if name[k] != '.' {
				continue
			}
			prefix := name[:k]
			if b, ok := l.blockOf[prefix]; ok {
				l.cur = b
			}
		}
	}
	if p := l.blockPath(l.cur, v.Pos); p != "" {
		return p
	}
	if p := l.blockPath(l.cur+1, v.Pos); p != "" {
		l.cur++
		return p
	}
	switch {
	case samePos(v.Pos, md.Residual.Pos):
		switch {
		case l.cur < 0:
			return "residual.expand"
		case i > l.lastWrite:
			return "residual.collapse"
		}
		return md.Blocks[l.cur].Path + ".hc"
	case samePos(v.Pos, md.Embed.Pos):
		return "embed"
	case samePos(v.Pos, md.FinalNorm.Pos):
		return "norm"
	case samePos(v.Pos, md.Head.Pos):
		if l.headSeen {
			return "loss"
		}
		if v.Op == ir.OpMatmul {
			l.headSeen = true
		}
		return "head"
	case samePos(v.Pos, md.Pos):
		return "inputs"
	}
	if i > 0 {
		return l.paths[i-1]
	}
	return "inputs"
}

// Formats of WriteSummary.
const (
	FormatText     = "text"
	FormatMarkdown = "markdown"
	FormatJSON     = "json"
)

// WriteSummary prints s as an aligned text table, a Markdown table or
// JSON.
func WriteSummary(w io.Writer, s *Summary, format string) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	case FormatText, FormatMarkdown, "":
	default:
		return fmt.Errorf("%w: unknown summary format %q (text, markdown, json)", ErrOptions, format)
	}
	md := format == FormatMarkdown
	if md {
		header := []string{"path", "op", "output", "params", "FLOPs/token"}
		rows := rowCells(s.Rows, s.Params, s.ForwardFLOPs)
		fmt.Fprintf(w, "**%s** (%s, %s)\n\n", s.Model, s.Source, s.Level)
		fmt.Fprintf(w, "| %s |\n|---|---|---|--:|--:|\n", strings.Join(header, " | "))
		for _, r := range rows {
			if r[0] == "total" {
				r = []string{"**total**", "", "", "**" + r[3] + "**", "**" + r[4] + "**"}
			} else {
				r = []string{"`" + r[0] + "`", "`" + r[1] + "`", "`" + r[2] + "`", r[3], r[4]}
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "model %s (%s, %s, %d IR values)\n\n", s.Model, s.Source, s.Level, s.IRValues)
		writeTable(w, s.Rows, s.Params, s.ForwardFLOPs)
		fmt.Fprintln(w)
	}
	bullet := ""
	if md {
		bullet = "- "
	}
	vocab := "embedding and head"
	if s.TiedHead {
		vocab = "embedding; the head is tied to it"
	}
	fmt.Fprintf(w, "%sparameters: %s in %d tensors (a tied tensor counted once), %s of them the vocabulary's (%s)\n",
		bullet, group(s.Params), s.ParamTensors, group(s.VocabParams), vocab)
	fmt.Fprintf(w, "%sactive parameters per token: %s\n", bullet, activeText(s))
	if s.Untrained > 0 {
		fmt.Fprintf(w, "%suntrained: %s values of the experts' selection biases (set by the load balancing, not by gradients; not counted above)\n",
			bullet, group(s.Untrained))
	}
	fmt.Fprintf(w, "%sFLOPs per token: %s forward + %s backward = %s\n", bullet,
		human(s.ForwardFLOPs), human(s.BackwardFLOPs), human(s.ForwardFLOPs+s.BackwardFLOPs))
	fmt.Fprintf(w, "%smemory per step (B=%d, T=%d): f32 activations %s, parameters %s, gradients %s; %s %s; total %s\n",
		bullet, s.Batch, s.Context, bytesStr(s.ActivationBytes), bytesStr(s.ParamBytes), bytesStr(s.GradBytes),
		s.OptimizerState, bytesStr(s.OptimizerBytes), bytesStr(s.TotalBytes()))
	if s.KVCacheBytes > 0 {
		fmt.Fprintf(w, "%sKV cache when decoding (f32): %s per token, %s at the context of %d; ", bullet,
			bytesStr(s.KVCacheBytes), bytesStr(s.KVCacheBytes*int64(s.Context)), s.Context)
		if s.KVCachePerHeadBytes == s.KVCacheBytes {
			fmt.Fprintln(w, "a key and a value per query head")
		} else {
			fmt.Fprintf(w, "%.1f%% of the %s per token of a key and a value per query head\n",
				100*float64(s.KVCacheBytes)/float64(s.KVCachePerHeadBytes), bytesStr(s.KVCachePerHeadBytes))
		}
	}
	if s.RecomputedBytes > 0 {
		fmt.Fprintf(w, "%srecompute=true: %s of stream tensors recomputed in the backward pass instead of kept (not in the activations above)\n",
			bullet, bytesStr(s.RecomputedBytes))
	}
	return nil
}

// WriteRows prints rows as the text layer table of WriteSummary, with a
// total row that sums them: the part of the table about some of the
// model (`mhcc lsp` shows a block's rows).
func WriteRows(w io.Writer, rows []LayerRow) {
	var params int64
	var flops float64
	for _, r := range rows {
		params += r.Params
		flops += r.FLOPs
	}
	writeTable(w, rows, params, flops)
}

// rowCells are the cells of the layer table: one row per LayerRow, then
// the total.
func rowCells(rows []LayerRow, params int64, flops float64) [][]string {
	var out [][]string
	for _, r := range rows {
		out = append(out, []string{r.Path, r.Op, r.Shape, group(r.Params), human(r.FLOPs)})
	}
	return append(out, []string{"total", "", "", group(params), human(flops)})
}

// writeTable prints the text layer table: a header, the rows, a rule and
// the total row, numbers right-aligned.
func writeTable(w io.Writer, layerRows []LayerRow, params int64, flops float64) {
	header := []string{"path", "op", "output", "params", "FLOPs/token"}
	rows := rowCells(layerRows, params, flops)
	width := make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(r []string) {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i >= 3 { // numbers right-aligned
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
			if i < len(r)-1 {
				b.WriteString("  ")
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(header)
	for i, r := range rows {
		if i == len(rows)-1 {
			total := 0
			for _, x := range width {
				total += x + 2
			}
			fmt.Fprintln(w, strings.Repeat("-", total-2))
		}
		line(r)
	}
}

// group prints an integer with thousands separators: 918,872.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// human prints a count with a k/M/G/T suffix and three significant digits.
func human(x float64) string {
	units := []string{"", "k", "M", "G", "T", "P"}
	i := 0
	for x >= 999.5 && i < len(units)-1 {
		x /= 1000
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(x, 'g', 4, 64)
	}
	return strconv.FormatFloat(x, 'f', max(0, 2-int(digitsBefore(x))), 64) + units[i]
}

func digitsBefore(x float64) int {
	n := 0
	for x >= 10 {
		x /= 10
		n++
	}
	return n
}

// FormatBytes prints a byte count in binary units: "512 B", "41.2 GiB"
// (a float, because the memory of a legal program can exceed int64).
func FormatBytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	switch {
	case i == 0:
		return fmt.Sprintf("%.0f B", n)
	case n >= 1024: // beyond EiB
		return fmt.Sprintf("%.3g %s", n, units[i])
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}

// bytesStr prints a byte count in binary units.
func bytesStr(n int64) string { return FormatBytes(float64(n)) }
