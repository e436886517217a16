// Package data provides the token streams mhcc trains on: the bytes of a
// text file (ByteText) and a synthetic first-order Markov chain (Markov)
// that needs no file and whose best achievable loss is known exactly.
//
// A Source fills batches of B windows of T tokens together with their
// next-token targets. Every random choice comes from the *rand.Rand handed
// to Batch, so equal seeds give equal batches.
package data

import (
	"fmt"
	"math/rand/v2"
)

// Split selects the training or the held-out validation part of a source.
type Split int

const (
	// Train is the training split.
	Train Split = iota
	// Val is the held-out validation split.
	Val
)

// String returns "train" or "val".
func (s Split) String() string {
	switch s {
	case Train:
		return "train"
	case Val:
		return "val"
	}
	return fmt.Sprintf("split(%d)", int(s))
}

// Source is a stream of token windows for next-token prediction.
type Source interface {
	// Vocab is the number of distinct token ids; every token and target is
	// in [0, Vocab()).
	Vocab() int
	// Name describes the source for logs, e.g. `text "input.txt"`.
	Name() string
	// Batch fills tokens and targets (each of length at least B·T,
	// row-major [B, T]) with B windows of T consecutive tokens of the split;
	// targets[i] is the token that follows tokens[i] in the same stream.
	// All randomness comes from rng. Batch panics on a programming error
	// (short buffers, non-positive B or T, or a split too short for T; see
	// the Check methods of the concrete sources).
	Batch(split Split, rng *rand.Rand, B, T int, tokens, targets []int)
}

// NewRand returns a deterministic PCG-backed generator for the given seed
// and stream; use different streams for independent consumers (for
// example the train and validation batch samplers).
func NewRand(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

// checkBatchArgs panics with a descriptive message if the batch buffers or
// sizes are unusable.
func checkBatchArgs(name string, B, T int, tokens, targets []int) {
	if B <= 0 || T <= 0 {
		panic(fmt.Sprintf("data: %s: batch size %d and context %d must be positive", name, B, T))
	}
	if len(tokens) < B*T || len(targets) < B*T {
		panic(fmt.Sprintf("data: %s: buffers of length %d and %d are too short for batch %d×%d",
			name, len(tokens), len(targets), B, T))
	}
}
