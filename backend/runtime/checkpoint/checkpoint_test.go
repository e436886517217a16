package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	// Defines -update, which `go test ./... -update` hands to every test binary.
	_ "github.com/mhcc/mhcc/internal/golden"
)

func sampleTensors() []Tensor {
	return []Tensor{
		F32Tensor("embed.weight", []int{3, 2}, []float32{1, 2, 3, 4, 5, -6.5}),
		F32Tensor("norm.weight", []int{2}, []float32{1, 1}),
		F64Tensor("scalar", nil, []float64{0.25}),
	}
}

func writeST(t *testing.T, dir string, tensors []Tensor, meta map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, tensors, meta); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "m.safetensors")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSafetensorsRoundTripAndLayout(t *testing.T) {
	path := writeST(t, t.TempDir(), sampleTensors(), map[string]string{"source_sha256": "abc"})
	raw, _ := os.ReadFile(path)
	n := binary.LittleEndian.Uint64(raw[:8])
	if n%8 != 0 {
		t.Errorf("header length %d is not 8-byte aligned", n)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &header); err != nil {
		t.Fatalf("header is not JSON: %v", err)
	}
	var e headerEntry
	json.Unmarshal(header["embed.weight"], &e)
	if e.DType != "F32" || !slices.Equal(e.Shape, []int{3, 2}) || e.DataOffsets != [2]int64{0, 24} {
		t.Errorf("embed.weight header entry %+v", e)
	}
	f, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["source_sha256"] != "abc" {
		t.Errorf("metadata %v", f.Metadata)
	}
	got := make([]float32, 6)
	if err := f.Tensor("embed.weight").Float32s(got); err != nil || !slices.Equal(got, []float32{1, 2, 3, 4, 5, -6.5}) {
		t.Errorf("embed.weight = %v, %v", got, err)
	}
	s, err := f.Tensor("scalar").Float64s()
	if err != nil || !slices.Equal(s, []float64{0.25}) || len(f.Tensor("scalar").Shape) != 0 {
		t.Errorf("scalar = %v %v, %v", s, f.Tensor("scalar").Shape, err)
	}
	if err := f.Tensor("scalar").Float32s(make([]float32, 1)); err == nil {
		t.Error("reading an F64 tensor as F32 succeeded")
	}
}

// readLimited reads path and checks that the reader allocated little
// memory: a forged header must be refused before any large allocation.
func readLimited(t *testing.T, path string) error {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ReadSafetensors(path)
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 4<<20 {
		t.Errorf("reading a %s allocated %d bytes", filepath.Base(path), d)
	}
	return err
}

func TestSafetensorsRefusesDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	var good bytes.Buffer
	if err := WriteSafetensors(&good, sampleTensors(), nil); err != nil {
		t.Fatal(err)
	}
	g := good.Bytes()
	n := int(binary.LittleEndian.Uint64(g[:8]))
	header := string(g[8 : 8+n])

	withHeader := func(h string, data []byte) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, uint64(len(h)))
		b.WriteString(h)
		b.Write(data)
		return b.Bytes()
	}
	forgedLen := func(l uint64) []byte {
		b := append([]byte(nil), g...)
		binary.LittleEndian.PutUint64(b, l)
		return b
	}
	flipped := append([]byte(nil), g...)
	flipped[len(flipped)-3] ^= 0x40 // a weight bit: the header stays valid

	cases := []struct {
		name    string
		content []byte
		want    string
	}{
		{"empty", nil, "too short"},
		{"truncated header length", g[:5], "too short"},
		{"truncated header", g[:8+n/2], "does not fit"},
		{"truncated data", g[:len(g)-4], "data"},
		{"huge header length", forgedLen(1 << 62), "exceeds"},
		{"header length past end", forgedLen(uint64(len(g))), "does not fit"},
		{"not JSON", withHeader("[1,2,3]", nil), "not a JSON object"},
		{"garbage", withHeader("\x00\xff{{", nil), "not a JSON object"},
		{"bad dtype", withHeader(`{"x":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), "unsupported dtype"},
		{"negative dim", withHeader(`{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, make([]byte, 4)), "negative"},
		{"giant shape", withHeader(`{"x":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,4]}}`, make([]byte, 4)), "larger than the file"},
		{"offsets past end", withHeader(`{"x":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4000000000]}}`, make([]byte, 4)), "larger than the file"},
		{"offsets disagree with shape", withHeader(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 8)), "needs 8 bytes"},
		{"overlapping", withHeader(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), "starts at data offset"},
		{"hole", withHeader(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), "starts at data offset"},
		{"trailing data", withHeader(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 12)), "cover 4 bytes"},
		{"unknown field", withHeader(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"evil":1}}`, make([]byte, 4)), "malformed"},
		{"metadata not strings", withHeader(`{"__metadata__":{"a":1}}`, nil), "__metadata__"},
		{"tampered weights", flipped, "SHA-256"},
		{"tampered shape", withHeader(strings.Replace(header, "[3,2]", "[2,3]", 1), g[8+n:]), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".safetensors")
			if err := os.WriteFile(path, c.content, 0o644); err != nil {
				t.Fatal(err)
			}
			err := readLimited(t, path)
			if c.name == "tampered shape" {
				// [3,2] and [2,3] have the same size: structurally valid,
				// caught by the checkpoint's shape check (Match) instead.
				f, err := ReadSafetensors(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := Match(f, []Spec{{"embed.weight", []int{3, 2}}, {"norm.weight", []int{2}}, {"scalar", nil}}); err == nil || !strings.Contains(err.Error(), "reshaped tensor embed.weight: checkpoint [2 3], program [3 2]") {
					t.Errorf("Match = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q should name the file and say %q", err, c.want)
			}
		})
	}
}

func TestMatchListsEveryDifference(t *testing.T) {
	path := writeST(t, t.TempDir(), sampleTensors(), nil)
	f, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	err = Match(f, []Spec{{"embed.weight", []int{3, 4}}, {"norm.weight", []int{2}}, {"head.weight", []int{2, 3}}})
	var me *MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("Match = %v, want a MismatchError", err)
	}
	msg := err.Error()
	for _, want := range []string{
		path + " does not match the compiled model",
		"missing tensor head.weight [2 3]",
		"extra tensor scalar []",
		"reshaped tensor embed.weight: checkpoint [3 2], program [3 4]",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if err := Match(f, []Spec{{"embed.weight", []int{3, 2}}, {"norm.weight", []int{2}}, {"scalar", []int{}}}); err == nil ||
		!strings.Contains(err.Error(), "scalar: checkpoint dtype F64") {
		t.Errorf("F64 tensor accepted as a parameter: %v", err)
	}
}

// contentsSpecs are the model tensors of contents.
var contentsSpecs = []Spec{{"embed.weight", []int{3, 2}}, {"norm.weight", []int{2}}}

func contents(step int) *Contents {
	return &Contents{
		Model:         sampleTensors()[:2],
		ModelMeta:     map[string]string{"source_sha256": "s"},
		Optimizer:     []Tensor{F64Tensor("embed.weight.exp_avg", []int{3, 2}, make([]float64, 6))},
		OptimizerMeta: map[string]string{"optimizer": "adamw"},
		State: State{Step: step, Seed: 7, RNG: map[string][]byte{"train": {1, 2, 3}}, RunID: "run-a",
			Data: DataState{Name: "d", Sampling: "random", Cursor: 5}, Log: LogWindow{LossSum: 1.0 / 3, Steps: 2}},
	}
}

func TestSaveLoadListPrune(t *testing.T) {
	run := t.TempDir()
	for _, step := range []int{5, 10, 15} {
		dir, err := Save(run, contents(step))
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(dir) != Name(step) {
			t.Errorf("saved as %s", dir)
		}
	}
	ck, err := Load(filepath.Join(run, "ckpt-000010"), Expect{Model: contentsSpecs, Optimizer: true})
	if err != nil {
		t.Fatal(err)
	}
	st := ck.State
	if st.Step != 10 || st.Seed != 7 || !bytes.Equal(st.RNG["train"], []byte{1, 2, 3}) || st.Data.Cursor != 5 ||
		st.Log.LossSum != 1.0/3 || st.Log.Steps != 2 || st.Format != Format || ck.Optimizer == nil {
		t.Errorf("state %+v", st)
	}
	// Rewriting an existing step replaces it.
	c := contents(10)
	c.State.Seed = 8
	if _, err := Save(run, c); err != nil {
		t.Fatal(err)
	}
	if ck, err := Load(filepath.Join(run, "ckpt-000010"), Expect{Model: contentsSpecs}); err != nil || ck.State.Seed != 8 || ck.Optimizer != nil {
		t.Errorf("rewritten checkpoint: %v, %+v", err, ck)
	}
	// A leftover temporary folder is neither listed nor latest.
	os.MkdirAll(filepath.Join(run, ".ckpt-000020.tmp-123"), 0o755)
	os.WriteFile(filepath.Join(run, ".ckpt-000020.tmp-123", StateFile), []byte("{}"), 0o644)
	e, ok, err := Latest(run)
	if err != nil || !ok || e.Step != 15 {
		t.Errorf("Latest = %+v %v %v", e, ok, err)
	}
	if d, err := Resolve(run); err != nil || d != filepath.Join(run, "ckpt-000015") {
		t.Errorf("Resolve(run) = %s, %v", d, err)
	}
	removed, err := CleanTemp(run)
	if err != nil || len(removed) != 1 {
		t.Errorf("CleanTemp removed %v, %v", removed, err)
	}
	removed, err = Prune(run, 2, "run-a")
	if err != nil || len(removed) != 1 || filepath.Base(removed[0]) != "ckpt-000005" {
		t.Errorf("Prune removed %v, %v", removed, err)
	}
	es, _ := List(run)
	if len(es) != 2 || es[0].Step != 10 || es[1].Step != 15 {
		t.Errorf("List after prune = %+v", es)
	}
}

func TestLoadRefusesModifiedCheckpoint(t *testing.T) {
	run := t.TempDir()
	dir, err := Save(run, contents(3))
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, ModelFile)
	b, _ := os.ReadFile(model)
	os.WriteFile(model, b[:len(b)-1], 0o644)
	if _, err := Load(dir, Expect{Model: contentsSpecs}); err == nil || !strings.Contains(err.Error(), "model.safetensors: not a valid safetensors file (truncated or damaged)") {
		t.Errorf("truncated model: %v", err)
	}
	flipped := slices.Clone(b)
	flipped[len(flipped)-1] ^= 0x40 // a well-formed file with one changed value
	os.WriteFile(model, flipped, 0o644)
	if _, err := Load(dir, Expect{Model: contentsSpecs}); err == nil || !strings.Contains(err.Error(), model+" does not match the SHA-256") {
		t.Errorf("modified model: %v", err)
	}
	os.WriteFile(filepath.Join(dir, StateFile), []byte("{not json"), 0o644)
	if _, err := Load(dir, Expect{Model: contentsSpecs}); err == nil || !strings.Contains(err.Error(), "state.json is damaged") {
		t.Errorf("damaged state: %v", err)
	}
	os.Remove(filepath.Join(dir, StateFile))
	if _, err := Load(dir, Expect{Model: contentsSpecs}); err == nil || !strings.Contains(err.Error(), "no state.json") {
		t.Errorf("missing state: %v", err)
	}
	if _, err := Load(filepath.Join(run, "nope"), Expect{Model: contentsSpecs}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing folder: %v", err)
	}
	if _, err := Resolve(t.TempDir()); err == nil || !strings.Contains(err.Error(), "neither a checkpoint") {
		t.Errorf("Resolve(empty dir) = %v", err)
	}
}

// TestPruneKeepsOtherRuns pins the fix of a data loss: a fresh run in a
// folder holding another run's higher steps pruned its own checkpoints,
// since pruning kept the highest steps of any run.
func TestPruneKeepsOtherRuns(t *testing.T) {
	run := t.TempDir()
	for _, step := range []int{20, 30} { // the older run, further along
		c := contents(step)
		c.State.RunID = "old"
		if _, err := Save(run, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []int{2, 4, 6} {
		if _, err := Save(run, contents(step)); err != nil {
			t.Fatal(err)
		}
		if _, err := Prune(run, 2, "run-a"); err != nil {
			t.Fatal(err)
		}
	}
	var steps []int
	es, _ := List(run)
	for _, e := range es {
		steps = append(steps, e.Step)
	}
	if want := []int{4, 6, 20, 30}; !slices.Equal(steps, want) {
		t.Errorf("after pruning run-a to 2: checkpoints %v, want %v", steps, want)
	}
}

// TestCleanTempRestoresRewrittenCheckpoint: Save moves a checkpoint it
// rewrites aside before renaming the new one into place; a kill between
// the two renames must not lose it.
func TestCleanTempRestoresRewrittenCheckpoint(t *testing.T) {
	run := t.TempDir()
	dir, err := Save(run, contents(10))
	if err != nil {
		t.Fatal(err)
	}
	aside := filepath.Join(run, ".ckpt-000010.tmp-42.old")
	if err := os.Rename(dir, aside); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(run, ".ckpt-000010.tmp-42"), 0o755) // the unfinished rewrite
	removed, err := CleanTemp(run)
	if err != nil || len(removed) != 1 || filepath.Base(removed[0]) != ".ckpt-000010.tmp-42" {
		t.Errorf("CleanTemp removed %v, %v", removed, err)
	}
	if _, err := Load(dir, Expect{Model: contentsSpecs, Optimizer: true}); err != nil {
		t.Errorf("the checkpoint moved aside was not restored: %v", err)
	}
}
