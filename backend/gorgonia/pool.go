package gorgonia

import (
	"fmt"
	"math"
	"slices"

	G "gorgonia.org/gorgonia"

	"github.com/mhcc/mhcc/backend/gorgonia/kernels"
)

// The buffer plan.
//
// Every custom op writes its output into a buffer reused by every run
// (op.go). Giving each op a buffer of its own would keep every value of
// the step at once: the forward values, most of which the backward reads,
// and the backward's gradients, each written by the backward of an
// activation's consumer and dead once its producer's backward has read
// it — as much memory again as the activations. Instead, once the graph
// is built (with G.Grad's backward pass, if any), planBuffers takes the
// order the TapeMachine runs the nodes in (G.Sort reversed, as G.Compile
// does), computes when each buffer is written and last read, and places
// the buffers in a few shared slabs: a buffer reuses a slab whose previous
// buffer is dead (best fit by size). Every op checks at run time that it
// runs at the position the plan gave it (op.seq), so a change of
// Gorgonia's order is an error, never wrong numbers.
//
// What the plan places: the output of every float op and the further
// gradients of a multi-gradient backward kernel (the side slots its part
// nodes expose), except the stream tensors' shared buffers (streams.go),
// the loss and index results. Values read after the run (the outputs, a
// parameter's gradient) or outside the graph (the inputs of an hc.write
// whose result is recomputed, read again through the pointers its forward
// recorded) live to the end. The inputs that hc.write's and hc.read's
// backward leave to hc.coeffs's backward (streams.go's xParts) live until
// that later read (laterReads). A parameter's gradient is written straight
// into the buffer the optimizer reads (Param.GradF32) when its gradient
// node is an op of ours that nothing else reads, so Run copies only the
// others (those summed by G.Grad's stock Adds).
//
// Stock Gorgonia nodes (G.Grad's Adds of gradients that reach a node along
// several paths) may write their result into an input's memory
// (OverwritesInput), so that input is kept alive as long as the result.
// Kernels never rely on the contents of their output or of a side slot
// they write: an output is cleared by op.Do when the kernel accumulates
// into it (needsZero), everything else is overwritten; the tests run the
// plan with every placed buffer filled with NaN before its writer runs
// (PoisonPlacedBuffers).

// placed is one buffer the plan places: the value of node, written when the
// op at position start runs and last read at position end.
type placed struct {
	node       *G.Node
	n          int // elements
	start, end int
	// where it goes: the op's own output (o) or slot i of side
	o    *op
	side *kernels.Side
	slot int
	// param, when set, is the parameter whose gradient buffer this is
	param *Param
}

// poisonPlaced, when set, fills every placed buffer with NaN before the op
// that writes it runs (PoisonPlacedBuffers).
var poisonPlaced bool

// PoisonPlacedBuffers makes every graph fill the backward buffers of its
// buffer plan with NaN before their writers run, so that a kernel that
// read memory it had not written would show it in its results; it returns
// the previous setting. A test hook: not safe while graphs run.
func PoisonPlacedBuffers(on bool) bool {
	old := poisonPlaced
	poisonPlaced = on
	return old
}

// planBuffers places the buffers of gr (see above) and allocates the
// slabs, unless dry; gr.planned receives their size in elements.
func planBuffers(gr *Graph, dry bool) error {
	sorted, err := G.Sort(gr.g)
	if err != nil {
		return fmt.Errorf("gorgonia: ordering the graph: %w", err)
	}
	slices.Reverse(sorted) // the TapeMachine's order (G.Compile)
	pos := make(map[*G.Node]int, len(sorted))
	consumers := make(map[*G.Node][]*G.Node, len(sorted))
	for i, n := range sorted {
		pos[n] = i
		for _, c := range children(gr.g, n) {
			consumers[c] = append(consumers[c], n)
		}
	}
	gr.order = new(int)
	seq := 0
	for _, n := range sorted {
		if o, ok := n.Op().(*op); ok {
			o.seq, o.order = seq, gr.order
			seq++
		}
	}
	gradOf := map[*G.Node]*Param{}
	for _, p := range gr.params {
		if p.gradNode != nil {
			if _, dup := gradOf[p.gradNode]; dup {
				gradOf[p.gradNode] = nil // one node for two params: copy both
				continue
			}
			gradOf[p.gradNode] = p
		}
	}
	// the inputs of an hc.write whose result is recomputed are read again
	// by the recomputation, through the pointers its forward recorded
	pinned := map[*G.Node]bool{}
	for _, o := range gr.outs { // read after the run
		if o.node != nil {
			pinned[o.node] = true
		}
	}
	for _, n := range sorted {
		if o, ok := n.Op().(*op); ok {
			if k, ok := o.k.(hcWriteK); ok && k.out != nil {
				for _, c := range children(gr.g, n) {
					pinned[c] = true
				}
			}
		}
	}
	// last[n]: the last position at which n's memory is read, including
	// reads by a later kernel than n's consumers (streams.go)
	later := laterReads(gr.g, sorted, pos)
	const end = math.MaxInt
	last := make(map[*G.Node]int, len(sorted))
	for i := len(sorted) - 1; i >= 0; i-- {
		n := sorted[i]
		l := max(pos[n], later[n])
		if _, ok := gradOf[n]; ok || n == gr.loss || pinned[n] || len(consumers[n]) == 0 {
			l = end // read after the run, or outside the graph
		}
		for _, c := range consumers[n] {
			if o, ok := c.Op().(*op); ok {
				if _, part := o.k.(partK); part {
					continue // a part node does not read its backward node
				}
				l = max(l, pos[c])
			} else if aliases(c, n, gr.g) {
				l = max(l, last[c]) // c's result may be n's memory
			} else {
				l = max(l, pos[c])
			}
		}
		last[n] = l
	}
	var bufs, direct []*placed
	for _, n := range sorted {
		o, ok := n.Op().(*op)
		if !ok || o.scalarOut || o.ik != nil {
			continue
		}
		b := &placed{node: n, end: last[n]}
		if p, ok := o.k.(partK); ok {
			if p.g.acc != nil && p.i == p.g.accIdx {
				continue // a stream tensor's shared gradient
			}
			main := children(gr.g, n)[0]
			b.start, b.side, b.slot, b.n = pos[main], &p.g.Side, p.i, p.g.sizes[p.i]
			if mo, ok := main.Op().(*op); ok {
				mo.placedSides = append(mo.placedSides, b)
			}
		} else {
			if o.dst != nil {
				continue
			}
			b.start, b.o, b.n = pos[n], o, o.out.TotalSize()
			o.placedOut = b
		}
		if p := gradOf[n]; p != nil && consumersRead(consumers[n]) == 0 {
			b.param = p
			p.direct = true
			direct = append(direct, b)
			continue
		}
		bufs = append(bufs, b)
	}
	// place: walk the buffers by start; a slab is free once its buffer's
	// last read is before the new buffer's start
	type slab struct {
		size int
		busy int // position of the last read of its current buffer
		bufs []*placed
	}
	var slabs []*slab
	slices.SortStableFunc(bufs, func(a, b *placed) int { return a.start - b.start })
	for _, b := range bufs {
		var best *slab
		for _, s := range slabs {
			if s.busy >= b.start {
				continue
			}
			switch {
			case best == nil:
				best = s
			case s.size >= b.n && (best.size < b.n || s.size < best.size):
				best = s // the smallest that fits
			case best.size < b.n && s.size > best.size:
				best = s // none fits yet: the largest, grown
			}
		}
		if best == nil {
			best = &slab{}
			slabs = append(slabs, best)
		}
		best.size = max(best.size, b.n)
		best.busy = b.end
		best.bufs = append(best.bufs, b)
	}
	for _, s := range slabs {
		gr.planned += int64(s.size)
	}
	for _, b := range direct {
		gr.direct += int64(b.n)
	}
	if dry {
		return nil
	}
	for _, s := range slabs {
		switch gr.dt {
		case Float32:
			mem := make([]float32, s.size)
			for _, b := range s.bufs {
				b.assign32(mem[:b.n])
			}
		default:
			mem := make([]float64, s.size)
			for _, b := range s.bufs {
				b.assign64(mem[:b.n])
			}
		}
	}
	for _, b := range direct {
		if gr.dt == Float32 {
			b.assign32(b.param.g32)
		} else {
			b.assign64(b.param.g64)
		}
	}
	return nil
}

// aliases reports whether the stock node c may return its input n's
// memory as its result: the input it overwrites (OverwritesInput, which G.Grad's
// Adds declare for their first operand; the TapeMachine then writes in
// place when the operand is dead), or any input of an op that returns a
// pointer without saying which.
func aliases(c, n *G.Node, g *G.ExprGraph) bool {
	k := c.Op().OverwritesInput()
	if k < 0 {
		return c.Op().ReturnsPtr()
	}
	in := children(g, c)
	return k < len(in) && in[k] == n
}

// children returns the inputs of n, in order.
func children(g *G.ExprGraph, n *G.Node) []*G.Node {
	var out []*G.Node
	it := g.From(n.ID())
	for it.Next() {
		out = append(out, it.Node().(*G.Node))
	}
	return out
}

// consumersRead counts the consumers of a node that read its memory.
func consumersRead(cs []*G.Node) int {
	n := 0
	for _, c := range cs {
		if o, ok := c.Op().(*op); ok {
			if _, part := o.k.(partK); part {
				continue
			}
		}
		n++
	}
	return n
}

func (b *placed) assign32(mem []float32) {
	if b.o != nil {
		b.o.buf = mem
		return
	}
	kernels.SetSideBuf(b.side, b.slot, mem)
}

func (b *placed) assign64(mem []float64) {
	if b.o != nil {
		b.o.buf = mem
		return
	}
	kernels.SetSideBuf(b.side, b.slot, mem)
}

// poison fills the placed buffers an op is about to write with NaN
// (PoisonPlacedBuffers).
func poison[T float](o *op, y []T) {
	nan := T(math.NaN())
	if o.placedOut != nil {
		for i := range y {
			y[i] = nan
		}
	}
	for _, b := range o.placedSides {
		s := kernels.SideBuf[T](b.side, b.slot, b.n)
		for i := range s {
			s[i] = nan
		}
	}
}
