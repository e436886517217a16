package train

import (
	"fmt"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/lang"
)

// Decoder generates text one token at a time with a model's decoding
// module (compiler.LowerDecode) on a forward-only graph (no backward pass,
// no optimizer state). The keys and values of every attention sublayer
// (for multi-head latent attention, its latents) stay in caches, which are
// the graph's cache inputs: a step computes one position, whatever the
// length of the text before it.
//
// While the text fits the model's context, the logits of a step are those
// the full forward pass over the text gives at its last position. When the
// cache is full, the decoder keeps the newest half of the context,
// rebuilds the cache from it (positions start again at 0) and goes on:
// every token is then predicted from at least half a context of text.
type Decoder struct {
	g       *gb.Graph
	caches  []compiler.DecodeCache
	bufs    [][]float32 // per cache: its live input
	context int
	window  []int // the tokens in the cache, at positions 0, 1, …
	outs    []string
}

// NewDecoder builds the decoding graph of p at -O2 (batch 1, one position
// per step) and calls load to set its parameters (by the names of the
// training module). It refuses a model whose graph, key/value caches and
// checkpoint cannot fit in memory (a *memcheck.TooLargeError).
func NewDecoder(p *lang.Program, load func(g *gb.Graph) error) (*Decoder, error) {
	m, caches, err := compiler.LowerDecode(p)
	if err != nil {
		return nil, err
	}
	if _, err := compiler.RunPasses(m, compiler.DefaultOptions()); err != nil {
		return nil, err
	}
	if err := checkDecodeMemory(p, m); err != nil {
		return nil, err
	}
	g, err := gb.Build(m, gb.Options{Binds: map[string]int{compiler.SymBatch: 1, compiler.SymTime: 1}, DType: gb.Float32})
	if err != nil {
		return nil, fmt.Errorf("building the decoding graph: %w", err)
	}
	d := &Decoder{g: g, caches: caches, context: p.Model.Context, outs: []string{compiler.OutputLogits}}
	for _, c := range caches {
		buf, _, err := g.FloatInput(c.In)
		if err != nil {
			g.Close()
			return nil, err
		}
		d.bufs = append(d.bufs, buf)
		d.outs = append(d.outs, c.Out)
	}
	if err := load(g); err != nil {
		g.Close()
		return nil, err
	}
	return d, nil
}

// Close releases the graph.
func (d *Decoder) Close() { d.g.Close() }

// Reset forgets the text: the next token goes to position 0.
func (d *Decoder) Reset() { d.window = d.window[:0] }

// Len returns the number of tokens in the cache.
func (d *Decoder) Len() int { return len(d.window) }

// Feed appends tok to the text and returns the logits of the token that
// follows it. A full cache is first rebuilt from its newest half.
func (d *Decoder) Feed(tok int) ([]float64, error) {
	if len(d.window) == d.context {
		keep := max(d.context/2, 1) - 1 // older tokens kept besides tok
		old := append([]int(nil), d.window[len(d.window)-keep:]...)
		d.Reset()
		for _, t := range old {
			if _, err := d.step(t); err != nil {
				return nil, err
			}
		}
	}
	return d.step(tok)
}

// step computes position len(window) for tok and appends its rows (keys
// and values, or latents) to the caches.
func (d *Decoder) step(tok int) ([]float64, error) {
	pos := len(d.window)
	if err := d.g.SetInput(compiler.InputTokens, []int{tok}); err != nil {
		return nil, err
	}
	if err := d.g.SetInput(compiler.InputDecodePos, []int{pos}); err != nil {
		return nil, err
	}
	out, err := d.g.RunOutputs(d.outs...)
	if err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	for i, c := range d.caches {
		rows, cache := out[c.Out], d.bufs[i] // [1,H,1,w] into [1,H,S,w] at row pos
		for h := 0; h < c.Heads; h++ {
			dst := cache[(h*c.Capacity+pos)*c.Width : (h*c.Capacity+pos+1)*c.Width]
			for k, x := range rows[h*c.Width : (h+1)*c.Width] {
				dst[k] = float32(x)
			}
		}
	}
	d.window = append(d.window, tok)
	return out[compiler.OutputLogits], nil
}
