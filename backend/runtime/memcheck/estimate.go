// Package memcheck keeps a run from asking for more memory than it can
// get. Go's runtime cannot recover from running out of memory (it prints
// `fatal error: out of memory` and a goroutine dump), so every command that
// allocates something big — training, eval, sample, bench, each run of an
// ablation — first estimates what it needs and compares that with what the
// process can still get; a run that cannot fit is refused with the
// estimate, its largest parts, the limit that binds and how to reduce it.
//
// The estimate (Estimate) is built from parts: the graphs a command builds
// (gorgonia.EstimateMemory walks the lowered IR's values with their shapes
// resolved at the run's batch and context), the optimizer state, the
// checkpoint being read or written, mapped data files and an allowance
// for the runtime itself. The limits (Limits) are the cgroup's memory limit
// (v2 memory.max, v1 memory.limit_in_bytes) minus its usage, MemAvailable
// from /proc/meminfo, and the address-space limit RLIMIT_AS (`ulimit -v`)
// minus what the process has mapped. MHCC_MEMORY overrides them (Check).
package memcheck

import (
	"fmt"
	"sort"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/compiler"
	"github.com/mhcc/mhcc/ir"
)

// Part is one named part of an estimate.
type Part struct {
	// Name says what the memory is for ("activations", "AdamW moments").
	Name string
	// Bytes is the estimate.
	Bytes float64
	// Detail says what it is made of ("batch 16 × context 128; …").
	Detail string
	// AddressOnly marks address space that is not memory: a file mapped
	// into memory (its pages are the file's own, which the kernel can drop
	// at any time) or reservations. It counts against the address-space
	// limit only.
	AddressOnly bool
	// InUse marks memory the process holds already (a data file mapped
	// before the check): what the limits count as used includes it, so it
	// is no part of the need; a refusal lists it for the user to see.
	InUse bool
	// Hint says how to make the part smaller ("" when nothing helps).
	Hint string
}

// Estimate is what one command needs.
type Estimate struct {
	// What is the command, for messages ("training tiny.mhc").
	What  string
	Parts []Part
	// packed is the index in Parts of the GEMM's packed buffers, which the
	// graphs share (one pool for the process): the largest graph's need;
	// 0 before a graph needs them (Parts[0] is the runtime's allowance).
	packed int
}

// New starts an estimate for the command what, with the runtime's own
// allowances (RuntimeAllowance, AddressReserve).
func New(what string) *Estimate {
	e := &Estimate{What: what}
	e.Add(Part{Name: "runtime", Bytes: RuntimeAllowance,
		Detail: "the Go runtime, thread stacks and the kernels' scratch"})
	e.Add(Part{Name: "address-space reserve", Bytes: AddressReserve + gb.BLASAddressSpace(), AddressOnly: true,
		Detail: "heap arenas mapped 64 MiB at a time, C heap arenas, new threads' stacks, the BLAS's buffers"})
	return e
}

// RuntimeAllowance is the memory a run needs besides its tensors: the Go
// runtime's own structures (the collector's metadata grows with the
// heap), goroutine and thread stacks and the C kernels' scratch (the
// GEMM's packed rows of A, up to 150 KiB per thread that runs it; its
// packed B, Go heap that a pool keeps, is a part of its own: AddGraph).
// Measured: the resident
// memory of small.mhc's training (tensors of 2 MiB) grows by 2–5 MiB
// after the check. The garbage a training step leaves (about 1% of its
// graph) is not in it: Check sets the collector's memory limit, so that
// near a limit garbage is collected rather than allowed to pile up.
const RuntimeAllowance = 32 << 20

// AddressReserve is the address space a run maps besides its memory,
// counted against an address-space limit only: the Go heap grows in
// arenas of 64 MiB, the C library reserves 64 MiB per malloc arena (two:
// package kernels limits them), and every new thread reserves its stack
// (8 MiB by default); the BLAS's buffers come on top
// (gorgonia.BLASAddressSpace). Measured under `ulimit -v` with the check
// off: examples/tiny.mhc at batch 2 (tensors of 146 MiB) fails with 269
// MiB of address space left and trains with 316 MiB, so it maps 120–170
// MiB besides its tensors; the reserve is about twice that. With the
// check on, 45 runs of it at batches 2 and 16 with limits scanned across
// the boundary, in the default and the openblas builds, were each refused
// or trained: none ran out of memory.
const AddressReserve = 256 << 20

// addPacked makes the part of the GEMM's packed buffers at least bytes.
func (e *Estimate) addPacked(bytes float64) {
	if e.packed > 0 && e.packed < len(e.Parts) && e.Parts[e.packed].Name == packedPart {
		e.Parts[e.packed].Bytes = max(e.Parts[e.packed].Bytes, bytes)
		return
	}
	if bytes > 0 {
		e.packed = len(e.Parts)
		e.Add(Part{Name: packedPart, Bytes: bytes,
			Detail: "the GEMM's packed second operands, kept by its pool for reuse: the largest product's and one per CPU for products run side by side"})
	}
}

// packedPart names the part of the GEMM's packed buffers.
const packedPart = "GEMM packed operands"

// Add appends a part; parts of zero bytes are dropped.
func (e *Estimate) Add(p Part) {
	if p.Bytes > 0 {
		e.Parts = append(e.Parts, p)
	}
}

// Total is the sum of the parts still to be allocated.
func (e *Estimate) Total() float64 {
	t := 0.0
	for _, p := range e.Parts {
		if !p.InUse {
			t += p.Bytes
		}
	}
	return t
}

// Resident is the sum of the parts still to be allocated that take
// memory (all but address space only).
func (e *Estimate) Resident() float64 {
	t := 0.0
	for _, p := range e.Parts {
		if !p.AddressOnly && !p.InUse {
			t += p.Bytes
		}
	}
	return t
}

// Largest returns the parts by decreasing size.
func (e *Estimate) Largest() []Part {
	ps := append([]Part(nil), e.Parts...)
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Bytes > ps[j].Bytes })
	return ps
}

// Graph describes one graph a command builds, for AddGraph.
type Graph struct {
	// Name prefixes the parts of a graph other than the training graph
	// ("evaluation graph"); "" for the main graph, whose parts are
	// "parameters", "gradients", "activations" and "activation gradients".
	Name string
	// Module is the lowered, optimised module.
	Module *ir.Module
	// Batch and Context bind the symbolic dimensions B and T.
	Batch, Context int
	// Grad builds the backward pass.
	Grad bool
	// Shared: the graph shares the parameters of another one.
	Shared bool
	// Detail describes the activations ("" for "batch B × context T").
	Detail string
	// Hint says how to make the graph's activations smaller.
	Hint string
	// ParamHint says how to make the parameters smaller.
	ParamHint string
}

// AddGraph adds the parts of a graph: what gorgonia.EstimateMemory says
// Build and the first Run allocate. It returns the estimate of the graph.
func (e *Estimate) AddGraph(g Graph) (gb.Memory, error) {
	binds := map[string]int{compiler.SymBatch: g.Batch, compiler.SymTime: g.Context}
	mem, err := gb.EstimateMemory(g.Module, gb.Options{Binds: binds, DType: gb.Float32, Grad: g.Grad}, g.Shared)
	if err != nil {
		return mem, err
	}
	act := mem.Inputs + mem.Planned + mem.Values + mem.State + mem.Graph
	detail := g.Detail
	if detail == "" {
		detail = fmt.Sprintf("batch %d × context %d", g.Batch, g.Context)
	}
	if l := largest(g.Module, mem); l != "" {
		detail += "; largest " + l
	}
	e.addPacked(mem.Packed)
	if g.Name != "" {
		e.Add(Part{Name: g.Name, Bytes: act + mem.Backward + mem.Params + mem.ParamGrads, Detail: detail, Hint: g.Hint})
		return mem, nil
	}
	params := 0.0
	for _, v := range g.Module.Values {
		if v.Op == ir.OpParam {
			n, _ := v.Type.Shape.Size()
			params += float64(n)
		}
	}
	e.Add(Part{Name: "parameters", Bytes: mem.Params, Detail: fmt.Sprintf("%.0f float32 parameters", params), Hint: g.ParamHint})
	e.Add(Part{Name: "gradients", Bytes: mem.ParamGrads, Detail: "one float32 per parameter (two where the backward sums several)", Hint: g.ParamHint})
	e.Add(Part{Name: "activations", Bytes: act, Detail: detail + "; with their gradients in buffers shared by liveness", Hint: g.Hint})
	e.Add(Part{Name: "stream gradients", Bytes: mem.Backward, Detail: "the hyper-connection streams' accumulated gradients", Hint: g.Hint})
	return mem, nil
}

// largest describes the largest buffer of a graph estimate: its type, op
// and source position.
func largest(m *ir.Module, mem gb.Memory) string {
	v := mem.Largest
	if v == nil {
		return ""
	}
	what := fmt.Sprintf("the output %s of %s", v.Type, v.Op)
	if mem.LargestKept {
		what = fmt.Sprintf("what %s keeps besides its output", v.Op)
	}
	at := ""
	if v.Pos.Line > 0 {
		at = fmt.Sprintf(" (%s:%s)", m.Source, v.Pos)
	}
	return fmt.Sprintf("%s%s, %s", what, at, Bytes(mem.LargestBytes))
}

// Bytes prints a byte count in binary units: "41.2 GiB".
func Bytes(n float64) string { return compiler.FormatBytes(n) }
