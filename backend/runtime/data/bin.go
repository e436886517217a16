package data

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"unsafe"
)

// TokenBin is a token file in the common flat format: little-endian
// uint16 token ids, no header (as written by nanoGPT's and llm.c's
// prepare scripts). Its vocabulary is declared by the caller and checked
// against every token. Like ByteText the last valFraction of the tokens is
// the validation split.
type TokenBin struct {
	path        string
	vocab       int
	valFraction float64
	train, val  []uint16
}

// MaxBinVocab is the largest vocabulary a uint16 token file can hold.
const MaxBinVocab = 1 << 16

// LoadBin maps the uint16 token file at path with the declared vocabulary
// (every id must be below it) and splits it like LoadText. The tokens are
// the file's own pages, mapped read-only, not a copy: memory follows what
// training reads. Errors name the file: missing, not a regular file,
// unreadable, empty, an odd number of bytes, a token id outside the
// vocabulary (with its position; a file that looks like text says so),
// or a bad fraction.
func LoadBin(path string, vocab int, valFraction float64) (*TokenBin, error) {
	if vocab < 1 || vocab > MaxBinVocab {
		return nil, fmt.Errorf("token file %q: declared vocabulary %d is not in [1, %d]", path, vocab, MaxBinVocab)
	}
	if !(valFraction >= 0 && valFraction < 1) {
		return nil, fmt.Errorf("token file %q: validation fraction %v is not in [0, 1)", path, valFraction)
	}
	size, err := readable("token file", path)
	if err != nil {
		return nil, err
	}
	if size%2 != 0 {
		return nil, fmt.Errorf("token file %q: %d bytes is not a whole number of uint16 tokens%s", path, size, textHint(path))
	}
	if err := checkTokens(path, vocab); err != nil {
		return nil, err
	}
	b, err := mapFile(path, size)
	if err != nil {
		return nil, fmt.Errorf("token file %q: cannot read: %w", path, err)
	}
	toks := uint16s(b)
	nVal := int(float64(len(toks)) * valFraction)
	if valFraction > 0 && nVal == 0 {
		nVal = 1
	}
	cut := len(toks) - nVal
	return &TokenBin{path: path, vocab: vocab, valFraction: valFraction, train: toks[:cut:cut], val: toks[cut:]}, nil
}

// Vocab returns the declared vocabulary.
func (t *TokenBin) Vocab() int { return t.vocab }

// Name returns `tokens "<path>" (uint16, vocab N)`.
func (t *TokenBin) Name() string { return fmt.Sprintf("tokens %q (uint16, vocab %d)", t.path, t.vocab) }

// Path returns the file name the tokens were loaded from.
func (t *TokenBin) Path() string { return t.path }

// MappedBytes returns the size of the file, which is mapped into memory.
func (t *TokenBin) MappedBytes() int64 { return 2 * int64(len(t.train)+len(t.val)) }

// Len returns the number of tokens in the split.
func (t *TokenBin) Len(split Split) int { return len(t.split(split)) }

func (t *TokenBin) split(s Split) []uint16 {
	if s == Val {
		return t.val
	}
	return t.train
}

// Check reports whether both splits hold at least T+1 tokens (see
// ByteText.Check); errors name the file.
func (t *TokenBin) Check(T int) error {
	return checkSplits("token file", t.path, "tokens", T, len(t.train), len(t.val), t.valFraction)
}

// Batch fills B windows at uniformly random offsets of the split.
func (t *TokenBin) Batch(split Split, rng *rand.Rand, B, T int, tokens, targets []int) {
	checkBatchArgs(t.Name(), B, T, tokens, targets)
	n := t.Len(split)
	if n < T+1 {
		panic(fmt.Sprintf("data: token file %q: %v split has %d tokens, need at least %d for context %d", t.path, split, n, T+1, T))
	}
	for b := 0; b < B; b++ {
		t.Window(split, rng.IntN(n-T), T, tokens[b*T:(b+1)*T], targets[b*T:(b+1)*T])
	}
}

// Window copies the T tokens at start of the split into tokens and the T
// that follow each of them into targets. It panics if start+T+1 exceeds
// the split.
func (t *TokenBin) Window(split Split, start, T int, tokens, targets []int) {
	w := t.split(split)[start : start+T+1]
	for i := 0; i < T; i++ {
		tokens[i] = int(w[i])
		targets[i] = int(w[i+1])
	}
}

func checkSplits(kind, path, unit string, T, nTrain, nVal int, valFraction float64) error {
	if T <= 0 {
		return fmt.Errorf("%s %q: context %d must be positive", kind, path, T)
	}
	if nTrain < T+1 {
		return fmt.Errorf("%s %q: training split has %d %s, need at least %d for context %d", kind, path, nTrain, unit, T+1, T)
	}
	if valFraction > 0 && nVal < T+1 {
		return fmt.Errorf("%s %q: validation split has %d %s, need at least %d for context %d", kind, path, nVal, unit, T+1, T)
	}
	return nil
}

// Window copies the T bytes at start of the split into tokens and the T
// that follow each of them into targets. It panics if start+T+1 exceeds
// the split.
func (t *ByteText) Window(split Split, start, T int, tokens, targets []int) {
	w := t.split(split)[start : start+T+1]
	for i := 0; i < T; i++ {
		tokens[i] = int(w[i])
		targets[i] = int(w[i+1])
	}
}

// FileSource is a Source read from a file whose windows can be addressed
// directly: ByteText and TokenBin.
type FileSource interface {
	Source
	Windowed
	// Path is the file the data was read from.
	Path() string
	// Check reports whether both splits are long enough for context T.
	Check(T int) error
}

// Windowed is a source whose windows can be read at a given offset, for
// sequential sampling and deterministic evaluation.
type Windowed interface {
	// Len is the number of tokens in the split.
	Len(split Split) int
	// Window reads the window of T tokens at start and their targets.
	Window(split Split, start, T int, tokens, targets []int)
}

// Data file formats accepted by Open.
const (
	FormatText = "text" // bytes, vocabulary 256
	FormatBin  = "bin"  // little-endian uint16 tokens
)

// Open loads a data file in the given format; "" picks the format from
// the extension (.bin is uint16 tokens, anything else is text). vocab is
// the declared vocabulary of a token file (ignored for text).
func Open(path, format string, vocab int, valFraction float64) (FileSource, error) {
	if format == "" {
		format = FormatText
		if strings.EqualFold(filepath.Ext(path), ".bin") {
			format = FormatBin
		}
	}
	switch format {
	case FormatText:
		return LoadText(path, valFraction)
	case FormatBin:
		return LoadBin(path, vocab, valFraction)
	}
	return nil, fmt.Errorf("data file %q: unknown format %q (want %s or %s)", path, format, FormatText, FormatBin)
}

// NumWindows returns how many non-overlapping windows of context T the
// split holds: window k covers tokens [k·T, k·T+T] (its last target
// included), so consecutive windows share no input token.
func NumWindows(src Windowed, split Split, T int) int {
	n := src.Len(split)
	if T <= 0 || n < T+1 {
		return 0
	}
	return (n - 1) / T
}

// uint16s views b as little-endian uint16 values: in place on a
// little-endian machine, copied otherwise.
func uint16s(b []byte) []uint16 {
	if len(b) < 2 {
		return nil
	}
	n := len(b) / 2
	if littleEndian {
		return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), n)
	}
	out := make([]uint16, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return out
}

// littleEndian reports the byte order of this machine.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// textHint says, when the file's first kilobytes look like text, that it
// is probably a text file given as tokens ("" otherwise).
func textHint(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 4096)
	n, _ := io.ReadFull(f, buf)
	if !looksLikeText(buf[:n]) {
		return ""
	}
	return " (the file looks like text, not uint16 tokens: use format=text in the data statement, or --data-format text)"
}

// checkTokens streams the file through a small buffer and checks every
// token id against the vocabulary (the pages go to the page cache, not to
// the process, so checking costs no memory).
func checkTokens(path string, vocab int) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("token file %q: cannot read: %w", path, err)
	}
	defer f.Close()
	buf := make([]byte, 1<<16)
	pos := 0
	for {
		n, err := io.ReadFull(f, buf)
		for i := 0; i+1 < n; i += 2 {
			if t := binary.LittleEndian.Uint16(buf[i:]); int(t) >= vocab {
				hint := textHint(path)
				if hint == "" {
					hint = " (declare the file's vocabulary with vocab=N in the data statement, or --vocab N)"
				}
				return fmt.Errorf("token file %q: token %d at position %d is outside the declared vocabulary of %d%s", path, t, pos+i/2, vocab, hint)
			}
		}
		pos += n / 2
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("token file %q: cannot read: %w", path, err)
		}
	}
}
