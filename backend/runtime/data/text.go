package data

import (
	"fmt"
	"math/rand/v2"
)

// ByteText is a text file used byte by byte: every byte is one token, so
// the vocabulary is 256. The last valFraction of the file (a contiguous
// tail) is the validation split; the rest is the training split.
type ByteText struct {
	path        string
	valFraction float64
	train, val  []byte
}

// LoadText maps the file at path (like LoadBin: memory follows what
// training reads, whatever the file's size) and splits it into a training head and a
// validation tail holding about valFraction of the bytes (0 ≤ valFraction
// < 1; 0 means no validation split). Errors name the file: a missing or
// unreadable file, an empty file, or a bad fraction. Whether the splits are
// long enough for a given context is checked by Check.
func LoadText(path string, valFraction float64) (*ByteText, error) {
	if !(valFraction >= 0 && valFraction < 1) {
		return nil, fmt.Errorf("data file %q: validation fraction %v is not in [0, 1)", path, valFraction)
	}
	size, err := readable("data file", path)
	if err != nil {
		return nil, err
	}
	b, err := mapFile(path, size)
	if err != nil {
		return nil, fmt.Errorf("data file %q: cannot read: %w", path, err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("data file %q: file is empty", path)
	}
	nVal := int(float64(len(b)) * valFraction)
	if valFraction > 0 && nVal == 0 {
		nVal = 1 // a requested split is never silently dropped; Check reports it as too short
	}
	cut := len(b) - nVal
	return &ByteText{path: path, valFraction: valFraction, train: b[:cut:cut], val: b[cut:]}, nil
}

// MappedBytes returns the size of the file, which is mapped into memory.
func (t *ByteText) MappedBytes() int64 { return int64(len(t.train) + len(t.val)) }

// Vocab returns 256.
func (t *ByteText) Vocab() int { return 256 }

// Name returns `text "<path>"`.
func (t *ByteText) Name() string { return fmt.Sprintf("text %q", t.path) }

// Path returns the file name the text was loaded from.
func (t *ByteText) Path() string { return t.path }

// Len returns the number of bytes in the split.
func (t *ByteText) Len(split Split) int { return len(t.split(split)) }

// Bytes returns the bytes of the split (shared, do not modify).
func (t *ByteText) Bytes(split Split) []byte { return t.split(split) }

func (t *ByteText) split(s Split) []byte {
	if s == Val {
		return t.val
	}
	return t.train
}

// Check reports whether both splits hold at least one window of context T
// plus its final target (T+1 bytes). With a validation fraction of 0 only
// the training split is checked. The error names the file, e.g.
//
//	data file "x.txt": validation split has 40 bytes, need at least 129 for context 128
func (t *ByteText) Check(T int) error {
	if T <= 0 {
		return fmt.Errorf("data file %q: context %d must be positive", t.path, T)
	}
	if len(t.train) < T+1 {
		return fmt.Errorf("data file %q: training split has %d bytes, need at least %d for context %d",
			t.path, len(t.train), T+1, T)
	}
	if t.valFraction > 0 && len(t.val) < T+1 {
		return fmt.Errorf("data file %q: validation split has %d bytes, need at least %d for context %d",
			t.path, len(t.val), T+1, T)
	}
	return nil
}

// Batch fills B windows at uniformly random offsets of the split. Each
// window is T+1 consecutive bytes w: tokens get w[0:T], targets w[1:T+1].
// It panics if the split is shorter than T+1 bytes (call Check first).
func (t *ByteText) Batch(split Split, rng *rand.Rand, B, T int, tokens, targets []int) {
	checkBatchArgs(t.Name(), B, T, tokens, targets)
	src := t.split(split)
	if len(src) < T+1 {
		panic(fmt.Sprintf("data: data file %q: %v split has %d bytes, need at least %d for context %d",
			t.path, split, len(src), T+1, T))
	}
	for b := 0; b < B; b++ {
		start := rng.IntN(len(src) - T) // start+T ≤ len(src)-1
		w := src[start : start+T+1]
		tok, tgt := tokens[b*T:(b+1)*T], targets[b*T:(b+1)*T]
		for i := 0; i < T; i++ {
			tok[i] = int(w[i])
			tgt[i] = int(w[i+1])
		}
	}
}
