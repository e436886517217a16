package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mhcc/mhcc/backend"
	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/backend/runtime/bundle"
	"github.com/mhcc/mhcc/backend/torch"
	"github.com/mhcc/mhcc/internal/golden"
	"github.com/mhcc/mhcc/internal/testmodels"
)

func TestMain(m *testing.M) {
	// A training executable written by a test is a copy of this test
	// binary with a payload: run it as the compiled program, not as tests.
	if exe, err := os.Executable(); err == nil {
		if _, err := bundle.Read(exe); err == nil {
			os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
		}
	}
	testscript.Main(m, map[string]func(){
		"mhcc": func() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI scripts in testdata/script with the repository's
// examples copied into each script's work directory. With -update a failed
// `cmp` against a file of the script rewrites that file in the script.
// The condition [torch] holds when PyTorch can be imported (torch.Python);
// without it a script that needs it skips, unless MHCC_REQUIRE_TORCH=1
// makes that a failure. MHCC_PYTHON reaches the scripts, and
// $TORCH_PYTHON restores it after a script changes it.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           filepath.Join("testdata", "script"),
		UpdateScripts: golden.Update(),
		Setup: func(e *testscript.Env) error {
			e.Setenv(torch.PythonEnv, os.Getenv(torch.PythonEnv))
			e.Setenv("TORCH_PYTHON", os.Getenv(torch.PythonEnv))
			return copyDir(filepath.Join("..", "..", "examples"), filepath.Join(e.WorkDir, "examples"))
		},
		// [gemm:NAME]: float32 products can run on GEMM NAME in this build
		// and on this CPU (gorgonia.GEMMs); [torch]: the torch backend is
		// available (required under MHCC_REQUIRE_TORCH=1)
		Condition: func(cond string) (bool, error) {
			if name, ok := strings.CutPrefix(cond, "gemm:"); ok {
				return slices.Contains(gb.GEMMs(), name), nil
			}
			if cond != "torch" {
				return false, fmt.Errorf("unknown condition %q", cond)
			}
			required, err := backend.Availability(torch.Backend{})
			if err != nil && required {
				return false, err
			}
			return err == nil, nil
		},
	})
}

func copyDir(from, to string) error {
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := copyDir(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
				return err
			}
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// TestExitCodes pins the documented exit codes and that no failure ever
// shows a Go panic or stack trace.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("bad.mhc", "model m {\n  vocab 256\n  embed dim=\n}\n")
	garbage := write("garbage.mhc", "\x00\x01\x02\xff\xfe binary \x00")
	good := write("good.mhc", testmodels.Minimal())
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string // substring
	}{
		{"no arguments", nil, exitUsage, "Usage: mhcc <command>"},
		{"help", []string{"help"}, exitOK, ""},
		{"unknown flag", []string{"run", good, "--bogus"}, exitUsage, "--bogus"},
		{"negative steps", []string{"run", good, "--steps=-3"}, exitUsage, "--steps"},
		{"missing output flag", []string{good}, exitUsage, "-o"},
		// Every error in the command line is a usage error, whether kong,
		// the flag layer or the schema finds it.
		{"zero steps", []string{"run", good, "--steps", "0"}, exitUsage, "--steps 0: error"},
		{"bad override", []string{"run", good, "--set", "train.steps=0"}, exitUsage, "--set train.steps=0: error"},
		{"seed out of range", []string{"run", good, "--seed", "-1"}, exitUsage, "--seed -1: error"},
		{"accumulate out of range", []string{"run", good, "--accumulate", "0"}, exitUsage, "--accumulate 0: error"},
		{"task with a data file", []string{"run", good, "--data", good, "--task", "recall"}, exitUsage, "--task recall: error"},
		{"sampling without a data file", []string{"run", good, "--sampling", "sequential"}, exitUsage, "--sampling sequential: error"},
		{"bench batch 0", []string{"bench", good, "--batch", "0"}, exitUsage, "--batch 0: error"},
		{"bench steps 0", []string{"bench", good, "--steps", "0"}, exitUsage, "--steps 0: error"},
		{"ablate seeds 0", []string{"ablate", good, "--seeds", "0"}, exitUsage, "--seeds 0: error"},
		{"eval negative windows", []string{"eval", good, "--ckpt", dir, "--windows", "-3"}, exitUsage, "--windows -3: error"},
		{"eval windows not a number", []string{"eval", good, "--ckpt", dir, "--windows", "x"}, exitUsage, "--windows x: error"},
		{"unknown setting flag", []string{"run", good, "--lr", "1e-3"}, exitUsage, "--set train.optimizer.lr=1e-3"},
		{"plot several runs without -o", []string{"plot", dir, dir}, exitUsage, "needs -o"},
		{"malformed file", []string{bad, "-o", filepath.Join(dir, "out")}, exitCompile, "bad.mhc:3:"},
		{"binary file", []string{"check", garbage}, exitCompile, "garbage.mhc:1:"},
		{"missing file", []string{"ir", filepath.Join(dir, "nope.mhc")}, exitCompile, "nope.mhc"},
		{"missing data file", []string{"run", good, "--steps", "1", "--out", filepath.Join(dir, "run"), "--data", filepath.Join(dir, "nope.txt")}, exitRuntime, "nope.txt"},
		{"check ok", []string{"check", good}, exitOK, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(c.args, &out, &errb)
			if code != c.code {
				t.Errorf("exit code %d, want %d\nstderr:\n%s", code, c.code, errb.String())
			}
			if !strings.Contains(errb.String(), c.stderr) {
				t.Errorf("stderr does not mention %q:\n%s", c.stderr, errb.String())
			}
			if s := errb.String() + out.String(); strings.Contains(s, "panic") || strings.Contains(s, "goroutine ") {
				t.Errorf("output shows a Go panic:\n%s", s)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed compile left an output file behind (stat: %v)", err)
	}
}
