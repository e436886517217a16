package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Recall is a synthetic associative-recall task that a model can only
// solve with attention. Every window is a fresh sequence
//
//	k1 v1 k2 v2 … kP vP  q1 a1 q2 a2 …
//
// of P key–value pairs (distinct keys, random values) followed by queries:
// each q is one of the window's keys and a is the value it was paired
// with. Keys are tokens [0, Keys), values [Keys, Keys+Values). Predicting
// an answer needs looking back to where its key appeared; everything else
// is random, so the best achievable loss (LossFloor) is known exactly.
type Recall struct {
	vocab  int
	keys   int
	values int
	name   string
}

// Recall task sizes used by NewRecall.
const (
	// RecallMaxKeys bounds the number of distinct keys.
	RecallMaxKeys = 32
	// RecallMaxValues bounds the number of distinct values.
	RecallMaxValues = 32
)

// NewRecall builds the task for a model vocabulary of vocab ≥ 4 tokens:
// min(vocab/2, RecallMaxKeys) keys and min(vocab−keys, RecallMaxValues)
// values.
func NewRecall(vocab int) (*Recall, error) {
	if vocab < 4 {
		return nil, fmt.Errorf("the recall task needs a vocabulary of at least 4 tokens, the model has %d", vocab)
	}
	k := min(vocab/2, RecallMaxKeys)
	v := min(vocab-k, RecallMaxValues)
	return &Recall{vocab: vocab, keys: k, values: v,
		name: fmt.Sprintf("recall(vocab=%d, keys=%d, values=%d)", vocab, k, v)}, nil
}

// Vocab returns the model vocabulary the task was built for.
func (r *Recall) Vocab() int { return r.vocab }

// Name describes the task.
func (r *Recall) Name() string { return r.name }

// Pairs returns the number of key–value pairs P of a window of context T:
// about a quarter of the window, so half of it holds pairs and half
// queries, at least 1 and at most the number of keys.
func (r *Recall) Pairs(T int) int { return max(1, min((T+1)/4, r.keys)) }

// Stream writes one sequence of n tokens into out, drawing from rng.
func (r *Recall) stream(rng *rand.Rand, P int, out []int) {
	perm := make([]int, r.keys)
	for i := range perm {
		perm[i] = i
	}
	vals := make([]int, P)
	for i := 0; i < P; i++ { // partial Fisher–Yates: P distinct keys
		j := i + rng.IntN(r.keys-i)
		perm[i], perm[j] = perm[j], perm[i]
		vals[i] = r.keys + rng.IntN(r.values)
	}
	for j := range out {
		switch {
		case j < 2*P && j%2 == 0:
			out[j] = perm[j/2]
		case j < 2*P:
			out[j] = vals[j/2]
		case (j-2*P)%2 == 0:
			q := rng.IntN(P)
			out[j] = perm[q]
			if j+1 < len(out) {
				out[j+1] = vals[q]
			}
		}
	}
}

// Batch fills B independent windows; the split selects an independent
// random stream derived from one draw of rng (as for Markov).
func (r *Recall) Batch(split Split, rng *rand.Rand, B, T int, tokens, targets []int) {
	checkBatchArgs(r.name, B, T, tokens, targets)
	stream := splitStreams[Train] ^ 0x7265_6361_6c6c
	if split == Val {
		stream = splitStreams[Val] ^ 0x7265_6361_6c6c
	}
	g := NewRand(rng.Uint64(), stream)
	P := r.Pairs(T)
	s := make([]int, T+1)
	for b := 0; b < B; b++ {
		r.stream(g, P, s)
		copy(tokens[b*T:(b+1)*T], s[:T])
		copy(targets[b*T:(b+1)*T], s[1:])
	}
}

// LossFloor returns the lowest expected mean next-token loss (nats) over
// a window of context T: the average over the T targets of the entropy of
// each target given everything before it, under the generating process.
// A key at pair i is uniform over the Keys−i unused keys, a value uniform
// over Values, a query uniform over the P keys, and an answer is
// determined (entropy 0) — the part only attention can get right.
func (r *Recall) LossFloor(T int) float64 {
	P := r.Pairs(T)
	var h float64
	for j := 1; j <= T; j++ {
		switch {
		case j < 2*P && j%2 == 0:
			h += math.Log(float64(r.keys - j/2))
		case j < 2*P:
			h += math.Log(float64(r.values))
		case (j-2*P)%2 == 0:
			h += math.Log(float64(P))
		}
	}
	return h / float64(T)
}

// LossFloor is EntropyRate for the Markov source: with windows starting
// in the stationary distribution the floor does not depend on T.
func (m *Markov) LossFloor(T int) float64 { return m.rate }
