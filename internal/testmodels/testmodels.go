// Package testmodels holds the small .mhc models that the tests of several
// packages share, as embedded files, with helpers that vary them. It is
// test support: only _test.go files import it.
//
// The files are in canonical layout (`mhcc fmt`) and carry no comments, so
// that positions stay put: a test pins a diagnostic of the residual
// statement, which Tiny keeps on line 5 at column 3. A model that a single test varies on purpose stays in that
// test; so do hostile and malformed inputs.
package testmodels

import (
	"embed"
	"fmt"
	"strings"
)

//go:embed *.mhc
var files embed.FS

// Names lists the embedded models' file names.
func Names() []string {
	entries, err := files.ReadDir(".")
	if err != nil {
		panic(err)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

// Source returns the embedded model file name, such as "tiny.mhc".
func Source(name string) string {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("testmodels: %v", err))
	}
	return string(b)
}

// Tiny returns tiny.mhc with its `residual plain` line replaced by the
// statement residual, such as "residual streams=4 constraint=birkhoff".
// tiny.mhc is the 2-layer (4-sublayer) LM, vocab 11, context 5, width 8,
// that is small enough for finite-difference checks of every parameter:
// the gradient and diagnostics tests of backend/runtime/train and the
// constraint tests of compiler use it.
func Tiny(residual string) string {
	return Replace(Source("tiny.mhc"), "  residual plain\n", "  "+residual+"\n")
}

// Deep returns deep.mhc with its `residual plain` line replaced by the
// statement residual. deep.mhc has 8 layers = 16 sublayers of width 16
// (vocab 13, context 6), so that `recompute=true` (segment 4) recomputes
// segments of three stream tensors: the recompute tests of
// backend/gorgonia/e2e use it.
func Deep(residual string) string {
	return Replace(Source("deep.mhc"), "  residual plain\n", "  "+residual+"\n")
}

// Small returns small.mhc with the given lines added at the end of its
// train block (a line may hold several statements separated by "\n  ").
// small.mhc is a byte-level mHC model, 2 streams, width 16, context 8,
// one layer, batch 2, a log line every step: a training step takes a few
// milliseconds, for the many short runs of backend/runtime/train and the
// signal tests of cmd/mhcc.
func Small(train ...string) string { return addTrain(Source("small.mhc"), train) }

// addTrain adds lines at the end of src's train block, which ends with
// `log every=1`.
func addTrain(src string, train []string) string {
	var b strings.Builder
	for _, line := range train {
		b.WriteString("  " + line + "\n")
	}
	return Replace(src, "  log every=1\n}\n", "  log every=1\n"+b.String()+"}\n")
}

// MoE returns moe.mhc with its `residual plain` line replaced by the
// statement residual, attrs (such as "balance=aux") added to its `moe`
// statement and the given lines added at the end of its train block, as
// Small does. moe.mhc is a dense first layer (attention and a GELU MLP)
// followed by two layers of attention and a mixture of 4 SwiGLU experts,
// 2 active and 1 shared, of hidden width 6 (vocab 11, context 5, width 8,
// batch 2, 40 steps, a log line every step): small enough for finite
// differences and short training runs.
func MoE(residual, attrs string, train ...string) string {
	src := Replace(Source("moe.mhc"), "  residual plain\n", "  "+residual+"\n")
	src = Replace(src, "shared=1 hidden=6\n", strings.TrimSpace("shared=1 hidden=6 "+attrs)+"\n")
	return addTrain(src, train)
}

// Minimal returns minimal.mhc, the smallest model that checks and trains:
// one block `a` holding an MLP, vocab 16, context 4, width 8, no train
// block. Tests that need any valid file (command-line exit codes, --set
// paths, an interrupted ablation, schema defaults) use it.
func Minimal() string { return Source("minimal.mhc") }

// Replace returns src with old replaced by new. It panics unless old
// occurs exactly once, so that a test's variation of a shared model
// cannot silently do nothing after the model changes.
func Replace(src, old, new string) string {
	if n := strings.Count(src, old); n != 1 {
		panic(fmt.Sprintf("testmodels: %q occurs %d times in\n%s", old, n, src))
	}
	return strings.Replace(src, old, new, 1)
}
