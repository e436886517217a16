// Package bundle writes and reads the payload that turns a copy of the mhcc
// runtime into a self-contained training executable: the compiled program
// is appended to the executable, followed by a fixed-size trailer, the way
// single-file bundlers do it. No Go toolchain is needed to produce or run
// the result.
//
// Layout of a bundled executable:
//
//	[ executable bytes ][ payload JSON ][ 8-byte little-endian payload length ][ 8-byte magic ]
package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// magic ends every bundled executable.
var magic = [8]byte{'M', 'H', 'C', 'C', 'P', 'A', 'Y', '1'}

const trailerSize = 16

// maxPayload bounds the payload a trailer may claim, so that a corrupt or
// forged trailer can never make the reader allocate gigabytes.
const maxPayload = 256 << 20

// Payload is the compiled program carried by a bundled executable.
type Payload struct {
	// Version of the payload format.
	Version int `json:"version"`
	// File is the source file name as given to the compiler.
	File string `json:"file"`
	// Source is the full .mhc text.
	Source string `json:"source"`
	// Set holds the `--set PATH=VALUE` overrides the program was compiled
	// with; recompiling Source with them gives IR.
	Set []string `json:"set,omitempty"`
	// DataPath is the data file resolved at compile time, absolute
	// (relative .mhc paths are resolved against the .mhc file's
	// directory); empty for synthetic data. Executables written before it
	// was absolute hold the path relative to the compiler's folder.
	DataPath string `json:"data_path,omitempty"`
	// DataWritten is the data file's path as the program writes it
	// (`data file=`), which the executable also tries next to itself and
	// in the current folder when DataPath is not there.
	DataWritten string `json:"data_written,omitempty"`
	// OptLevel is the optimisation level the IR was compiled at.
	OptLevel int `json:"opt_level"`
	// IR is the optimised IR text.
	IR string `json:"ir"`
	// Manifest holds hashes that identify the program.
	Manifest Manifest `json:"manifest"`
}

// Manifest identifies what a payload contains.
type Manifest struct {
	SourceSHA256 string `json:"source_sha256"`
	IRSHA256     string `json:"ir_sha256"`
	// Runtime is the mhcc version that built the executable.
	Runtime string `json:"runtime"`
}

// PayloadVersion is the current payload format version.
const PayloadVersion = 1

// Hash returns the hex SHA-256 of s.
func Hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// ErrNoPayload is returned by Read for an executable that carries no program.
var ErrNoPayload = errors.New("no mhcc program payload")

// Write copies the executable at runtimePath (minus any payload it already
// carries) to out, appends p, and makes out executable. The file is written
// to a temporary name beside out and renamed, so a failure never leaves a
// half-written program behind.
func Write(runtimePath, out string, p *Payload) error {
	exe, err := os.ReadFile(runtimePath)
	if err != nil {
		return fmt.Errorf("reading the mhcc runtime: %w", err)
	}
	exe, err = stripPayload(exe)
	if err != nil {
		return fmt.Errorf("the mhcc runtime %s: %w", runtimePath, err)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding the payload: %w", err)
	}
	var trailer [trailerSize]byte
	binary.LittleEndian.PutUint64(trailer[:8], uint64(len(body)))
	copy(trailer[8:], magic[:])

	tmp, err := os.CreateTemp(dirOf(out), ".mhcc-build-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	for _, chunk := range [][]byte{exe, body, trailer[:]} {
		if _, err := tmp.Write(chunk); err != nil {
			tmp.Close()
			return fmt.Errorf("writing %s: %w", out, err)
		}
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return nil
}

func dirOf(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if os.IsPathSeparator(path[i]) {
			return path[:i+1]
		}
	}
	return "."
}

// stripPayload returns exe without a trailing payload, if it has one.
func stripPayload(exe []byte) ([]byte, error) {
	n, ok, err := payloadLen(exe)
	if err != nil || !ok {
		return exe, err
	}
	return exe[:len(exe)-trailerSize-n], nil
}

func payloadLen(exe []byte) (int, bool, error) {
	if len(exe) < trailerSize || !bytes.Equal(exe[len(exe)-8:], magic[:]) {
		return 0, false, nil
	}
	n := binary.LittleEndian.Uint64(exe[len(exe)-trailerSize : len(exe)-8])
	if n > maxPayload || n > uint64(len(exe)-trailerSize) {
		return 0, false, fmt.Errorf("corrupt payload trailer (claims %d bytes)", n)
	}
	return int(n), true, nil
}

// Read returns the payload appended to the executable at path, or
// ErrNoPayload when there is none. Only the trailer and the payload are
// read, not the whole executable.
func Read(path string) (*Payload, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size < trailerSize {
		return nil, ErrNoPayload
	}
	var trailer [trailerSize]byte
	if _, err := f.ReadAt(trailer[:], size-trailerSize); err != nil {
		return nil, fmt.Errorf("reading the payload trailer of %s: %w", path, err)
	}
	if !bytes.Equal(trailer[8:], magic[:]) {
		return nil, ErrNoPayload
	}
	n := binary.LittleEndian.Uint64(trailer[:8])
	if n > maxPayload || int64(n) > size-trailerSize {
		return nil, fmt.Errorf("%s: corrupt payload trailer (claims %d bytes)", path, n)
	}
	body := make([]byte, n)
	if _, err := f.ReadAt(body, size-trailerSize-int64(n)); err != nil && err != io.EOF {
		return nil, fmt.Errorf("reading the payload of %s: %w", path, err)
	}
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("%s: corrupt payload: %w", path, err)
	}
	if p.Version != PayloadVersion {
		return nil, fmt.Errorf("%s: payload version %d, this runtime reads version %d", path, p.Version, PayloadVersion)
	}
	if Hash(p.Source) != p.Manifest.SourceSHA256 || Hash(p.IR) != p.Manifest.IRSHA256 {
		return nil, fmt.Errorf("%s: payload does not match its manifest hashes (the file is damaged)", path)
	}
	return &p, nil
}
