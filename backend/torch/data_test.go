package torch_test

import (
	"encoding/json"
	"math"
	"slices"
	"testing"

	"github.com/mhcc/mhcc/backend/runtime/data"
	"github.com/mhcc/mhcc/internal/testmodels"
)

// TestSyntheticTasksMatchTrain: train.py's port of a synthetic task draws
// the same windows as ./train's from the same generator state, and
// reports the same loss floor (here the dyck task; Markov and recall are
// covered by the round trips' equal losses).
func TestSyntheticTasksMatchTrain(t *testing.T) {
	py := requireTorch(t)
	prog, m, src := compileSource(t, "small.mhc", testmodels.Small(`data synthetic task=dyck`))
	dir := t.TempDir()
	emitPackage(t, prog, m, src, dir)
	const seed, stream, B, T = 12345, 678, 3, 40
	out := python(t, py, dir, "-c", `
import json, sys
sys.argv = ["train.py"]
import train
d = train.DyckData(train.CONFIG["vocab"])
rows = {}
for split in (0, 1):
    rng = train.PCG(12345, 678)
    rows[split] = d.batch(split, rng, 3, 40)
print(json.dumps({"name": d.name, "floor": d.loss_floor(40), "train": rows[0], "val": rows[1]}))
`)
	var got struct {
		Name  string
		Floor float64
		Train [2][][]int
		Val   [2][][]int
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	d, err := data.NewDyck(prog.Model.Vocab)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != d.Name() || math.Abs(got.Floor-d.LossFloor(T)) > 1e-12 {
		t.Errorf("train.py: %s floor %v; ./train: %s floor %v", got.Name, got.Floor, d.Name(), d.LossFloor(T))
	}
	for split, rows := range map[data.Split][2][][]int{data.Train: got.Train, data.Val: got.Val} {
		tok, tgt := make([]int, B*T), make([]int, B*T)
		d.Batch(split, data.NewRand(seed, stream), B, T, tok, tgt)
		if flat := slices.Concat(rows[0]...); !slices.Equal(flat, tok) {
			t.Errorf("split %d: train.py tokens %v\n./train tokens %v", split, flat, tok)
		}
		if flat := slices.Concat(rows[1]...); !slices.Equal(flat, tgt) {
			t.Errorf("split %d: targets differ", split)
		}
	}
}
