package data

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func binBytes(toks []uint16) []byte {
	b := make([]byte, 2*len(toks))
	for i, t := range toks {
		binary.LittleEndian.PutUint16(b[2*i:], t)
	}
	return b
}

func TestTokenBinLoadsSplitsAndWindows(t *testing.T) {
	toks := make([]uint16, 100)
	for i := range toks {
		toks[i] = uint16(1000 + i)
	}
	path := writeFile(t, "tok.bin", binBytes(toks))
	src, err := Open(path, "", 2000, 0.2)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.(*TokenBin); !ok || src.Vocab() != 2000 {
		t.Fatalf("Open(.bin) = %T vocab %d", src, src.Vocab())
	}
	if src.Len(Train) != 80 || src.Len(Val) != 20 {
		t.Fatalf("splits %d/%d", src.Len(Train), src.Len(Val))
	}
	tok, tgt := make([]int, 4), make([]int, 4)
	src.Window(Val, 3, 4, tok, tgt)
	if !slices.Equal(tok, []int{1083, 1084, 1085, 1086}) || !slices.Equal(tgt, []int{1084, 1085, 1086, 1087}) {
		t.Errorf("window = %v → %v", tok, tgt)
	}
	tok, tgt = make([]int, 3*5), make([]int, 3*5)
	src.Batch(Train, NewRand(1, 1), 3, 5, tok, tgt)
	for i := range tok {
		if tgt[i] != tok[i]+1 || tok[i] < 1000 || tgt[i] >= 1080 {
			t.Fatalf("batch token %d → %d is not consecutive training data", tok[i], tgt[i])
		}
	}
	if err := src.Check(19); err != nil {
		t.Errorf("Check(19): %v", err)
	}
	if err := src.Check(20); err == nil || !strings.Contains(err.Error(), "validation split has 20 tokens, need at least 21") {
		t.Errorf("Check(20) = %v", err)
	}
}

func TestTokenBinErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		content []byte
		vocab   int
		want    string
	}{
		{"empty.bin", nil, 10, "file is empty"},
		{"odd.bin", []byte{1, 0, 2}, 10, "not a whole number of uint16 tokens"},
		{"big.bin", binBytes([]uint16{1, 2, 10, 3}), 10, "token 10 at position 2 is outside the declared vocabulary of 10"},
		{"zero.bin", binBytes([]uint16{1}), 0, "declared vocabulary 0"},
	}
	for _, c := range cases {
		path := writeFile(t, c.name, c.content)
		_, err := LoadBin(path, c.vocab, 0.1)
		if err == nil || !strings.Contains(err.Error(), `"`+path+`"`) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v should name the file and say %q", c.name, err, c.want)
		}
	}
	missing := filepath.Join(dir, "missing.bin")
	if _, err := Open(missing, "", 10, 0.1); err == nil || !strings.Contains(err.Error(), "no such file") || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing: %v", err)
	}
	if _, err := Open(missing, "csv", 10, 0.1); err == nil || !strings.Contains(err.Error(), `unknown format "csv"`) {
		t.Errorf("bad format: %v", err)
	}
}

func TestSequentialSamplerWalksAndWraps(t *testing.T) {
	content := []byte("abcdefghijklmnopqrstuvwxyz") // 26 bytes, no validation
	path := writeFile(t, "abc.txt", content)
	src, err := LoadText(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSampler(src, Sequential)
	if err != nil {
		t.Fatal(err)
	}
	const B, T = 2, 5
	tok, tgt := make([]int, B*T), make([]int, B*T)
	str := func(xs []int) string {
		b := make([]byte, len(xs))
		for i, x := range xs {
			b[i] = byte(x)
		}
		return string(b)
	}
	var got []string
	for range 3 {
		s.Batch(nil, B, T, tok, tgt)
		got = append(got, str(tok[:T]), str(tok[T:]))
	}
	// Windows need T+1 = 6 bytes: starts 0, 5, 10, 15, 20; 25 does not fit, so wrap.
	want := []string{"abcde", "fghij", "klmno", "pqrst", "uvwxy", "abcde"}
	if !slices.Equal(got, want) {
		t.Errorf("windows %q, want %q", got, want)
	}
	if tgt[T-1] != 'z' || tgt[2*T-1] != 'f' {
		t.Errorf("last targets %c, %c, want z, f", tgt[T-1], tgt[2*T-1])
	}
	c := s.Cursor()
	s.Batch(nil, B, T, tok, tgt)
	next := str(tok)
	s2, _ := NewSampler(src, Sequential)
	if err := s2.SetCursor(c); err != nil {
		t.Fatal(err)
	}
	s2.Batch(nil, B, T, tok, tgt)
	if str(tok) != next {
		t.Errorf("restored cursor gives %q, want %q", str(tok), next)
	}
	if err := s2.SetCursor(1000); err == nil {
		t.Error("cursor past the end accepted")
	}
	if _, err := NewSampler(NewMarkov(8, 1), Sequential); err == nil || !strings.Contains(err.Error(), "needs a data file") {
		t.Errorf("sequential Markov: %v", err)
	}
	if _, err := NewSampler(src, "shuffled"); err == nil {
		t.Error("unknown sampling accepted")
	}
	if n := NumWindows(src, Train, 5); n != 5 {
		t.Errorf("NumWindows = %d, want 5", n)
	}
}

// TestRecallSequencesAreWellFormed checks every window against the task's
// definition with an independent parser: distinct keys with values in
// range, then queries of the window's keys each followed by its value.
func TestRecallSequencesAreWellFormed(t *testing.T) {
	r, err := NewRecall(256)
	if err != nil {
		t.Fatal(err)
	}
	const B, T = 16, 15
	P := r.Pairs(T)
	if P != 4 {
		t.Fatalf("Pairs(15) = %d, want 4", P)
	}
	tok, tgt := make([]int, B*T), make([]int, B*T)
	r.Batch(Train, NewRand(3, 3), B, T, tok, tgt)
	answers := 0
	for b := 0; b < B; b++ {
		s := append(append([]int(nil), tok[b*T:(b+1)*T]...), tgt[(b+1)*T-1])
		for i := 0; i < T; i++ {
			if tgt[b*T+i] != s[i+1] {
				t.Fatalf("targets are not the next tokens")
			}
		}
		val := map[int]int{}
		for i := 0; i < P; i++ {
			k, v := s[2*i], s[2*i+1]
			if k < 0 || k >= 32 || v < 32 || v >= 64 {
				t.Fatalf("pair %d = (%d, %d) out of range", i, k, v)
			}
			if _, dup := val[k]; dup {
				t.Fatalf("key %d repeated", k)
			}
			val[k] = v
		}
		for j := 2 * P; j+1 < len(s); j += 2 {
			v, ok := val[s[j]]
			if !ok || s[j+1] != v {
				t.Fatalf("query %d answered %d, want %d (window %v)", s[j], s[j+1], v, s)
			}
			answers++
		}
	}
	if answers == 0 {
		t.Fatal("no queries")
	}
	// Floor for T=15, P=4, 32 keys and values: targets 1..15 are
	// v k v k v k v (7: 4 values, 3 keys with 31, 30, 29 left) then
	// q a q a q a q a (8: 4 queries over P=4, 4 answers).
	want := (4*math.Log(32) + math.Log(31) + math.Log(30) + math.Log(29) + 4*math.Log(4)) / 15
	if got := r.LossFloor(T); math.Abs(got-want) > 1e-12 {
		t.Errorf("LossFloor(15) = %v, want %v", got, want)
	}
	tok2, tgt2 := make([]int, B*T), make([]int, B*T)
	r.Batch(Val, NewRand(3, 3), B, T, tok2, tgt2)
	if slices.Equal(tok, tok2) {
		t.Error("train and val windows are equal")
	}
	if _, err := NewRecall(3); err == nil {
		t.Error("vocab 3 accepted")
	}
}
