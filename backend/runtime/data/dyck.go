package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Dyck is a synthetic task of nested brackets (a Dyck language with K
// bracket types) that rewards what the Markov task does not: to predict a
// closing bracket a model must find the innermost bracket still open,
// arbitrarily far back, which takes counting depth and attention over the
// window, and more of it the deeper the nesting. Every window is a fresh
// sequence that starts with nothing open:
//
//   - with nothing open, the next token opens a bracket of a uniformly
//     drawn type;
//   - with MaxDepth open, it closes the innermost;
//   - otherwise it opens one (probability Open, type uniform) or closes
//     the innermost.
//
// Tokens [0, K) open the types, [K, 2K) close them. The opening types are
// pure noise (log K nats each), the closing brackets are determined by
// the prefix, and LossFloor gives the exact best achievable loss.
type Dyck struct {
	vocab    int
	types    int
	maxDepth int
	open     float64
	name     string
}

// Dyck task sizes used by NewDyck.
const (
	// DyckMaxTypes bounds the number of bracket types.
	DyckMaxTypes = 8
	// DyckMaxDepth is the deepest nesting; a window of context T reaches
	// depths around √T, so it binds only in long windows.
	DyckMaxDepth = 32
	// DyckOpen is the probability of opening a bracket when both opening
	// and closing are possible.
	DyckOpen = 0.5
)

// NewDyck builds the task for a model vocabulary of vocab ≥ 2 tokens:
// min(vocab/2, DyckMaxTypes) bracket types.
func NewDyck(vocab int) (*Dyck, error) {
	if vocab < 2 {
		return nil, fmt.Errorf("the dyck task needs a vocabulary of at least 2 tokens, the model has %d", vocab)
	}
	k := min(vocab/2, DyckMaxTypes)
	return &Dyck{vocab: vocab, types: k, maxDepth: DyckMaxDepth, open: DyckOpen,
		name: fmt.Sprintf("dyck(vocab=%d, types=%d, max_depth=%d)", vocab, k, DyckMaxDepth)}, nil
}

// Vocab returns the model vocabulary the task was built for.
func (d *Dyck) Vocab() int { return d.vocab }

// Name describes the task.
func (d *Dyck) Name() string { return d.name }

// Types returns the number of bracket types K.
func (d *Dyck) Types() int { return d.types }

// stream writes one sequence into out, drawing from rng; stack is
// scratch space of at least maxDepth entries.
func (d *Dyck) stream(rng *rand.Rand, out, stack []int) {
	depth := 0
	for j := range out {
		opening := depth == 0 || (depth < d.maxDepth && rng.Float64() < d.open)
		if opening {
			t := rng.IntN(d.types)
			stack[depth] = t
			depth++
			out[j] = t
			continue
		}
		depth--
		out[j] = d.types + stack[depth]
	}
}

// Batch fills B independent windows; the split selects an independent
// random stream derived from one draw of rng (as for Markov).
func (d *Dyck) Batch(split Split, rng *rand.Rand, B, T int, tokens, targets []int) {
	checkBatchArgs(d.name, B, T, tokens, targets)
	stream := splitStreams[Train] ^ 0x6479_636b
	if split == Val {
		stream = splitStreams[Val] ^ 0x6479_636b
	}
	g := NewRand(rng.Uint64(), stream)
	s := make([]int, T+1)
	stack := make([]int, d.maxDepth)
	for b := 0; b < B; b++ {
		d.stream(g, s, stack)
		copy(tokens[b*T:(b+1)*T], s[:T])
		copy(targets[b*T:(b+1)*T], s[1:])
	}
}

// entropy is the entropy (nats) of the next token given that depth
// brackets are open.
func (d *Dyck) entropy(depth int) float64 {
	logK := math.Log(float64(d.types))
	switch depth {
	case 0:
		return logK
	case d.maxDepth:
		return 0
	}
	p := d.open
	return -p*math.Log(p) - (1-p)*math.Log(1-p) + p*logK
}

// LossFloor returns the lowest expected mean next-token loss (nats) over
// a window of context T: the mean over the targets j = 1…T of the entropy
// of token j given the tokens before it, which depends only on how many
// brackets are open before it. The distribution of that depth is carried
// forward exactly from depth 0 before token 0.
func (d *Dyck) LossFloor(T int) float64 {
	prob := make([]float64, d.maxDepth+1)
	prob[0] = 1
	next := make([]float64, d.maxDepth+1)
	var h float64
	for j := 0; j <= T; j++ {
		if j > 0 {
			for depth, p := range prob {
				h += p * d.entropy(depth)
			}
		}
		clear(next)
		for depth, p := range prob {
			switch depth {
			case 0:
				next[1] += p
			case d.maxDepth:
				next[depth-1] += p
			default:
				next[depth+1] += p * d.open
				next[depth-1] += p * (1 - d.open)
			}
		}
		prob, next = next, prob
	}
	return h / float64(T)
}
