package compiler

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mhcc/mhcc/ir"
)

// Level is an optimisation level, -O0 to -O2.
type Level int

// The optimisation levels.
const (
	// O0 runs no pass: the module is the lowering's primitive ops, the
	// reference every fusion is checked against.
	O0 Level = iota
	// O1 runs the cleanup passes (fold, canonicalize, cse, dce).
	O1
	// O2 runs the cleanup and the fusion passes.
	O2
)

// MaxLevel is the highest optimisation level.
const MaxLevel = O2

// DefaultLevel is the level of every compilation that does not ask for
// one: `mhcc FILE -o OUT`, `mhcc run`, a bundled executable recompiling its
// payload, and CompileSource/CompileFile without options. It is O2:
// backend/gorgonia implements every fused op of the op table, and the fused
// graph trains 1.6–2.1× faster than -O0 (docs/performance.md). `mhcc ir`
// defaults to O2 on its own.
const DefaultLevel = O2

// String returns "-O0", "-O1" or "-O2".
func (l Level) String() string { return fmt.Sprintf("-O%d", int(l)) }

// Count is one named statistic of a pass run, e.g. fused=8.
type Count struct {
	Name string
	N    int
}

// Counts is a pass's statistics in a stable order.
type Counts []Count

// Add appends (or increases) the named count.
func (c *Counts) Add(name string, n int) {
	for i := range *c {
		if (*c)[i].Name == name {
			(*c)[i].N += n
			return
		}
	}
	*c = append(*c, Count{name, n})
}

// Get returns the named count (0 if absent).
func (c Counts) Get(name string) int {
	for _, x := range c {
		if x.Name == name {
			return x.N
		}
	}
	return 0
}

// String prints the non-zero counts, e.g. "8 fused, 160 iterations", or
// "no change".
func (c Counts) String() string {
	var parts []string
	for _, x := range c {
		if x.N != 0 {
			parts = append(parts, fmt.Sprintf("%d %s", x.N, x.Name))
		}
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, ", ")
}

// Pass is one entry of the pass table.
type Pass struct {
	// Name is what --passes and --print-ir-after accept.
	Name string
	// Doc is a one-line description.
	Doc string
	// Required passes run at every level, -O0 included, and whenever
	// --passes is given. None is required today: the lowering already
	// produces verified primitive IR that every backend runs. The flag is
	// there for passes that legalise IR for a backend.
	Required bool
	// Level is the lowest -O level that runs the pass.
	Level Level
	// Run rewrites the module in place and reports whether it changed
	// anything and its statistics.
	Run func(m *ir.Module) (changed bool, stats Counts)
}

// passes is the static pass table, in pipeline order: -O<n> runs every
// pass with Level ≤ n, in this order. The fusion passes come from the
// fusion table (fusions.go).
var passes = append([]Pass{
	{Name: "fold", Level: O1, Run: fold,
		Doc: "evaluate elementwise ops on scalar constants"},
	{Name: "canonicalize", Level: O1, Run: canonicalize,
		Doc: "remove identity reshapes, broadcasts, transposes and slices; merge reshape∘reshape and transpose∘transpose; x·1, x/1, x+0, x−0, −−x"},
	{Name: "cse", Level: O1, Run: cse,
		Doc: "merge values computing the same op on the same arguments"},
	{Name: "dce", Level: O1, Run: dce,
		Doc: "delete computed values no output depends on"},
}, fusionPasses()...)

func fusionPasses() []Pass {
	ps := make([]Pass, len(fusions))
	for i, f := range fusions {
		ps[i] = Pass{Name: f.pass, Level: O2, Run: f.run, Doc: f.doc}
	}
	return ps
}

// passOrder lists ordering constraints between passes, checked at start-up
// (like the Go compiler's SSA passOrder): when both run, a runs before b.
var passOrder = append([]struct{ a, b, why string }{
	{"fold", "canonicalize", "folding may produce the constants 1 and 0 that canonicalize removes"},
	{"fold", "cse", "folded constants are merged by cse"},
	{"canonicalize", "cse", "canonical forms expose more duplicates"},
	{"canonicalize", "dce", "canonicalize leaves the values it bypassed dead"},
	{"cse", "dce", "cse makes duplicates dead"},
	{"fuse-layernorm", "fuse-rmsnorm", "layernorm's primitive form holds rmsnorm's over x − mean(x)"},
	{"fuse-moe", "fuse-silu", "the routed experts' pattern holds the activation's primitive form"},
	{"fuse-moe", "fuse-gelu", "the routed experts' pattern holds the activation's primitive form"},
}, fusionOrder()...)

// fusionOrder: dce runs before every fusion, because a dead user still
// counts as a use, and every fusion requires its intermediates to have
// no use outside the pattern.
func fusionOrder() []struct{ a, b, why string } {
	var cs []struct{ a, b, why string }
	for _, f := range fusions {
		cs = append(cs, struct{ a, b, why string }{"dce", f.pass, "fusions need dead users gone"})
	}
	return cs
}

func init() {
	if err := checkPassTable(passes[:]); err != nil {
		panic("compiler: " + err.Error())
	}
}

// checkPassTable checks that names are unique and non-empty, every pass
// has a run function and a level, levels never decrease along the table
// (so every -O level is a prefix-closed pipeline) and passOrder holds.
func checkPassTable(table []Pass) error {
	index := map[string]int{}
	for i, p := range table {
		if p.Name == "" || p.Run == nil || p.Doc == "" {
			return fmt.Errorf("pass %d (%q) needs a name, a doc and a run function", i, p.Name)
		}
		if _, dup := index[p.Name]; dup {
			return fmt.Errorf("pass %q is listed twice", p.Name)
		}
		if p.Level < O0 || p.Level > MaxLevel || p.Required && p.Level != O0 {
			return fmt.Errorf("pass %q: bad level %s (required passes run at -O0)", p.Name, p.Level)
		}
		if i > 0 && p.Level < table[i-1].Level {
			return fmt.Errorf("pass %q (%s) comes after %q (%s)", p.Name, p.Level, table[i-1].Name, table[i-1].Level)
		}
		index[p.Name] = i
	}
	for _, c := range passOrder {
		ia, oka := index[c.a]
		ib, okb := index[c.b]
		if !oka || !okb {
			return fmt.Errorf("ordering constraint %s before %s names an unknown pass", c.a, c.b)
		}
		if ia >= ib {
			return fmt.Errorf("pass %q must come before %q: %s", c.a, c.b, c.why)
		}
	}
	return nil
}

// Passes returns the pass table in pipeline order.
func Passes() []Pass { return append([]Pass(nil), passes...) }

// PassNames returns the names of all passes in pipeline order.
func PassNames() []string {
	names := make([]string, len(passes))
	for i, p := range passes {
		names[i] = p.Name
	}
	return names
}

func lookupPass(name string) (*Pass, bool) {
	for i := range passes {
		if passes[i].Name == name {
			return &passes[i], true
		}
	}
	return nil, false
}

// ErrOptions marks an invalid Options (a usage error: exit code 2 in the
// CLI).
var ErrOptions = errors.New("invalid compiler options")

// Options control the pass pipeline.
type Options struct {
	// Level is the optimisation level; ignored when Passes is non-nil.
	Level Level
	// Passes, when non-nil, runs exactly these passes in this order
	// (required passes first).
	Passes []string
	// PrintIRAfter prints the IR after the named pass ("all": after every
	// pass, and the input first) to PrintTo.
	PrintIRAfter string
	// PrintTo receives PrintIRAfter's output; nil means os.Stderr.
	PrintTo io.Writer
	// DumpDir, when set, receives 00-input.ir and one NN-PASS.ir file per
	// pass run, each with a header saying how to reproduce it.
	DumpDir string
	// Command is the mhcc command line that compiles the program without
	// pass flags, used in dump headers (default "mhcc ir SOURCE").
	Command string
	// Target, when set, is the backend the module is compiled for:
	// CompileSource reports the ops it does not implement (TargetDiagnostics).
	Target Target
}

// DefaultOptions are the options of a compilation that asks for nothing.
func DefaultOptions() Options { return Options{Level: DefaultLevel} }

// Pipeline returns the passes the options run, or an error wrapping
// ErrOptions that names the valid choices.
func (o Options) Pipeline() ([]*Pass, error) {
	var out []*Pass
	for i := range passes {
		if passes[i].Required {
			out = append(out, &passes[i])
		}
	}
	if o.Passes != nil {
		for _, name := range o.Passes {
			p, ok := lookupPass(strings.TrimSpace(name))
			if !ok {
				return nil, fmt.Errorf("%w: unknown pass %q (passes: %s)", ErrOptions, name, strings.Join(PassNames(), ", "))
			}
			if !p.Required {
				out = append(out, p)
			}
		}
	} else {
		if o.Level < O0 || o.Level > MaxLevel {
			return nil, fmt.Errorf("%w: no optimisation level %d (0 to %d)", ErrOptions, int(o.Level), int(MaxLevel))
		}
		for i := range passes {
			if !passes[i].Required && passes[i].Level <= o.Level {
				out = append(out, &passes[i])
			}
		}
	}
	if a := o.PrintIRAfter; a != "" && a != "all" {
		if _, ok := lookupPass(a); !ok {
			return nil, fmt.Errorf("%w: --print-ir-after: unknown pass %q (passes: all, %s)", ErrOptions, a, strings.Join(PassNames(), ", "))
		}
		found := false
		for _, p := range out {
			found = found || p.Name == a
		}
		if !found {
			return nil, fmt.Errorf("%w: --print-ir-after: pass %q does not run in this pipeline (%s)", ErrOptions, a, pipelineString(out))
		}
	}
	return out, nil
}

func pipelineString(ps []*Pass) string {
	if len(ps) == 0 {
		return "no passes"
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return strings.Join(names, ",")
}

// PassStats is what one pass run reported.
type PassStats struct {
	Pass    string
	Changed bool
	Counts  Counts
	// Values is the number of IR values after the pass.
	Values int
}

// String prints e.g. "fuse-sinkhorn: 8 fused, 160 iterations".
func (s PassStats) String() string { return s.Pass + ": " + s.Counts.String() }

// Stats are the statistics of a pipeline run, one entry per pass run.
type Stats struct {
	// Input is the number of IR values before the first pass.
	Input  int
	Passes []PassStats
}

// Get returns a count of the last run of the named pass (0 if absent).
func (s *Stats) Get(pass, count string) int {
	if s == nil {
		return 0
	}
	for i := len(s.Passes) - 1; i >= 0; i-- {
		if s.Passes[i].Pass == pass {
			return s.Passes[i].Counts.Get(count)
		}
	}
	return 0
}

// String prints one line per pass run and the value counts.
func (s *Stats) String() string {
	if s == nil {
		return ""
	}
	var b strings.Builder
	for _, p := range s.Passes {
		fmt.Fprintf(&b, "%s\n", p)
	}
	out := s.Input
	if len(s.Passes) > 0 {
		out = s.Passes[len(s.Passes)-1].Values
	}
	fmt.Fprintf(&b, "values: %d in, %d out\n", s.Input, out)
	return b.String()
}

// RunPasses runs the pipeline selected by opts over m in place, verifying
// the module before the first pass and after every pass that changed it.
// A verifier failure is an internal compiler error naming the pass.
func RunPasses(m *ir.Module, opts Options) (*Stats, error) {
	pipeline, err := opts.Pipeline()
	if err != nil {
		return nil, err
	}
	if err := ir.Verify(m); err != nil {
		return nil, fmt.Errorf("internal compiler error: the lowered IR does not verify: %w", err)
	}
	out := opts.PrintTo
	if out == nil {
		out = os.Stderr
	}
	cmd := opts.Command
	if cmd == "" {
		cmd = "mhcc ir " + quoteArg(m.Source)
	}
	st := &Stats{Input: len(m.Values)}
	if opts.PrintIRAfter == "all" {
		fmt.Fprintf(out, "# IR before any pass\n%s", m)
	}
	if opts.DumpDir != "" {
		if err := os.MkdirAll(opts.DumpDir, 0o755); err != nil {
			return nil, fmt.Errorf("--dump-dir: %w", err)
		}
		hdr := fmt.Sprintf("# input of the pass pipeline %s\n# reproduce: %s -O0\n", pipelineString(pipeline), cmd)
		if err := dump(opts.DumpDir, "00-input.ir", hdr, m); err != nil {
			return nil, err
		}
	}
	for i, p := range pipeline {
		changed, counts := p.Run(m)
		ps := PassStats{Pass: p.Name, Changed: changed, Counts: counts, Values: len(m.Values)}
		st.Passes = append(st.Passes, ps)
		// a pass that reports no change left the verified module as it was
		if err := verifyChanged(m, changed); err != nil {
			return st, fmt.Errorf("internal compiler error: the IR does not verify after pass %s: %w", p.Name, err)
		}
		if opts.PrintIRAfter == "all" || opts.PrintIRAfter == p.Name {
			fmt.Fprintf(out, "# IR after %s (%s)\n%s", p.Name, counts, m)
		}
		if opts.DumpDir != "" {
			hdr := fmt.Sprintf("# IR after pass %d/%d %s (%s)\n# reproduce: %s --passes=%s\n",
				i+1, len(pipeline), p.Name, counts, cmd, pipelineString(pipeline[:i+1]))
			if err := dump(opts.DumpDir, fmt.Sprintf("%02d-%s.ir", i+1, p.Name), hdr, m); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

func dump(dir, name, header string, m *ir.Module) error {
	if err := os.WriteFile(filepath.Join(dir, name), []byte(header+m.String()), 0o644); err != nil {
		return fmt.Errorf("--dump-dir: %w", err)
	}
	return nil
}

// quoteArg quotes a command-line argument for a POSIX shell when needed.
func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// verifyChanged verifies m after a pass that changed it; the module a pass
// reports unchanged is the one verified before it (verifying the 27B
// configuration's thousands of values after each of the passes that find
// nothing to do would be a third of its compile time).
func verifyChanged(m *ir.Module, changed bool) error {
	if !changed {
		return nil
	}
	return ir.Verify(m)
}
