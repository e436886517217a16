package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Markov chain defaults used by NewMarkov.
const (
	// MarkovStates is the number of active tokens (states) of the chain.
	MarkovStates = 32
	// MarkovSuccessors is the number of possible successors of each state.
	MarkovSuccessors = 4
)

// Per-split PCG stream constants: Batch derives a fresh generator from one
// draw of the caller's rng and the split's stream, so the train and
// validation windows are different sequences even for identically seeded
// callers, while both come from the same chain.
var splitStreams = [...]uint64{Train: 0x7472_6169_6e5f_6d6b, Val: 0x7661_6c5f_5f5f_6d6b}

// Markov is a synthetic source: a fixed first-order Markov chain over a
// few active tokens of the vocabulary. Each window starts in a state drawn
// from the stationary distribution and then follows the chain, so the
// expected next-token loss of a perfect model is exactly EntropyRate.
type Markov struct {
	vocab  int
	name   string
	tokens []int       // state → token id
	state  []int       // token id → state, or −1 for inactive tokens
	p      [][]float64 // dense K×K transition matrix
	succ   [][]int     // per state: successor states with p > 0
	cum    [][]float64 // per state: cumulative probabilities over succ
	pi     []float64   // stationary distribution
	piCum  []float64   // cumulative stationary distribution
	rate   float64     // entropy rate, nats/token
}

// NewMarkov builds the default synthetic source for a model vocabulary of
// vocab tokens: K = min(MarkovStates, vocab) active tokens chosen by the
// seed, each with min(MarkovSuccessors, K) successors weighted by
// Dirichlet(1)-distributed probabilities (floored so none is negligible).
// The successor structure always contains the cycle 0→1→…→K−1→0 and the
// edge 0→2 mod K, so the chain is irreducible and aperiodic. The same
// (vocab, seed) always gives the same chain. Any vocab ≥ 1 works (a single
// token gives the trivial chain of entropy rate 0); NewMarkov panics if
// vocab < 1, which a checked program never has.
func NewMarkov(vocab int, seed uint64) *Markov {
	if vocab < 1 {
		panic(fmt.Sprintf("data: markov source: vocabulary %d must be positive", vocab))
	}
	rng := NewRand(seed, 0x6d68_6363_6d61_726b)
	K := min(MarkovStates, vocab)
	S := min(MarkovSuccessors, K)
	tokens := rng.Perm(vocab)[:K]
	p := make([][]float64, K)
	for i := range p {
		p[i] = make([]float64, K)
		succ := []int{(i + 1) % K}
		if i == 0 && (2%K) != succ[0] {
			succ = append(succ, 2%K)
		}
		for _, j := range rng.Perm(K) {
			if len(succ) == S {
				break
			}
			if !contains(succ, j) {
				succ = append(succ, j)
			}
		}
		var total float64
		w := make([]float64, len(succ))
		for k := range w {
			w[k] = 0.1 + rng.ExpFloat64() // Dirichlet(1) weights up to normalisation, floored
			total += w[k]
		}
		for k, j := range succ {
			p[i][j] = w[k] / total
		}
	}
	m, err := NewChain(vocab, tokens, p)
	if err != nil {
		panic(fmt.Sprintf("data: markov source: %v", err)) // unreachable: the rows above are valid
	}
	m.name = fmt.Sprintf("markov(vocab=%d, states=%d, successors=%d, seed=%d)", vocab, K, S, seed)
	return m
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// NewChain builds a Markov source from an explicit chain: tokens[i] is the
// token id of state i (distinct, in [0, vocab)) and p[i][j] the probability
// of moving from state i to state j (rows are non-negative and sum to 1
// within 1e-9; they are renormalised exactly). Useful for tests and for
// hand-designed synthetic tasks.
func NewChain(vocab int, tokens []int, p [][]float64) (*Markov, error) {
	K := len(tokens)
	if K == 0 {
		return nil, fmt.Errorf("markov chain: no states")
	}
	if len(p) != K {
		return nil, fmt.Errorf("markov chain: %d states but %d transition rows", K, len(p))
	}
	m := &Markov{
		vocab:  vocab,
		tokens: append([]int(nil), tokens...),
		state:  make([]int, vocab),
		p:      make([][]float64, K),
		succ:   make([][]int, K),
		cum:    make([][]float64, K),
	}
	for t := range m.state {
		m.state[t] = -1
	}
	for i, t := range tokens {
		if t < 0 || t >= vocab {
			return nil, fmt.Errorf("markov chain: token %d of state %d is outside the vocabulary [0, %d)", t, i, vocab)
		}
		if m.state[t] >= 0 {
			return nil, fmt.Errorf("markov chain: token %d is used by states %d and %d", t, m.state[t], i)
		}
		m.state[t] = i
	}
	for i, row := range p {
		if len(row) != K {
			return nil, fmt.Errorf("markov chain: row %d has %d entries, want %d", i, len(row), K)
		}
		var total float64
		for j, x := range row {
			if !(x >= 0) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("markov chain: p[%d][%d] = %v is not a probability", i, j, x)
			}
			total += x
		}
		if math.Abs(total-1) > 1e-9 {
			return nil, fmt.Errorf("markov chain: row %d sums to %v, not 1", i, total)
		}
		m.p[i] = make([]float64, K)
		var c float64
		for j, x := range row {
			m.p[i][j] = x / total
			if x > 0 {
				c += x / total
				m.succ[i] = append(m.succ[i], j)
				m.cum[i] = append(m.cum[i], c)
			}
		}
		m.cum[i][len(m.cum[i])-1] = 1 // guard against rounding in sampling
	}
	m.pi = stationary(m.p)
	m.piCum = make([]float64, K)
	var c float64
	for i, x := range m.pi {
		c += x
		m.piCum[i] = c
	}
	m.piCum[K-1] = 1
	for i, row := range m.p {
		var h float64
		for _, x := range row {
			if x > 0 {
				h -= x * math.Log(x)
			}
		}
		m.rate += m.pi[i] * h
	}
	m.name = fmt.Sprintf("markov(vocab=%d, states=%d, explicit)", vocab, K)
	return m, nil
}

// stationary returns the stationary distribution π = πP by power
// iteration on the lazy chain (P+I)/2, which has the same stationary
// distribution and converges for every irreducible chain, periodic or not.
func stationary(p [][]float64) []float64 {
	K := len(p)
	pi := make([]float64, K)
	next := make([]float64, K)
	for i := range pi {
		pi[i] = 1 / float64(K)
	}
	for iter := 0; iter < 1_000_000; iter++ {
		for j := range next {
			next[j] = 0.5 * pi[j]
		}
		for i, row := range p {
			h := 0.5 * pi[i]
			for j, x := range row {
				next[j] += h * x
			}
		}
		var sum, diff float64
		for _, x := range next {
			sum += x
		}
		for j := range next {
			next[j] /= sum
			diff += math.Abs(next[j] - pi[j])
		}
		pi, next = next, pi
		if diff < 1e-15 {
			break
		}
	}
	return pi
}

// Vocab returns the vocabulary size the chain was built for.
func (m *Markov) Vocab() int { return m.vocab }

// Name describes the chain, including its seed.
func (m *Markov) Name() string { return m.name }

// States returns the token ids of the active states, in state order.
func (m *Markov) States() []int { return append([]int(nil), m.tokens...) }

// Stationary returns the stationary probability of every token (zero for
// inactive tokens), indexed by token id.
func (m *Markov) Stationary() []float64 {
	out := make([]float64, m.vocab)
	for i, t := range m.tokens {
		out[t] = m.pi[i]
	}
	return out
}

// Prob returns the probability that token next follows token cur (zero if
// either is inactive or out of range).
func (m *Markov) Prob(cur, next int) float64 {
	if cur < 0 || cur >= m.vocab || next < 0 || next >= m.vocab {
		return 0
	}
	i, j := m.state[cur], m.state[next]
	if i < 0 || j < 0 {
		return 0
	}
	return m.p[i][j]
}

// EntropyRate returns H = Σᵢ πᵢ · (−Σⱼ Pᵢⱼ ln Pᵢⱼ), the entropy rate of the
// chain in nats per token under its stationary distribution π: the lowest
// expected next-token cross-entropy any model can reach on this source.
func (m *Markov) EntropyRate() float64 { return m.rate }

// Batch fills B independent windows; each starts in a state drawn from the
// stationary distribution and follows the chain for T more steps. The
// split selects an independent random stream derived from one draw of rng.
func (m *Markov) Batch(split Split, rng *rand.Rand, B, T int, tokens, targets []int) {
	checkBatchArgs(m.name, B, T, tokens, targets)
	stream := splitStreams[Train]
	if split == Val {
		stream = splitStreams[Val]
	}
	r := NewRand(rng.Uint64(), stream)
	for b := 0; b < B; b++ {
		s := pick(m.piCum, r.Float64())
		tok, tgt := tokens[b*T:(b+1)*T], targets[b*T:(b+1)*T]
		for t := 0; t < T; t++ {
			n := m.succ[s][pick(m.cum[s], r.Float64())]
			tok[t] = m.tokens[s]
			tgt[t] = m.tokens[n]
			s = n
		}
	}
}

// pick returns the first index whose cumulative probability exceeds u.
func pick(cum []float64, u float64) int {
	for i, c := range cum {
		if u < c {
			return i
		}
	}
	return len(cum) - 1
}
