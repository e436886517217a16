package bundle

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	// Defines -update, which `go test ./... -update` hands to every test binary.
	_ "github.com/mhcc/mhcc/internal/golden"
)

func testPayload(src, ir string) *Payload {
	return &Payload{Version: PayloadVersion, File: "m.mhc", Source: src, IR: ir,
		Manifest: Manifest{SourceSHA256: Hash(src), IRSHA256: Hash(ir), Runtime: "test"}}
}

func TestWriteReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	runtime := filepath.Join(dir, "runtime")
	exe := []byte("\x7fELF pretend executable bytes")
	if err := os.WriteFile(runtime, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(runtime); !errors.Is(err, ErrNoPayload) {
		t.Fatalf("plain executable: got %v, want ErrNoPayload", err)
	}
	out := filepath.Join(dir, "train")
	p := testPayload("model m {}", "mhcc.ir v1\n")
	if err := Write(runtime, out, p); err != nil {
		t.Fatal(err)
	}
	got, err := Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("payload mismatch (-want +got):\n%s", diff)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&0o111 == 0 {
		t.Errorf("output is not executable: %v", st.Mode())
	}
	raw, _ := os.ReadFile(out)
	if !bytes.HasPrefix(raw, exe) {
		t.Errorf("output does not start with the runtime bytes")
	}

	// Re-bundling a bundled executable replaces the payload instead of
	// stacking a second one.
	out2 := filepath.Join(dir, "train2")
	p2 := testPayload("model other {}", "mhcc.ir v1\n%0 = const\n")
	if err := Write(out, out2, p2); err != nil {
		t.Fatal(err)
	}
	raw2, _ := os.ReadFile(out2)
	if bytes.Contains(raw2, []byte("model m {}")) {
		t.Errorf("old payload still present after re-bundling")
	}
	got2, err := Read(out2)
	if err != nil {
		t.Fatal(err)
	}
	if got2.Source != p2.Source {
		t.Errorf("re-bundled source = %q, want %q", got2.Source, p2.Source)
	}
}

func TestReadRejectsDamage(t *testing.T) {
	dir := t.TempDir()
	runtime := filepath.Join(dir, "runtime")
	if err := os.WriteFile(runtime, []byte("exe"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "train")
	if err := Write(runtime, out, testPayload("src", "ir")); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(out)

	// A flipped byte inside the source fails the manifest hash.
	tampered := bytes.Replace(raw, []byte(`"source":"src"`), []byte(`"source":"srd"`), 1)
	path := filepath.Join(dir, "tampered")
	os.WriteFile(path, tampered, 0o755)
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), "manifest") {
		t.Errorf("tampered payload: got %v, want a manifest error", err)
	}

	// A forged trailer claiming a huge payload is refused without allocating it.
	forged := append([]byte(nil), raw...)
	copy(forged[len(forged)-16:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	path = filepath.Join(dir, "forged")
	os.WriteFile(path, forged, 0o755)
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), "corrupt payload trailer") {
		t.Errorf("forged trailer: got %v, want a corrupt-trailer error", err)
	}

	// Truncated JSON is a corrupt payload, not a panic.
	n := len(raw)
	trunc := append(append([]byte(nil), raw[:n-16-5]...), raw[n-16:]...)
	copy(trunc[len(trunc)-16:], raw[n-16:n-8])
	path = filepath.Join(dir, "trunc")
	os.WriteFile(path, trunc, 0o755)
	if _, err := Read(path); err == nil {
		t.Errorf("truncated payload accepted")
	}
}
