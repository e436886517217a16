package train

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/backend/runtime/checkpoint"
	"github.com/mhcc/mhcc/lang"
)

// SampleOptions configure Sample.
type SampleOptions struct {
	// Checkpoint is a checkpoint folder or a run folder (its newest).
	Checkpoint string
	// Prompt is the token ids to continue; empty starts from a newline
	// (token 10) or, for a vocabulary of 10 or fewer, token 0.
	Prompt []int
	// Tokens is the number of tokens to generate.
	Tokens int
	// Temperature divides the logits; 0 picks the most likely token.
	Temperature float64
	// TopK keeps the K most likely tokens before sampling; 0 keeps all.
	TopK int
	// Seed seeds the sampler.
	Seed uint64
	// Emit, if set, receives every generated token as it is produced.
	Emit func(tok int)
}

// SampleResult is what Sample generated.
type SampleResult struct {
	Checkpoint string
	Step       int
	Prompt     []int
	Tokens     []int // generated, without the prompt
}

// Sample loads a checkpoint of the model compiled from p and generates
// tokens autoregressively with a Decoder: the prompt (its last context
// tokens) goes into the key/value caches position by position, then each
// new token is drawn from the logits of the last one and fed in turn.
func Sample(p *lang.Program, opts SampleOptions) (*SampleResult, error) {
	V, T := p.Model.Vocab, p.Model.Context
	switch {
	case opts.Tokens < 0:
		return nil, fmt.Errorf("--tokens must be non-negative, got %d", opts.Tokens)
	case !(opts.Temperature >= 0) || math.IsInf(opts.Temperature, 0):
		return nil, fmt.Errorf("--temperature must be finite and non-negative, got %v", opts.Temperature)
	case opts.TopK < 0:
		return nil, fmt.Errorf("--top-k must be non-negative, got %d", opts.TopK)
	}
	for i, t := range opts.Prompt {
		if t < 0 || t >= V {
			return nil, fmt.Errorf("prompt token %d at position %d is outside the model's vocabulary of %d", t, i, V)
		}
	}
	dir, err := checkpoint.Resolve(opts.Checkpoint)
	if err != nil {
		return nil, err
	}
	var ck *checkpoint.Checkpoint
	dec, err := NewDecoder(p, func(g *gb.Graph) error {
		if ck, err = openCheckpoint(p, dir, checkpoint.Expect{Model: specs(g, nil)}); err != nil {
			return err
		}
		return loadModel(g, ck.Model, nil)
	})
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	seq := append([]int(nil), opts.Prompt...)
	if len(seq) == 0 {
		seq = []int{0}
		if V > 10 {
			seq[0] = '\n'
		}
	}
	res := &SampleResult{Checkpoint: dir, Step: ck.State.Step, Prompt: append([]int(nil), seq...)}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x73_616d_706c_65))
	var logits []float64
	for _, t := range seq[max(0, len(seq)-T):] {
		if logits, err = dec.Feed(t); err != nil {
			return nil, fmt.Errorf("sampling: %w", err)
		}
	}
	for i := range opts.Tokens {
		next, err := pickToken(logits, opts.Temperature, opts.TopK, rng)
		if err != nil {
			return nil, err
		}
		seq = append(seq, next)
		res.Tokens = append(res.Tokens, next)
		if opts.Emit != nil {
			opts.Emit(next)
		}
		if i+1 < opts.Tokens {
			if logits, err = dec.Feed(next); err != nil {
				return nil, fmt.Errorf("sampling: %w", err)
			}
		}
	}
	return res, nil
}

// pickToken samples from softmax(logits/temperature) restricted to the
// topK largest logits (all when topK is 0); temperature 0 is argmax.
func pickToken(logits []float64, temperature float64, topK int, rng *rand.Rand) (int, error) {
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
		if math.IsNaN(logits[i]) || math.IsInf(logits[i], 0) {
			return 0, fmt.Errorf("sampling: the model produced a non-finite logit for token %d", i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	if temperature == 0 {
		return idx[0], nil
	}
	if topK > 0 && topK < len(idx) {
		idx = idx[:topK]
	}
	mx := logits[idx[0]]
	w := make([]float64, len(idx))
	var total float64
	for i, t := range idx {
		w[i] = math.Exp((logits[t] - mx) / temperature)
		total += w[i]
	}
	u := rng.Float64() * total
	for i, t := range idx {
		u -= w[i]
		if u < 0 {
			return t, nil
		}
	}
	return idx[len(idx)-1], nil
}

// WriteTokens writes tokens as text: raw bytes for a vocabulary of at most
// 256 (byte-level models), otherwise space-separated token ids.
func WriteTokens(w io.Writer, vocab int, toks []int) error {
	if vocab <= 256 {
		b := make([]byte, len(toks))
		for i, t := range toks {
			b[i] = byte(t)
		}
		_, err := w.Write(b)
		return err
	}
	for i, t := range toks {
		sep := " "
		if i == 0 {
			sep = ""
		}
		if _, err := fmt.Fprintf(w, "%s%d", sep, t); err != nil {
			return err
		}
	}
	return nil
}
