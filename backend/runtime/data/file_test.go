package data

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestOnlyRegularFiles: a device, a named pipe and a folder are refused at
// once by name, for text and for token files, instead of being read
// without end (/dev/zero) or blocking (a FIFO).
func TestOnlyRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "zero.bin")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, format, want string }{
		{"/dev/zero", FormatText, "a device, not a regular file"},
		{link, "", "a device, not a regular file"},
		{fifo, FormatText, "a named pipe, not a regular file"},
		{fifo, FormatBin, "a named pipe, not a regular file"},
		{dir, FormatText, "a folder, not a regular file"},
	} {
		_, err := Open(c.path, c.format, 256, 0.1)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), strconv.Quote(c.path)) {
			t.Errorf("%s (%s): %v, want %q", c.path, c.format, err, c.want)
		}
	}
}

// TestTokenFileHints: a text file given as tokens is told to use the text
// format, not to raise the vocabulary; a real token file with an id too
// large is told to declare its vocabulary.
func TestTokenFileHints(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "input.bin")
	os.WriteFile(text, []byte("First Citizen:\nBefore we proceed any further, hear me speak.\n"), 0o644) // even length
	_, err := LoadBin(text, 256, 0.1)
	if err == nil || !strings.Contains(err.Error(), "looks like text") || strings.Contains(err.Error(), "--vocab") {
		t.Errorf("text as tokens: %v", err)
	}
	toks := filepath.Join(dir, "t.bin")
	b := binary.LittleEndian.AppendUint16(nil, 3)
	b = binary.LittleEndian.AppendUint16(b, 1000)
	os.WriteFile(toks, b, 0o644)
	_, err = LoadBin(toks, 256, 0)
	if err == nil || !strings.Contains(err.Error(), "token 1000 at position 1") || !strings.Contains(err.Error(), "--vocab") {
		t.Errorf("token beyond the vocabulary: %v", err)
	}
}

// TestTokenFileIsMapped: loading a 64 MiB token file does not copy it
// (the tokens are the file's mapped pages; checking streams through a
// small buffer), and reading windows gives the file's tokens.
func TestTokenFileIsMapped(t *testing.T) {
	const n = 32 << 20 // tokens
	path := filepath.Join(t.TempDir(), "big.bin")
	rng := rand.New(rand.NewPCG(1, 2))
	want := make([]uint16, 64)
	var buf bytes.Buffer
	for i := 0; i < n; i++ {
		v := uint16(rng.IntN(50000))
		if i < len(want) {
			want[i] = v
		}
		buf.WriteByte(byte(v))
		buf.WriteByte(byte(v >> 8))
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	buf = bytes.Buffer{}
	before := rssKiB(t)
	tb, err := LoadBin(path, 1<<16, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if grew := rssKiB(t) - before; grew > 16<<10 {
		t.Errorf("loading a 64 MiB token file grew the process by %d KiB", grew)
	}
	tokens, targets := make([]int, 63), make([]int, 63)
	tb.Window(Train, 0, 63, tokens, targets)
	for i := range tokens {
		if tokens[i] != int(want[i]) || targets[i] != int(want[i+1]) {
			t.Fatalf("token %d: %d → %d, file has %d → %d", i, tokens[i], targets[i], want[i], want[i+1])
		}
	}
}

// rssKiB is the process's resident memory (VmRSS).
func rssKiB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status on this system")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
