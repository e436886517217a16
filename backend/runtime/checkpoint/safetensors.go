// Package checkpoint reads and writes mhcc training checkpoints: one folder
// per checkpoint (ckpt-000500/) holding the model weights and the
// optimizer state as safetensors files and the loop state as state.json.
// Folders are written under a temporary name and renamed, so a crash never
// leaves a half-written checkpoint under a checkpoint's name.
//
// The safetensors reader treats every file as untrusted: a truncated,
// tampered or forged file is refused with an error naming the file and
// what is wrong, never with a panic, and never after allocating more than
// the file's own size (the header length is bounded and every offset is
// checked against the file size before anything is read).
package checkpoint

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/mhcc/mhcc/internal/fsinfo"
)

// MaxHeaderSize bounds the JSON header of a safetensors file (the same
// limit as the reference implementation, 100 MB), so that a forged header
// length cannot make the reader allocate gigabytes.
const MaxHeaderSize = 100_000_000

// Data types of safetensors tensors that mhcc writes and reads.
const (
	F32 = "F32" // little-endian IEEE-754 binary32
	F64 = "F64" // little-endian IEEE-754 binary64
)

// metaDataSHA256 is the metadata key holding the hex SHA-256 of the data
// buffer; the reader checks it when present, which catches tampered or
// bit-flipped weights that leave the header valid.
const metaDataSHA256 = "mhcc.data_sha256"

// dtypeSize returns the element size of a supported dtype.
func dtypeSize(dt string) (int, bool) {
	switch dt {
	case F32:
		return 4, true
	case F64:
		return 8, true
	}
	return 0, false
}

// Tensor is one named tensor of a safetensors file, its data in
// little-endian byte order.
type Tensor struct {
	Name  string
	DType string // F32 or F64
	Shape []int
	Data  []byte
}

// F32Tensor encodes float32 values as a Tensor.
func F32Tensor(name string, shape []int, vals []float32) Tensor {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return Tensor{Name: name, DType: F32, Shape: append([]int(nil), shape...), Data: b}
}

// F64Tensor encodes float64 values as a Tensor.
func F64Tensor(name string, shape []int, vals []float64) Tensor {
	b := make([]byte, 8*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return Tensor{Name: name, DType: F64, Shape: append([]int(nil), shape...), Data: b}
}

// NumElements returns the product of the shape (1 for a scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Float32s decodes an F32 tensor into dst, which must have exactly the
// tensor's number of elements.
func (t *Tensor) Float32s(dst []float32) error {
	if t.DType != F32 {
		return fmt.Errorf("tensor %q has dtype %s, want %s", t.Name, t.DType, F32)
	}
	if len(dst)*4 != len(t.Data) {
		return fmt.Errorf("tensor %q has %d values, want %d", t.Name, len(t.Data)/4, len(dst))
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return nil
}

// Float64s decodes an F64 tensor into a new slice.
func (t *Tensor) Float64s() ([]float64, error) {
	if t.DType != F64 {
		return nil, fmt.Errorf("tensor %q has dtype %s, want %s", t.Name, t.DType, F64)
	}
	out := make([]float64, len(t.Data)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return out, nil
}

// File is a parsed safetensors file.
type File struct {
	// Path is where the file was read from ("" for WriteSafetensors).
	Path string
	// Metadata is the header's __metadata__ map.
	Metadata map[string]string
	// Tensors in the order of their data offsets.
	Tensors []Tensor
	byName  map[string]int
}

// Tensor returns the named tensor, or nil.
func (f *File) Tensor(name string) *Tensor {
	if i, ok := f.byName[name]; ok {
		return &f.Tensors[i]
	}
	return nil
}

type headerEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// WriteSafetensors writes tensors (data in the given order) and metadata
// in the safetensors format: an 8-byte little-endian header length, the
// JSON header (padded with spaces to a multiple of 8 bytes) mapping every
// tensor name to its dtype, shape and [begin, end) data offsets, with the
// metadata under "__metadata__", then the data. The SHA-256 of the data is
// added to the metadata so that readers can detect tampered weights.
func WriteSafetensors(w io.Writer, tensors []Tensor, meta map[string]string) error {
	header := make(map[string]any, len(tensors)+1)
	md := make(map[string]string, len(meta)+1)
	for k, v := range meta {
		md[k] = v
	}
	h := sha256.New()
	var off int64
	seen := make(map[string]bool, len(tensors))
	for _, t := range tensors {
		if t.Name == "" || t.Name == "__metadata__" {
			return fmt.Errorf("safetensors: invalid tensor name %q", t.Name)
		}
		if seen[t.Name] {
			return fmt.Errorf("safetensors: tensor %q is listed twice", t.Name)
		}
		seen[t.Name] = true
		size, ok := dtypeSize(t.DType)
		if !ok {
			return fmt.Errorf("safetensors: tensor %q: unsupported dtype %q", t.Name, t.DType)
		}
		if t.NumElements()*size != len(t.Data) {
			return fmt.Errorf("safetensors: tensor %q: shape %v needs %d bytes, have %d", t.Name, t.Shape, t.NumElements()*size, len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[t.Name] = headerEntry{DType: t.DType, Shape: shape, DataOffsets: [2]int64{off, off + int64(len(t.Data))}}
		off += int64(len(t.Data))
		h.Write(t.Data)
	}
	md[metaDataSHA256] = hex.EncodeToString(h.Sum(nil))
	header["__metadata__"] = md
	hb, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("safetensors: encoding the header: %w", err)
	}
	if pad := (8 - len(hb)%8) % 8; pad > 0 {
		hb = append(hb, bytes.Repeat([]byte{' '}, pad)...)
	}
	bw := bufio.NewWriter(w)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(hb)))
	bw.Write(n[:])
	bw.Write(hb)
	for _, t := range tensors {
		bw.Write(t.Data)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

// ReadSafetensors reads and validates the safetensors file at path. It
// refuses, with an error naming the file: anything but a regular file, a
// file too short for its header, a header length beyond MaxHeaderSize or
// the file size, a header that is not a JSON object of well-formed
// entries, an unknown dtype, a negative dimension, data offsets that do
// not tile the data buffer exactly or do not match the shape, and data
// whose SHA-256 differs from the one the writer recorded.
func ReadSafetensors(path string) (*File, error) {
	return readSafetensors(path, nil)
}

// readSafetensors reads path; check, when set, sees the parsed header
// (tensor names, dtypes, shapes; no data yet) and may refuse it before a
// byte of tensor data is read or allocated.
func readSafetensors(path string, check func(*File) error) (*File, error) {
	f, size, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	file, dataAt, err := parseHeader(f, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	file.Path = path
	if check != nil {
		if err := check(file); err != nil {
			return nil, err
		}
	}
	if err := readData(f, file, dataAt, size-dataAt); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return file, nil
}

// openRegular opens path for reading if it is a regular file (after
// symbolic links): a device, a FIFO or a folder is refused rather than read
// for ever or without end.
func openRegular(path string) (*os.File, int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, 0, fmt.Errorf("reading %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("reading %s: not a regular file (%s)", path, fsinfo.Kind(st.Mode()))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("reading %s: %w", path, err)
	}
	return f, st.Size(), nil
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("not a valid safetensors file (truncated or damaged): "+format, args...)
}

// parseHeader reads and validates the header: every tensor's dtype, shape
// and data offsets, which must tile the data buffer exactly. It returns
// the tensors without data and where the data buffer starts.
func parseHeader(r io.ReaderAt, size int64) (*File, int64, error) {
	if size < 8 {
		return nil, 0, corrupt("%d bytes, too short for the 8-byte header length", size)
	}
	var nb [8]byte
	if _, err := r.ReadAt(nb[:], 0); err != nil {
		return nil, 0, fmt.Errorf("reading the header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(nb[:])
	if n > MaxHeaderSize {
		return nil, 0, corrupt("header length %d exceeds the %d-byte limit", n, MaxHeaderSize)
	}
	if n < 2 || int64(n) > size-8 {
		return nil, 0, corrupt("header length %d does not fit the %d-byte file", n, size)
	}
	hb := make([]byte, n)
	if _, err := r.ReadAt(hb, 8); err != nil {
		return nil, 0, fmt.Errorf("reading the header: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hb, &raw); err != nil {
		return nil, 0, corrupt("header is not a JSON object: %v", err)
	}
	dataLen := size - 8 - int64(n)
	file := &File{Metadata: map[string]string{}, byName: map[string]int{}}
	type located struct {
		name string
		e    headerEntry
	}
	var entries []located
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &file.Metadata); err != nil {
				return nil, 0, corrupt("__metadata__ is not a map of strings: %v", err)
			}
			continue
		}
		var e headerEntry
		dec := json.NewDecoder(bytes.NewReader(msg))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, 0, corrupt("tensor %q: malformed header entry: %v", name, err)
		}
		entries = append(entries, located{name, e})
	}
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i].e.DataOffsets, entries[j].e.DataOffsets
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		return entries[i].name < entries[j].name
	})
	var next int64
	for _, le := range entries {
		name, e := le.name, le.e
		size, ok := dtypeSize(e.DType)
		if !ok {
			return nil, 0, corrupt("tensor %q has unsupported dtype %q (want F32 or F64)", name, e.DType)
		}
		elems := int64(1)
		for _, d := range e.Shape {
			if d < 0 {
				return nil, 0, corrupt("tensor %q has negative dimension in shape %v", name, e.Shape)
			}
			if d > 0 && elems > dataLen/int64(d) {
				return nil, 0, corrupt("tensor %q: shape %v is larger than the file", name, e.Shape)
			}
			elems *= int64(d)
		}
		begin, end := e.DataOffsets[0], e.DataOffsets[1]
		if begin != next {
			return nil, 0, corrupt("tensor %q starts at data offset %d, expected %d (offsets must tile the data buffer)", name, begin, next)
		}
		if end < begin || end > dataLen {
			return nil, 0, corrupt("tensor %q has data offsets [%d, %d] outside the %d-byte data buffer", name, begin, end, dataLen)
		}
		if want := elems * int64(size); end-begin != want {
			return nil, 0, corrupt("tensor %q: shape %v of %s needs %d bytes, data offsets give %d", name, e.Shape, e.DType, want, end-begin)
		}
		next = end
		file.byName[name] = len(file.Tensors)
		file.Tensors = append(file.Tensors, Tensor{Name: name, DType: e.DType, Shape: e.Shape})
	}
	if next != dataLen {
		return nil, 0, corrupt("tensors cover %d bytes of data but the file holds %d", next, dataLen)
	}
	return file, 8 + int64(n), nil
}

// readData reads the data buffer of a parsed header, checks its SHA-256
// when the writer recorded one, and gives every tensor its bytes.
func readData(r io.ReaderAt, file *File, dataAt, dataLen int64) error {
	data := make([]byte, dataLen)
	if _, err := r.ReadAt(data, dataAt); err != nil && !(err == io.EOF && dataLen == 0) {
		return fmt.Errorf("reading the tensor data: %w", err)
	}
	if want, ok := file.Metadata[metaDataSHA256]; ok {
		got := sha256.Sum256(data)
		if !strings.EqualFold(hex.EncodeToString(got[:]), want) {
			return corrupt("the tensor data does not match its recorded SHA-256 (the weights were modified)")
		}
	}
	var off int64
	for i := range file.Tensors {
		t := &file.Tensors[i]
		size, _ := dtypeSize(t.DType)
		nbytes := int64(t.NumElements() * size)
		t.Data = data[off : off+nbytes : off+nbytes]
		off += nbytes
	}
	return nil
}
