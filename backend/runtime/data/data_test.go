package data

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	// Defines -update, which `go test ./... -update` hands to every test binary.
	_ "github.com/mhcc/mhcc/internal/golden"
)

func writeFile(t *testing.T, name string, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// testText is 1000 bytes of a varied, deterministic pattern.
func testText() []byte {
	b := make([]byte, 1000)
	for i := range b {
		b[i] = byte((i*7 + i/256*13) % 256)
	}
	return b
}

func TestByteTextWindowsAndTargetsAlign(t *testing.T) {
	content := testText()
	path := writeFile(t, "in.txt", content)
	src, err := LoadText(path, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if src.Vocab() != 256 {
		t.Fatalf("Vocab = %d, want 256", src.Vocab())
	}
	if got, want := src.Len(Train), 900; got != want {
		t.Fatalf("train length %d, want %d", got, want)
	}
	if got, want := src.Len(Val), 100; got != want {
		t.Fatalf("val length %d, want %d", got, want)
	}
	if !bytes.Equal(src.Bytes(Train), content[:900]) || !bytes.Equal(src.Bytes(Val), content[900:]) {
		t.Fatal("splits are not the contiguous head and tail of the file")
	}
	const B, T = 8, 16
	tokens, targets := make([]int, B*T), make([]int, B*T)
	rng := NewRand(1, 2)
	for _, split := range []Split{Train, Val} {
		for iter := 0; iter < 50; iter++ {
			src.Batch(split, rng, B, T, tokens, targets)
			part := src.Bytes(split)
			for b := 0; b < B; b++ {
				tok, tgt := tokens[b*T:(b+1)*T], targets[b*T:(b+1)*T]
				for i := 0; i < T-1; i++ {
					if tgt[i] != tok[i+1] {
						t.Fatalf("%v window %d: targets[%d]=%d but tokens[%d]=%d", split, b, i, tgt[i], i+1, tok[i+1])
					}
				}
				w := make([]byte, T+1)
				for i := range T {
					w[i] = byte(tok[i])
				}
				w[T] = byte(tgt[T-1])
				if !bytes.Contains(part, w) {
					t.Fatalf("%v window %d (%v) is not T+1 consecutive bytes of its split", split, b, w)
				}
			}
		}
	}
}

func TestByteTextValNeverOverlapsTrain(t *testing.T) {
	// The training head uses bytes 0..127 and the validation tail bytes
	// 128..255, so any window crossing the boundary or drawn from the wrong
	// split shows up as an out-of-range byte, targets included.
	content := make([]byte, 2000)
	for i := range content {
		if i < 1500 {
			content[i] = byte(i % 128) // train: 0..127
		} else {
			content[i] = byte(128 + i%128) // val: 128..255
		}
	}
	path := writeFile(t, "split.txt", content)
	src, err := LoadText(path, 0.25)
	if err != nil {
		t.Fatal(err)
	}
	const B, T = 4, 32
	tokens, targets := make([]int, B*T), make([]int, B*T)
	rng := NewRand(7, 7)
	for iter := 0; iter < 200; iter++ {
		src.Batch(Train, rng, B, T, tokens, targets)
		for i := range tokens {
			if tokens[i] >= 128 || targets[i] >= 128 {
				t.Fatalf("train batch contains validation byte %d/%d", tokens[i], targets[i])
			}
		}
		src.Batch(Val, rng, B, T, tokens, targets)
		for i := range tokens {
			if tokens[i] < 128 || targets[i] < 128 {
				t.Fatalf("val batch contains training byte %d/%d", tokens[i], targets[i])
			}
		}
	}
}

func TestByteTextDeterminism(t *testing.T) {
	path := writeFile(t, "det.txt", testText())
	src, err := LoadText(path, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	batch := func(seed uint64) []int {
		tok, tgt := make([]int, 4*8), make([]int, 4*8)
		src.Batch(Train, NewRand(seed, 0), 4, 8, tok, tgt)
		return append(tok, tgt...)
	}
	if !slices.Equal(batch(3), batch(3)) {
		t.Fatal("equal seeds gave different batches")
	}
	if slices.Equal(batch(3), batch(4)) {
		t.Fatal("different seeds gave equal batches")
	}
}

func TestByteTextErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.txt")
	_, err := LoadText(missing, 0.1)
	if err == nil || !strings.Contains(err.Error(), `"`+missing+`"`) || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: error %v should name %q and say it does not exist", err, missing)
	}

	empty := writeFile(t, "empty.txt", nil)
	_, err = LoadText(empty, 0.1)
	if err == nil || !strings.Contains(err.Error(), `"`+empty+`"`) || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty file: error %v should name %q and say it is empty", err, empty)
	}

	_, err = LoadText(dir, 0.1) // a directory is unreadable as a file
	if err == nil || !strings.Contains(err.Error(), `"`+dir+`"`) {
		t.Errorf("directory: error %v should name %q", err, dir)
	}

	_, err = LoadText(empty, 1.5)
	if err == nil || !strings.Contains(err.Error(), `"`+empty+`"`) {
		t.Errorf("bad fraction: error %v should name %q", err, empty)
	}

	// 400 bytes with 10% validation: train 360, val 40.
	short := writeFile(t, "x.txt", bytes.Repeat([]byte("a"), 400))
	src, err := LoadText(short, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Check(39); err != nil {
		t.Errorf("Check(39) = %v, want nil (40 bytes fit context 39)", err)
	}
	err = src.Check(128)
	want := `data file "` + short + `": validation split has 40 bytes, need at least 129 for context 128`
	if err == nil || err.Error() != want {
		t.Errorf("Check(128) = %v, want %s", err, want)
	}
	err = src.Check(400)
	if err == nil || !strings.Contains(err.Error(), "training split has 360 bytes, need at least 401") ||
		!strings.Contains(err.Error(), short) {
		t.Errorf("Check(400) = %v, want a training-split error naming the file", err)
	}
}

func TestByteTextNoValidation(t *testing.T) {
	path := writeFile(t, "noval.txt", testText())
	src, err := LoadText(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if src.Len(Train) != 1000 || src.Len(Val) != 0 {
		t.Fatalf("split lengths %d/%d, want 1000/0", src.Len(Train), src.Len(Val))
	}
	if err := src.Check(999); err != nil {
		t.Fatalf("Check(999) = %v", err)
	}
}

func TestMarkovDeterminismAndSplits(t *testing.T) {
	const B, T = 4, 64
	batch := func(m *Markov, split Split, seed uint64) []int {
		tok, tgt := make([]int, B*T), make([]int, B*T)
		m.Batch(split, NewRand(seed, 1), B, T, tok, tgt)
		for i := range tok {
			if i%T != T-1 && tgt[i] != tok[i+1] {
				t.Fatalf("targets[%d]=%d but tokens[%d]=%d", i, tgt[i], i+1, tok[i+1])
			}
			if m.Prob(tok[i], tgt[i]) == 0 {
				t.Fatalf("transition %d→%d has probability 0", tok[i], tgt[i])
			}
		}
		return append(tok, tgt...)
	}
	m1 := NewMarkov(256, 42)
	m2 := NewMarkov(256, 42)
	m3 := NewMarkov(256, 43)
	if !slices.Equal(batch(m1, Train, 5), batch(m2, Train, 5)) {
		t.Error("equal chain and batch seeds gave different batches")
	}
	if slices.Equal(batch(m1, Train, 5), batch(m1, Train, 6)) {
		t.Error("different batch seeds gave equal batches")
	}
	if slices.Equal(batch(m1, Train, 5), batch(m1, Val, 5)) {
		t.Error("train and val streams are equal for the same rng seed")
	}
	if slices.Equal(m1.States(), m3.States()) || m1.EntropyRate() == m3.EntropyRate() {
		t.Error("different chain seeds gave the same chain")
	}
	if m1.EntropyRate() != m2.EntropyRate() {
		t.Error("equal chain seeds gave different entropy rates")
	}
	if got := len(m1.States()); got != MarkovStates {
		t.Errorf("%d active states, want %d", got, MarkovStates)
	}
}

func TestMarkovSmallVocab(t *testing.T) {
	for _, vocab := range []int{2, 3, 5, 32, 33, 65} {
		m := NewMarkov(vocab, 1)
		if m.Vocab() != vocab || len(m.States()) != min(vocab, MarkovStates) {
			t.Errorf("vocab %d: Vocab()=%d, %d states", vocab, m.Vocab(), len(m.States()))
		}
		var sum float64
		for _, p := range m.Stationary() {
			sum += p
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Errorf("vocab %d: stationary distribution sums to %v", vocab, sum)
		}
		if h := m.EntropyRate(); !(h > 0 && h <= math.Log(float64(min(vocab, MarkovSuccessors)))+1e-12) {
			t.Errorf("vocab %d: entropy rate %v outside (0, ln successors]", vocab, h)
		}
		tok, tgt := make([]int, 50), make([]int, 50)
		m.Batch(Train, NewRand(1, 1), 5, 10, tok, tgt)
		for i := range tok {
			if tok[i] < 0 || tok[i] >= vocab || tgt[i] < 0 || tgt[i] >= vocab {
				t.Fatalf("vocab %d: token %d / target %d out of range", vocab, tok[i], tgt[i])
			}
		}
	}
	// A single token is the trivial chain: always the same token, entropy 0.
	m := NewMarkov(1, 1)
	tok, tgt := make([]int, 6), make([]int, 6)
	m.Batch(Val, NewRand(1, 1), 2, 3, tok, tgt)
	if m.EntropyRate() != 0 || !slices.Equal(tok, make([]int, 6)) || !slices.Equal(tgt, make([]int, 6)) {
		t.Errorf("vocab 1: entropy %v, tokens %v, targets %v", m.EntropyRate(), tok, tgt)
	}
	defer func() {
		if recover() == nil {
			t.Error("NewMarkov(0) did not panic")
		}
	}()
	NewMarkov(0, 1)
}

func TestEntropyRateTwoStateClosedForm(t *testing.T) {
	// Two-state chain P = [[1−a, a], [b, 1−b]] with a = 0.2, b = 0.4.
	// Stationary: π₀·a = π₁·b (flow balance) and π₀+π₁ = 1, so
	// π = (b/(a+b), a/(a+b)) = (2/3, 1/3).
	// Row entropies are binary entropies h(q) = −q ln q − (1−q) ln(1−q):
	// h(0.2) = 0.2·1.6094379 + 0.8·0.2231436 = 0.5004024,
	// h(0.4) = 0.4·0.9162907 + 0.6·0.5108256 = 0.6730117,
	// H = π₀ h(a) + π₁ h(b) = 2/3·0.5004024 + 1/3·0.6730117 = 0.5579388 nats.
	a, b := 0.2, 0.4
	m, err := NewChain(10, []int{3, 7}, [][]float64{{1 - a, a}, {b, 1 - b}})
	if err != nil {
		t.Fatal(err)
	}
	h := func(q float64) float64 { return -q*math.Log(q) - (1-q)*math.Log(1-q) }
	want := b/(a+b)*h(a) + a/(a+b)*h(b)
	if got := m.EntropyRate(); math.Abs(got-want) > 1e-12 {
		t.Errorf("EntropyRate = %.15f, want %.15f", got, want)
	}
	if got := m.EntropyRate(); math.Abs(got-0.5579388) > 1e-6 {
		t.Errorf("EntropyRate = %.7f, want 0.5579388", got)
	}
	pi := m.Stationary()
	if math.Abs(pi[3]-2.0/3) > 1e-12 || math.Abs(pi[7]-1.0/3) > 1e-12 {
		t.Errorf("stationary = (%v, %v), want (2/3, 1/3)", pi[3], pi[7])
	}
}

func TestEmpiricalLossMatchesEntropyRate(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		m := NewMarkov(256, seed)
		const T = 400_000
		tok, tgt := make([]int, T), make([]int, T)
		m.Batch(Train, NewRand(seed, 99), 1, T, tok, tgt)
		var nll float64
		for i := range tok {
			nll -= math.Log(m.Prob(tok[i], tgt[i]))
		}
		nll /= T
		h := m.EntropyRate()
		if math.Abs(nll-h) > 0.01*h {
			t.Errorf("seed %d: empirical loss %.5f differs from entropy rate %.5f by more than 1%%", seed, nll, h)
		}
		t.Logf("seed %d: entropy rate %.5f nats, empirical %.5f", seed, h, nll)
	}
}

func TestNewChainErrors(t *testing.T) {
	cases := []struct {
		name   string
		vocab  int
		tokens []int
		p      [][]float64
	}{
		{"no states", 4, nil, nil},
		{"row count", 4, []int{0, 1}, [][]float64{{1, 0}}},
		{"token range", 4, []int{0, 4}, [][]float64{{0, 1}, {1, 0}}},
		{"duplicate token", 4, []int{1, 1}, [][]float64{{0, 1}, {1, 0}}},
		{"row sum", 4, []int{0, 1}, [][]float64{{0.5, 0.4}, {1, 0}}},
		{"negative", 4, []int{0, 1}, [][]float64{{1.5, -0.5}, {1, 0}}},
		{"ragged", 4, []int{0, 1}, [][]float64{{1}, {1, 0}}},
	}
	for _, c := range cases {
		if _, err := NewChain(c.vocab, c.tokens, c.p); err == nil {
			t.Errorf("%s: NewChain succeeded, want an error", c.name)
		}
	}
}

func TestSourceInterface(t *testing.T) {
	var _ Source = (*ByteText)(nil)
	var _ Source = (*Markov)(nil)
}
