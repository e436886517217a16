package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for a person.
func WriteText(w io.Writer, r *Report) error {
	m := r.Machine
	cpu := m.CPU
	if cpu == "" {
		cpu = "unknown CPU"
	}
	fmt.Fprintf(w, "machine: %s, %d CPUs (GOMAXPROCS %d), %s\n", cpu, m.NumCPU, m.GOMAXPROCS, m.GoVersion)
	blas := m.BLAS
	if m.OpenBLASThreads != "" {
		blas += ", OPENBLAS_NUM_THREADS=" + m.OpenBLASThreads
	}
	fmt.Fprintf(w, "BLAS: %s\n", blas)
	twoGEMMs := len(r.Models) == 2 && r.Models[0].GEMM != r.Models[1].GEMM
	switch {
	case r.PeakGFLOPS > 0 && twoGEMMs:
		a, b := r.Models[0], r.Models[1]
		fmt.Fprintf(w, "matmul peak: %.1f GFLOP/s on %s, %.1f GFLOP/s on %s (%s, the GEMMs of the models, alternated)\n",
			a.PeakGFLOPS, a.GEMM, b.PeakGFLOPS, b.GEMM, r.PeakShape)
	case r.PeakGFLOPS > 0:
		fmt.Fprintf(w, "matmul peak: %.1f GFLOP/s (%s, same GEMM as the backend)\n", r.PeakGFLOPS, r.PeakShape)
	}
	fmt.Fprintf(w, "%d timed steps per model after %d warm-up steps", r.Steps, r.Warmup)
	if len(r.Models) == 2 {
		fmt.Fprint(w, ", the two models interleaved step by step")
	}
	fmt.Fprintln(w)
	for _, md := range r.Models {
		fmt.Fprintln(w)
		writeModel(w, md, r.PeakGFLOPS > 0, twoGEMMs)
	}
	if r.Ratio != nil && len(r.Models) == 2 {
		la, lb := ratioLabels(r.Models[0], r.Models[1])
		fmt.Fprintf(w, "\nratio %s / %s: %.3f× median step time (median of %d interleaved pairs: %.3f×; CPU time: %.3f×)\n",
			la, lb, r.Ratio.OfMedians, r.Ratio.Pairs, r.Ratio.PairedMedian, r.Ratio.CPUOfMedians)
		if r.Ratio.PeakRatio > 0 {
			fmt.Fprintf(w, "matmul peak ratio %s / %s: %.3f×\n", r.Models[0].GEMM, r.Models[1].GEMM, r.Ratio.PeakRatio)
		}
		if r.Models[1].Runtime != "" {
			fmt.Fprintf(w, "speedup over %s: %.2f× (its median step time / %s's)\n", lb, 1/r.Ratio.OfMedians, la)
		}
	}
	if r.PeakRSS > 0 {
		fmt.Fprintf(w, "\npeak RSS of the run: %s\n", mib(r.PeakRSS))
	}
	return nil
}

func label(m *Model) string {
	if m.File != "" {
		return m.File
	}
	return m.Name
}

// ratioLabels names the two models of a ratio, with their levels when the
// files are the same.
func ratioLabels(a, b *Model) (string, string) {
	la, lb := label(a), label(b)
	if la == lb && a.GEMM != b.GEMM {
		return la + " on " + a.GEMM, lb + " on " + b.GEMM
	}
	if la == lb || a.Level != b.Level {
		la, lb = la+" "+a.Level, lb+" "+b.Level
	}
	return la, lb
}

func writeModel(w io.Writer, m *Model, hasPeak, showGEMM bool) {
	if m.Runtime != "" {
		fmt.Fprintf(w, "%s (model %s, %s, B=%d T=%d, %s params, %d streams)\n",
			label(m), m.Name, m.Level, m.Batch, m.Context, group(m.Params), m.Streams)
		fmt.Fprintf(w, "  runtime      %s\n", m.Runtime)
	} else {
		fmt.Fprintf(w, "%s (model %s, %s, B=%d T=%d, %s params, %d streams, %d graph nodes)\n",
			label(m), m.Name, m.Level, m.Batch, m.Context, group(m.Params), m.Streams, m.Nodes)
		if showGEMM {
			fmt.Fprintf(w, "  GEMM         %s\n", m.GEMM)
		}
	}
	s := m.Step
	fmt.Fprintf(w, "  step time    median %s  IQR %s (%s–%s)  min %s  max %s\n",
		ms(s.Median), ms(s.IQR()), ms(s.Q1), ms(s.Q3), ms(s.Min), ms(s.Max))
	fmt.Fprintf(w, "  CPU time     median %s per step (%.2f cores busy)\n", ms(m.CPU.Median), float64(m.CPU.Median)/float64(max(s.Median, 1)))
	fmt.Fprintf(w, "  throughput   %s tokens/s\n", group(int64(m.TokensPerSec+0.5)))
	fmt.Fprintf(w, "  model FLOPs  %.3g GFLOP/step (forward + backward, from the IR analysis)\n", m.FLOPsPerStep/1e9)
	if hasPeak {
		fmt.Fprintf(w, "  achieved     %.1f GFLOP/s = %.1f%% MFU\n", m.GFLOPS, 100*m.MFU)
	} else {
		fmt.Fprintf(w, "  achieved     %.1f GFLOP/s\n", m.GFLOPS)
	}
	mem := m.Memory
	if m.Runtime != "" {
		if mem.PeakRSS > 0 {
			fmt.Fprintf(w, "  memory       peak RSS %s (its own process)\n", mib(mem.PeakRSS))
		}
		return
	}
	if mem.PeakRSS > 0 {
		fmt.Fprintf(w, "  memory       peak RSS %s, +%s for this model; theory %s = params %s + grads %s + optimizer %s + activations %s\n",
			mib(mem.PeakRSS), mib(mem.Growth), mib(mem.Theory()), mib(mem.ParamBytes), mib(mem.GradBytes), mib(mem.OptimizerBytes), mib(mem.ActivationBytes))
	} else {
		fmt.Fprintf(w, "  memory       theory %s = params %s + grads %s + optimizer %s + activations %s (no /proc: RSS unknown)\n",
			mib(mem.Theory()), mib(mem.ParamBytes), mib(mem.GradBytes), mib(mem.OptimizerBytes), mib(mem.ActivationBytes))
	}
	if sp := m.StreamPlan; sp.Accumulated > 0 || sp.Recomputed > 0 {
		fmt.Fprintf(w, "  streams      %d stream tensors with one accumulated gradient each", sp.Accumulated)
		if sp.Recomputed > 0 {
			fmt.Fprintf(w, "; %d recomputed in the backward pass (segment %d)", sp.Recomputed, sp.Segment)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  Go heap      %s allocated per step\n", mib(m.AllocPerStep))
	fmt.Fprintf(w, "  time by op   (ms/step, share of the mean step)\n")
	for _, o := range m.Ops {
		fmt.Fprintf(w, "    %8.2f  %5.1f%%  %s\n", o.Ms, 100*o.Share, o.Op)
	}
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
}

func mib(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// group prints an integer with thousands separators.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
