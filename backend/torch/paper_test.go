package torch_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/backend/torch"
)

// TestPaperConfigsEmit: the mHC paper's configurations emit their PyTorch
// package at full size (what `mhcc FILE.mhc --emit torch -o DIR` writes),
// and Python parses model.py and train.py. Emitting allocates no weight
// (the package builds them when it runs), so the billions of parameters
// cost nothing here; TestExamplesMatchGorgonia runs the same files shrunk.
func TestPaperConfigsEmit(t *testing.T) {
	py := requireTorch(t)
	files, err := filepath.Glob("../../examples/paper/*b*.mhc")
	if err != nil || len(files) != 9 {
		t.Fatalf("examples/paper: %v (%d files, want 3b, 9b and 27b with their _plain and _hc twins)", err, len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			prog, m, src := compileExample(t, path, nil)
			if n := paramCount(m); n <= hugeParams {
				t.Fatalf("%d parameters: not a paper-size configuration", n)
			}
			pk, err := torch.Emit(prog, m, src, "")
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := pk.Write(dir); err != nil {
				t.Fatal(err)
			}
			head := fmt.Sprintf(`("head.weight", (%d, 129280), `, prog.Model.Embed.Dim)
			if !strings.Contains(pk.ModelPy, "= op_moe_experts(") || !strings.Contains(pk.ModelPy, head) {
				t.Errorf("model.py calls no routed experts or declares no %s", head)
			}
			for _, f := range []string{"model.py", "train.py"} {
				cmd := exec.Command(py, "-c", "import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])", filepath.Join(dir, f))
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("%s does not parse: %v\n%s", f, err, out)
				}
			}
		})
	}
}
