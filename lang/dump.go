package lang

import (
	"fmt"
	"strconv"
	"strings"
)

// Dump prints the resolved program as one `path = value` line per field,
// in a fixed order, with each struct's source position as `path.pos =
// line:col`. The output is deterministic and is what the golden tests
// compare; `mhcc explain` can build on it.
func (p *Program) Dump() string {
	var b strings.Builder
	put := func(path string, v any) {
		var s string
		switch v := v.(type) {
		case string:
			s = strconv.Quote(v)
		case float64:
			s = formatFloat(v)
		case Pos:
			s = fmt.Sprintf("%d:%d", v.Line, v.Col)
		default:
			s = fmt.Sprint(v)
		}
		fmt.Fprintf(&b, "%s = %s\n", path, s)
	}
	norm := func(path string, n Norm) {
		put(path+".kind", n.Kind)
		put(path+".eps", n.Eps)
		put(path+".pos", n.Pos)
	}
	put("file", p.File)
	m := p.Model
	put("model.name", m.Name)
	put("model.pos", m.Pos)
	put("model.vocab", m.Vocab)
	put("model.context", m.Context)
	put("model.embed.dim", m.Embed.Dim)
	put("model.embed.init_std", m.Embed.InitStd)
	put("model.embed.pos", m.Embed.Pos)
	r := m.Residual
	put("model.residual.kind", r.Kind)
	put("model.residual.streams", r.Streams)
	if r.Kind == ResidualHyper {
		put("model.residual.constraint", r.Constraint)
		put("model.residual.dynamic", r.Dynamic)
		put("model.residual.sinkhorn", r.Sinkhorn)
		put("model.residual.init", r.Init)
		put("model.residual.alpha", r.Alpha)
		put("model.residual.phi_std", r.PhiStd)
		put("model.residual.collapse", r.Collapse)
		put("model.residual.recompute", r.Recompute)
	}
	put("model.residual.pos", r.Pos)
	for i, blk := range m.Blocks {
		pre := fmt.Sprintf("model.blocks[%d]", i)
		put(pre+".path", blk.Path)
		put(pre+".layer", blk.Layer)
		put(pre+".index", blk.Index)
		put(pre+".name", blk.Name)
		put(pre+".pos", blk.Pos)
		norm(pre+".norm", blk.Norm)
		if a := blk.Attention; a != nil {
			put(pre+".attention.kind", a.Kind)
			put(pre+".attention.heads", a.Heads)
			if a.MLA() {
				put(pre+".attention.head_dim", a.HeadDim)
				put(pre+".attention.kv_rank", a.KVRank)
				put(pre+".attention.q_rank", a.QRank)
				put(pre+".attention.rope_dim", a.RopeDim)
			} else {
				put(pre+".attention.kv_heads", a.KVHeads)
				put(pre+".attention.head_dim", a.HeadDim)
				put(pre+".attention.qk_norm", a.QKNorm)
			}
			put(pre+".attention.rope", a.Rope)
			put(pre+".attention.rope_base", a.RopeBase)
			put(pre+".attention.pos", a.Pos)
		}
		if x := blk.MLP; x != nil {
			put(pre+".mlp.hidden", x.Hidden)
			put(pre+".mlp.act", x.Act)
			put(pre+".mlp.pos", x.Pos)
		}
		if x := blk.MoE; x != nil {
			put(pre+".moe.experts", x.Experts)
			put(pre+".moe.active", x.Active)
			put(pre+".moe.shared", x.Shared)
			put(pre+".moe.hidden", x.Hidden)
			put(pre+".moe.act", x.Act)
			put(pre+".moe.balance", x.Balance)
			put(pre+".moe.bias_rate", x.BiasRate)
			put(pre+".moe.aux_weight", x.AuxWeight)
			put(pre+".moe.route_scale", x.RouteScale)
			put(pre+".moe.pos", x.Pos)
		}
	}
	norm("model.final_norm", m.FinalNorm)
	put("model.head.tied", m.Head.Tied)
	put("model.head.init_std", m.Head.InitStd)
	put("model.head.pos", m.Head.Pos)

	t := p.Train
	put("train.pos", t.Pos)
	put("train.data.kind", t.Data.Kind)
	if t.Data.Kind == DataFile {
		put("train.data.path", t.Data.Path)
		put("train.data.val", t.Data.ValFraction)
		put("train.data.format", t.Data.Format)
		put("train.data.vocab", t.Data.Vocab)
	} else {
		put("train.data.task", t.Data.Task)
	}
	put("train.data.sampling", t.Data.Sampling)
	put("train.data.pos", t.Data.Pos)
	put("train.batch", t.Batch)
	put("train.steps", t.Steps)
	o := t.Optimizer
	put("train.optimizer.kind", o.Kind)
	put("train.optimizer.lr", o.LR)
	put("train.optimizer.beta1", o.Beta1)
	put("train.optimizer.beta2", o.Beta2)
	put("train.optimizer.eps", o.Eps)
	if o.Kind == OptimizerSGD {
		put("train.optimizer.momentum", o.Momentum)
	} else {
		put("train.optimizer.moments", o.Moments)
	}
	put("train.optimizer.weight_decay", o.WeightDecay)
	put("train.optimizer.clip", o.Clip)
	put("train.optimizer.accumulate", o.Accumulate)
	put("train.optimizer.pos", o.Pos)
	put("train.schedule.kind", t.Schedule.Kind)
	put("train.schedule.warmup", t.Schedule.Warmup)
	put("train.schedule.min_lr", t.Schedule.MinLR)
	if t.Schedule.Kind == ScheduleStep {
		put("train.schedule.milestones", floatList(t.Schedule.Milestones))
		put("train.schedule.factors", floatList(t.Schedule.Factors))
	}
	put("train.schedule.pos", t.Schedule.Pos)
	put("train.eval.every", t.Eval.Every)
	put("train.eval.batches", t.Eval.Batches)
	put("train.eval.pos", t.Eval.Pos)
	put("train.checkpoint.every", t.Checkpoint.Every)
	put("train.checkpoint.keep", t.Checkpoint.Keep)
	put("train.checkpoint.pos", t.Checkpoint.Pos)
	put("train.log.every", t.Log.Every)
	put("train.log.pos", t.Log.Pos)
	put("train.diagnostics.every", t.Diagnostics.Every)
	put("train.diagnostics.pos", t.Diagnostics.Pos)
	put("train.seed", t.Seed)
	return b.String()
}

// rawText is dumped as is, without quotes.
type rawText string

// floatList prints xs as a list is written: [0.8, 0.9].
func floatList(xs []float64) rawText {
	v := value{kind: vList}
	for _, x := range xs {
		v.list = append(v.list, value{kind: vFloat, f: x})
	}
	return rawText(valueText(TypeFloatList, v))
}
