package train

// The settings that shape a run's trajectory are recorded in every
// checkpoint; a resume compares its own against them, says what each
// change does, and refuses the changes that make the continuation a
// different run unless --allow-changes says that is meant.

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mhcc/mhcc/backend/runtime/checkpoint"
	"github.com/mhcc/mhcc/lang"
)

// untracked are the train settings that do not change what the run
// computes: when it evaluates, checkpoints, logs and measures.
var untracked = []string{"train.eval.", "train.checkpoint.", "train.log.", "train.diagnostics."}

// settings returns the run's trajectory settings by their --set paths:
// the program's train settings, with the values this run really uses
// where options override them.
func (r *run) settings() map[string]string {
	m := map[string]string{}
	for _, s := range r.p.Settings {
		if !strings.HasPrefix(s.Path, "train.") || strings.HasPrefix(s.Path, "train.data") ||
			slices.ContainsFunc(untracked, func(p string) bool { return strings.HasPrefix(s.Path, p) }) {
			continue
		}
		m[s.Path] = s.Value
	}
	m["train.steps"] = strconv.Itoa(r.steps)
	m["train.seed"] = strconv.FormatInt(r.seed, 10)
	m["train.batch"] = strconv.Itoa(r.B)
	m["model.context"] = strconv.Itoa(r.T)
	m["train.optimizer"] = r.opt.Kind()
	m["train.optimizer.accumulate"] = strconv.Itoa(r.accum)
	if r.opt.Kind() == "sgd" {
		m["train.optimizer.momentum"] = strconv.FormatFloat(r.momentum, 'g', -1, 64)
	} else {
		delete(m, "train.optimizer.momentum")
	}
	if r.opts.Schedule != "" {
		m["train.schedule"] = r.opts.Schedule
	}
	m["train.data"] = dataIdentity(r.src)
	m["train.data.sampling"] = r.sampler.Mode()
	return m
}

// dataIdentity names a data source independently of the folder the run
// was started from: a file by its absolute path.
func dataIdentity(src interface{ Name() string }) string {
	if f, ok := src.(interface{ Path() string }); ok {
		if abs, err := filepath.Abs(f.Path()); err == nil {
			return strings.Replace(src.Name(), strconv.Quote(f.Path()), strconv.Quote(abs), 1)
		}
	}
	return src.Name()
}

// settingChange is one setting a resume changes.
type settingChange struct {
	Path, Old, New string
	// Effect says what the change does to the run.
	Effect string
	// Allowed changes continue without --allow-changes; impossible ones
	// are refused even with it.
	Allowed, Impossible bool
}

func (c settingChange) String() string {
	old, new := c.Old, c.New
	if old == "" {
		old = "(unset)"
	}
	if new == "" {
		new = "(unset)"
	}
	return fmt.Sprintf("%s %s → %s: %s", c.Path, old, new, c.Effect)
}

// settingChanges compares the settings recorded in the checkpoint st with
// the run's own.
func (r *run) settingChanges(st checkpoint.State) []settingChange {
	now := r.settings()
	var paths []string
	for p := range now {
		paths = append(paths, p)
	}
	for p := range st.Settings {
		if _, ok := now[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	s := st.Step
	lrNow := r.sched.LR(max(s, 1))
	lrSame := st.LR == lrNow || math.Abs(st.LR-lrNow) <= 1e-12*math.Abs(st.LR)
	lrEffect := func(what string) string {
		if lrSame {
			return what + "; the learning rate at step " + strconv.Itoa(s) + " stays " + fmtLR(lrNow)
		}
		return fmt.Sprintf("%s: the learning rate at step %d was %s, the new schedule gives %s", what, s, fmtLR(st.LR), fmtLR(lrNow))
	}
	var out []settingChange
	for _, p := range paths {
		old, cur := st.Settings[p], now[p]
		if p == momentsPath && old == "" && st.Settings["train.optimizer"] == lang.OptimizerAdamW {
			old = lang.MomentsF64 // AdamW kept float64 moments before the setting existed
		}
		if old == cur {
			continue
		}
		c := settingChange{Path: p, Old: old, New: cur}
		switch {
		case p == "train.steps":
			c.Effect = lrEffect("the run now ends at step " + cur + ", which reshapes a schedule that depends on the run's length")
			if lrSame {
				c.Effect = "the run now ends at step " + cur + "; the learning rate at step " + strconv.Itoa(s) + " stays " + fmtLR(lrNow)
			}
			c.Allowed = lrSame
		case p == momentsPath:
			c.Effect, c.Allowed = "the checkpoint's moments are converted ("+convertEffect(old, cur)+") and kept in "+cur+" from step "+strconv.Itoa(s+1), true
		case p == "train.optimizer":
			c.Effect, c.Impossible = "the checkpoint holds the state of "+old+"; "+cur+" cannot continue from it", true
		case p == "train.data.sampling":
			c.Effect, c.Impossible = "the checkpoint's data position is one of "+old+" sampling", true
		case p == "train.optimizer.lr" || strings.HasPrefix(p, "train.schedule"):
			c.Effect = lrEffect("changes the learning-rate schedule")
		case p == "train.batch" || p == "train.optimizer.accumulate" || p == "model.context":
			c.Effect = fmt.Sprintf("each step now trains on a different number of tokens (batch × context × accumulate = %d)", r.B*r.T*r.accum)
		case p == "train.data":
			c.Effect = "the run continues on other data"
		default:
			c.Effect = "changes every optimizer update from step " + strconv.Itoa(s+1)
		}
		out = append(out, c)
	}
	return out
}

// momentsPath is the setting of AdamW's moment precision.
const momentsPath = "train.optimizer.moments"

// convertEffect says how moments of precision old become cur.
func convertEffect(old, cur string) string {
	if old == lang.MomentsF32 && cur == lang.MomentsF64 {
		return "exactly"
	}
	return "rounded to the nearest float32"
}

// fmtLR prints a learning rate the way the log does.
func fmtLR(lr float64) string { return fmt.Sprintf("%.2e", lr) }

// checkChanges reports the settings a resume changes and refuses the
// ones that need --allow-changes (without it) or cannot be honoured. It
// returns the changes to record in the run's history.
func (r *run) checkChanges(st checkpoint.State) ([]string, error) {
	if st.Settings == nil {
		fmt.Fprintf(r.log, "note: the checkpoint records no settings (written by an older mhcc); changed settings cannot be checked\n")
		return nil, nil
	}
	changes := r.settingChanges(st)
	if len(changes) == 0 {
		return nil, nil
	}
	var lines, refused, impossible []string
	for _, c := range changes {
		lines = append(lines, "  "+c.String())
		switch {
		case c.Impossible:
			impossible = append(impossible, c.Path)
		case !c.Allowed && !r.opts.AllowChanges:
			refused = append(refused, c.Path)
		}
	}
	list := strings.Join(lines, "\n")
	switch {
	case len(impossible) > 0:
		return nil, refusef("--resume: this run's settings differ from those of the checkpoint at step %d:\n%s\n"+
			"%s cannot change in a resumed run; resume with the checkpoint's value or start a new run", st.Step, list, strings.Join(impossible, ", "))
	case len(refused) > 0:
		return nil, refusef("--resume: this run's settings differ from those of the checkpoint at step %d:\n%s\n"+
			"the continuation would not be the run the checkpoint belongs to: resume with the checkpoint's settings, "+
			"or pass --allow-changes to continue with the new ones (the change is recorded in the run's history)", st.Step, list)
	}
	fmt.Fprintf(r.log, "resuming with changed settings:\n%s\n", list)
	var hist []string
	for _, c := range changes {
		if c.Path != "train.seed" {
			hist = append(hist, fmt.Sprintf("step %d: %s %s → %s", st.Step, c.Path, c.Old, c.New))
		}
	}
	return hist, nil
}
