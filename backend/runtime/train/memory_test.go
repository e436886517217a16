package train

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/backend/runtime/data"
	"github.com/mhcc/mhcc/backend/runtime/memcheck"
	"github.com/mhcc/mhcc/internal/testmodels"
)

// TestSyntheticWindowsAreLazy: the validation windows of synthetic data
// are generated as they are read. 65536 batches of 1024 windows of 64
// tokens (68 GiB of token ids, had they been built up front, as they
// were) cost one batch of buffers, and reading them in order gives the
// windows that generating every batch first gave.
func TestSyntheticWindowsAreLazy(t *testing.T) {
	src := data.NewMarkov(16, 3)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	ws := syntheticWindows(src, 7, 1024, 64, 1<<16)
	runtime.ReadMemStats(&ms)
	if got := ms.TotalAlloc - before; got > 4<<20 {
		t.Errorf("making the windows allocated %d bytes, want at most two batches of buffers (1 MiB each)", got)
	}
	if ws.n != 1<<26 {
		t.Fatalf("%d windows, want 65536 × 1024", ws.n)
	}

	// the earlier eager generation: every batch in turn from one generator
	const B, T, batches = 3, 5, 4
	rng := rand.New(rand.NewPCG(7, 0x7661_6c)) // the validation stream
	want := make([]int, batches*B*T)
	wantTgt := make([]int, batches*B*T)
	for b := range batches {
		src.Batch(data.Val, rng, B, T, want[b*B*T:(b+1)*B*T], wantTgt[b*B*T:(b+1)*B*T])
	}
	ws = syntheticWindows(src, 7, B, T, batches)
	for pass := range 2 { // a second pass (the next evaluation) starts again
		tok, tgt := make([]int, T), make([]int, T)
		for i := range ws.n {
			ws.fill(i, tok, tgt)
			if !slices.Equal(tok, want[i*T:(i+1)*T]) || !slices.Equal(tgt, wantTgt[i*T:(i+1)*T]) {
				t.Fatalf("pass %d, window %d: %v → %v, want %v → %v", pass, i, tok, tgt, want[i*T:(i+1)*T], wantTgt[i*T:(i+1)*T])
			}
		}
	}
	// out of order: window 1 of batch 2, then window 0 of batch 0
	tok, tgt := make([]int, T), make([]int, T)
	for _, i := range []int{2*B + 1, 0} {
		ws.fill(i, tok, tgt)
		if !slices.Equal(tok, want[i*T:(i+1)*T]) {
			t.Errorf("window %d read out of order: %v, want %v", i, tok, want[i*T:(i+1)*T])
		}
	}
}

// TestRunRefusesWhatCannotFit: Run, Evaluate and NewDecoder check the
// memory before they build anything: with MHCC_MEMORY below the estimate
// they refuse with a *memcheck.TooLargeError naming the command.
func TestRunRefusesWhatCannotFit(t *testing.T) {
	t.Setenv(memcheck.EnvOverride, "1M")
	p, m := compile(t, testmodels.Small())
	dir := t.TempDir()
	var tl *memcheck.TooLargeError
	if _, err := Run(p, m, Options{Steps: 1, OutDir: dir}); !errors.As(err, &tl) || !strings.HasPrefix(tl.Estimate.What, "training ") {
		t.Errorf("Run: %v", err)
	}
	t.Setenv(memcheck.EnvOverride, "off")
	if _, err := Run(p, m, Options{Steps: 1, OutDir: dir}); err != nil {
		t.Fatalf("Run with the check off: %v", err)
	}
	t.Setenv(memcheck.EnvOverride, "1M")
	if _, err := Evaluate(p, m, EvalOptions{Checkpoint: dir}); !errors.As(err, &tl) || !strings.HasPrefix(tl.Estimate.What, "evaluating ") {
		t.Errorf("Evaluate: %v", err)
	}
	if _, err := Sample(p, SampleOptions{Checkpoint: dir, Tokens: 1}); !errors.As(err, &tl) || !strings.HasPrefix(tl.Estimate.What, "sampling from ") {
		t.Errorf("Sample: %v", err)
	}
}
