package train

import (
	"fmt"
	"strings"

	"github.com/mhcc/mhcc/backend/runtime/data"
	"github.com/mhcc/mhcc/backend/runtime/optim"
	"github.com/mhcc/mhcc/lang"
)

// SetZero, as the value of Options.CheckpointEvery, Options.Keep or
// Options.Momentum, overrides the program's setting with 0 (whose zero
// value means "the program's").
const SetZero = -1

// overrideInt returns the run's value of a setting: the program's p,
// unless o overrides it (o != 0; SetZero means 0).
func overrideInt(o, p int) int {
	switch o {
	case 0:
		return p
	case SetZero:
		return 0
	}
	return o
}

// DataSpec selects a data source: a file (text or uint16 tokens) or a
// synthetic task.
type DataSpec struct {
	// Path is the data file; "" for the program's own data.
	Path string
	// Format is data.FormatText, data.FormatBin or "" (the program's
	// `format=`, by default by extension).
	Format string
	// Vocab is the declared vocabulary of a token file; 0 means the
	// program's `vocab=` (by default the model's vocabulary).
	Vocab int
	// Task overrides the synthetic task ("markov", "recall", "dyck").
	Task string
}

// openData opens the run's data source: an explicit file, the program's
// `data file=...`, or a synthetic task (Markov by default). The program's
// `format=` and `vocab=` apply unless spec overrides them, also to a file
// that replaces the program's (as `--set train.data.file=` would). File
// errors name the file; the source is checked to hold windows of the
// context and to fit the model's vocabulary.
func openData(p *lang.Program, spec DataSpec, seed int64, val float64) (data.Source, error) {
	d := p.Train.Data
	path := dataPath(p, spec)
	if path == "" {
		task := spec.Task
		if task == "" {
			task = d.Task
		}
		switch task {
		case "", "markov":
			return data.NewMarkov(p.Model.Vocab, uint64(seed)), nil
		case "recall":
			return data.NewRecall(p.Model.Vocab)
		case "dyck":
			return data.NewDyck(p.Model.Vocab)
		}
		return nil, fmt.Errorf("unknown synthetic task %q (want markov, recall or dyck)", task)
	}
	if spec.Task != "" {
		return nil, fmt.Errorf("--task %s selects synthetic data, but the run reads the file %s", spec.Task, path)
	}
	format, vocab := spec.Format, spec.Vocab
	if d.Kind == lang.DataFile {
		if format == "" && d.Format != lang.DataFormatAuto {
			format = d.Format
		}
		if vocab == 0 {
			vocab = d.Vocab
		}
	}
	if vocab == 0 {
		vocab = p.Model.Vocab
	}
	src, err := data.Open(path, format, vocab, val)
	if err != nil {
		return nil, err
	}
	if err := src.Check(p.Model.Context); err != nil {
		return nil, err
	}
	if src.Vocab() > p.Model.Vocab {
		return nil, fmt.Errorf("data %s has %d token ids but the model's vocab is %d", src.Name(), src.Vocab(), p.Model.Vocab)
	}
	return src, nil
}

// dataPath is the data file of a run ("" for synthetic data): spec's, or
// the program's `data file=...`.
func dataPath(p *lang.Program, spec DataSpec) string {
	if spec.Path == "" && p.Train.Data.Kind == lang.DataFile {
		return p.Train.Data.Path
	}
	return spec.Path
}

// valFraction is the held-out fraction of the run's data file: the
// program's `val=`, or the default tail for a --data override of a
// synthetic program.
func valFraction(p *lang.Program) float64 {
	d := p.Train.Data
	if d.Kind != lang.DataFile || d.ValFraction <= 0 {
		return defaultValFraction
	}
	return d.ValFraction
}

// defaultValFraction is the held-out tail of a data file when the program
// does not say (the language's default for `data file=... val=`).
const defaultValFraction = 0.1

// newOptimizer builds the optimizer for tensors: the program's, or kind
// ("adamw", "sgd") when set; momentum is the run's SGD momentum.
func newOptimizer(tr lang.Train, kind string, momentum float64, tensors []optim.Tensor) (optim.Optimizer, error) {
	oc := tr.Optimizer
	if kind == "" {
		kind = oc.Kind
	}
	switch kind {
	case "", "adamw":
		cfg := optim.AdamWConfig{Beta1: oc.Beta1, Beta2: oc.Beta2, Eps: oc.Eps, WeightDecay: oc.WeightDecay, F64Moments: oc.Moments == lang.MomentsF64}
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		return optim.NewAdamW(tensors, cfg), nil
	case "sgd":
		cfg := optim.SGDConfig{Momentum: momentum, WeightDecay: oc.WeightDecay}
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		return optim.NewSGD(tensors, cfg), nil
	}
	return nil, fmt.Errorf("unknown optimizer %q (want adamw or sgd)", kind)
}

// newSchedule builds the learning-rate schedule over steps optimizer
// steps: the program's, or kind ("constant", "cosine", "step").
func newSchedule(tr lang.Train, kind string, steps int) (optim.Schedule, string, error) {
	s := tr.Schedule
	if kind == "" {
		kind = s.Kind
	}
	lr := tr.Optimizer.LR
	switch kind {
	case "constant":
		return optim.Constant{Base: lr, Warmup: s.Warmup}, fmt.Sprintf("constant warmup %d", s.Warmup), nil
	case "", "cosine":
		c := optim.Cosine{Base: lr, MinFrac: s.MinLR, Warmup: s.Warmup, Total: steps}
		if err := c.Validate(); err != nil {
			return nil, "", err
		}
		return c, fmt.Sprintf("cosine warmup %d min_lr %g", s.Warmup, s.MinLR), nil
	case "step":
		milestones := optim.PaperMilestones
		if len(s.Milestones) > 0 && len(s.Milestones) == len(s.Factors) {
			milestones = nil
			for i, at := range s.Milestones {
				milestones = append(milestones, optim.Milestone{At: at, Factor: s.Factors[i]})
			}
		}
		st := optim.Step{Base: lr, Warmup: s.Warmup, Total: steps, Milestones: milestones}
		if err := st.Validate(); err != nil {
			return nil, "", err
		}
		var ms []string
		for _, m := range st.Milestones {
			ms = append(ms, fmt.Sprintf("×%g at %g%%", m.Factor, 100*m.At))
		}
		return st, fmt.Sprintf("step warmup %d, %s", s.Warmup, strings.Join(ms, ", ")), nil
	}
	return nil, "", fmt.Errorf("unknown schedule %q (want constant, cosine or step)", kind)
}
