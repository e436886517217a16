package bench

import (
	"fmt"
	"time"
)

// External is a model timed in another process, one step whenever Run
// asks, so that its steps interleave with this process's model (the
// emitted PyTorch module of `mhcc bench --vs-torch`, backend/torch).
type External interface {
	// Start builds the model and runs its warm-up steps (and whatever
	// choice of settings precedes them).
	Start(warmup int) (ExternalInfo, error)
	// Step runs one training step (forward, backward, clipping, optimizer)
	// and returns its times as measured inside the other process.
	Step() (ExternalStep, error)
}

// ExternalInfo describes an external model for the report.
type ExternalInfo struct {
	// Label names the model in the report and in the ratio line.
	Label string
	// Level says how it runs (for PyTorch: "eager").
	Level  string
	Params int64
	// Runtime describes the runtime and its settings (version, threads).
	Runtime string
}

// ExternalStep is one step of an external model.
type ExternalStep struct {
	Wall, CPU time.Duration
	Loss      float64
	// PeakRSS is the other process's peak resident set so far (0: unknown).
	PeakRSS int64
}

// newExternal starts x and returns its model in the report, which shares
// the FLOPs, batch and context of first (the same program).
func newExternal(x External, first *Model, warmup int) (*Model, error) {
	info, err := x.Start(warmup)
	if err != nil {
		return nil, err
	}
	m := &Model{File: info.Label, Name: first.Name, Level: info.Level, Batch: first.Batch, Context: first.Context,
		Params: info.Params, Streams: first.Streams, FLOPsPerStep: first.FLOPsPerStep, Runtime: info.Runtime,
		opTime: map[string]time.Duration{}, ext: x}
	return m, nil
}

// stepExternal runs one step of an external model and records its times.
func (m *Model) stepExternal() (time.Duration, error) {
	s, err := m.ext.Step()
	if err != nil {
		return 0, fmt.Errorf("bench: %s: %w", m.File, err)
	}
	m.times = append(m.times, s.Wall)
	m.cpu = append(m.cpu, s.CPU)
	m.Loss = s.Loss
	m.Memory.PeakRSS = s.PeakRSS
	return s.Wall, nil
}
