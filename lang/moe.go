package lang

// This file holds the `moe` statement of a block: its schema entry, its
// resolution and its checks (docs/moe.md describes the computation).

// Expert-load balancing of `moe ... balance=`.
const (
	// BalanceBias is DeepSeek-V3's auxiliary-loss-free balancing: a
	// per-expert bias, added to the affinities for the selection only,
	// moves by bias_rate after every step against the observed load.
	BalanceBias = "bias"
	// BalanceAux adds the classic auxiliary balance loss
	// aux_weight·E·Σ_e f_e·P_e to the training loss.
	BalanceAux = "aux"
	// BalanceNone balances nothing.
	BalanceNone = "none"
)

var moeSpec = StatementSpec{
	Keyword: "moe", In: InBlock, Once: true,
	Attrs: []AttrSpec{
		{Name: "experts", Type: TypeInt, Required: true, Range: between(1, 4096), Doc: "routed experts E"},
		{Name: "active", Type: TypeInt, Required: true, Range: between(1, 4096), Doc: "routed experts per token k (top-k), at most `experts`"},
		{Name: "shared", Type: TypeInt, Default: "0", Range: between(0, 64), Doc: "shared experts, applied to every token"},
		{Name: "hidden", Type: TypeInt, Required: true, Range: between(1, 1<<20), Doc: "hidden width of each expert"},
		{Name: "act", Type: TypeEnum, Values: []string{ActSwiGLU, ActGeGLU}, Default: ActSwiGLU,
			Doc: "the experts' gated activation: `swiglu` (SiLU gate, DeepSeek-V3) or `geglu` (GELU gate)"},
		{Name: "balance", Type: TypeEnum, Values: []string{BalanceBias, BalanceAux, BalanceNone}, Default: BalanceBias,
			Doc: "load balancing: `bias` (DeepSeek-V3's auxiliary-loss-free per-expert selection bias), `aux` (auxiliary loss aux_weight·E·Σ f_e·P_e) or `none`"},
		{Name: "bias_rate", Type: TypeFloat, Default: "0.001", Range: atLeast(0), Neutral: true,
			Doc: "γ of `balance=bias`: after every step each expert's bias moves by γ towards the mean load (DeepSeek-V3: 0.001)"},
		{Name: "aux_weight", Type: TypeFloat, Default: "0.01", Range: atLeast(0), Neutral: true,
			Doc: "α of `balance=aux`, the weight of the auxiliary loss (Switch Transformer: 0.01)"},
		{Name: "route_scale", Type: TypeFloat, Default: "1", Range: greaterThan(0),
			Doc: "routed scaling factor: the routed experts' gates sum to it (DeepSeek-V3 uses 2.5)"},
	},
	Example: "moe experts=64 active=6 shared=2 hidden=896",
	Doc:     "mixture of experts with DeepSeek-V3 routing: sigmoid affinities, top-k selection, normalised gates, shared experts always applied",
}

// MoE is `moe experts=E active=K [shared=S] hidden=H [act=...]
// [balance=...] [bias_rate=γ] [aux_weight=α] [route_scale=s]`: E routed
// gated experts of which each token uses the K with the largest
// sigmoid affinities (plus the selection bias of `balance=bias`), gated
// by its normalised affinities times s, and S shared experts every token
// uses.
type MoE struct {
	Experts, Active, Shared, Hidden int
	Act                             string  // ActSwiGLU (default) or ActGeGLU
	Balance                         string  // BalanceBias (default), BalanceAux or BalanceNone
	BiasRate                        float64 // γ, default 0.001
	AuxWeight                       float64 // α, default 0.01
	RouteScale                      float64 // default 1
	Pos                             Pos
}

// moe resolves a `moe` statement and reports the settings that cannot
// work (more active experts than experts) or have no effect.
func (c *checker) moe(in *inst) *MoE {
	m := &MoE{
		Experts: int(in.int("experts")), Active: int(in.int("active")), Shared: int(in.int("shared")),
		Hidden: int(in.int("hidden")), Act: in.str("act"), Balance: in.str("balance"),
		BiasRate: in.float("bias_rate"), AuxWeight: in.float("aux_weight"), RouteScale: in.float("route_scale"),
		Pos: in.stmt.Pos,
	}
	if in.ok["experts"] && in.ok["active"] && m.Active > m.Experts {
		p, e := in.attrSpan("active")
		ep, ee := in.attrSpan("experts")
		c.diags.errorf(p, e, "`active=%d` exceeds `experts=%d`: a token cannot choose more experts than there are", m.Active, m.Experts).
			related(ep, ee, "`experts` is set here").
			help("lower `active` to at most %d, or raise `experts`", m.Experts)
	}
	if in.ok["experts"] && in.ok["active"] && m.Active == m.Experts {
		p, e := in.attrSpan("active")
		c.diags.warnf(p, e, "with `active=experts` every token uses every expert: the router only weighs them").
			help("choose `active` below %d for a sparse mixture", m.Experts)
	}
	if in.ok["active"] && m.Active == 1 && m.Experts > 1 {
		p, e := in.attrSpan("active")
		c.diags.warnf(p, e, "with `active=1` the normalised gate of the one chosen expert is always %s: the router gets no gradient and never learns", formatFloat(m.RouteScale)).
			help("use `active=2` or more: DeepSeek-V3 normalises the chosen experts' affinities, which makes a single gate constant")
	}
	for _, x := range []struct{ attr, balance string }{{"bias_rate", BalanceBias}, {"aux_weight", BalanceAux}} {
		if in.ok[x.attr] && m.Balance != x.balance {
			p, e := in.attrSpan(x.attr)
			c.diags.warnf(p, e, "`%s` has no effect with `balance=%s`", x.attr, m.Balance).
				help("remove it, or use `balance=%s`", x.balance)
		}
	}
	return m
}
