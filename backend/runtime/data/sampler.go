package data

import (
	"fmt"
	"math/rand/v2"
)

// Sampling modes of the training split.
const (
	// Random draws every window at a uniformly random offset (or, for a
	// synthetic source, generates a fresh sequence).
	Random = "random"
	// Sequential walks through the training split in order, window after
	// non-overlapping window, wrapping around at the end.
	Sequential = "sequential"
)

// Sampler draws training batches from a source in one sampling mode. Its
// only state besides the caller's rng is the sequential cursor, which a
// checkpoint saves (Cursor) and a resumed run restores (SetCursor).
type Sampler struct {
	src    Source
	win    Windowed
	mode   string
	cursor int
}

// NewSampler returns a sampler of src's training split. Sequential
// sampling needs a file source (a synthetic source has no order to walk).
func NewSampler(src Source, mode string) (*Sampler, error) {
	s := &Sampler{src: src, mode: mode}
	switch mode {
	case Random:
	case Sequential:
		w, ok := src.(Windowed)
		if !ok {
			return nil, fmt.Errorf("sampling=%s needs a data file; %s is generated", Sequential, src.Name())
		}
		s.win = w
	default:
		return nil, fmt.Errorf("unknown sampling %q (want %s or %s)", mode, Random, Sequential)
	}
	return s, nil
}

// Mode returns the sampling mode.
func (s *Sampler) Mode() string { return s.mode }

// Cursor returns the offset of the next sequential window (0 in random mode).
func (s *Sampler) Cursor() int { return s.cursor }

// SetCursor restores a cursor saved by Cursor.
func (s *Sampler) SetCursor(c int) error {
	if c < 0 || (s.win != nil && c > s.win.Len(Train)) || (s.win == nil && c != 0) {
		return fmt.Errorf("data cursor %d is outside %s", c, s.src.Name())
	}
	s.cursor = c
	return nil
}

// Batch fills B training windows of T tokens. Random mode draws from rng;
// sequential mode takes the next B windows at the cursor and advances it
// by T per window, starting over at 0 when the next window would run past
// the end of the split.
func (s *Sampler) Batch(rng *rand.Rand, B, T int, tokens, targets []int) {
	if s.win == nil {
		s.src.Batch(Train, rng, B, T, tokens, targets)
		return
	}
	checkBatchArgs(s.src.Name(), B, T, tokens, targets)
	n := s.win.Len(Train)
	for b := 0; b < B; b++ {
		if s.cursor+T+1 > n {
			s.cursor = 0
		}
		s.win.Window(Train, s.cursor, T, tokens[b*T:(b+1)*T], targets[b*T:(b+1)*T])
		s.cursor += T
	}
}
