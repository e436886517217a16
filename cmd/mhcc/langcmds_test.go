package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mhcc/mhcc/internal/testmodels"
)

// TestLangExitCodes pins the exit codes of the front-end commands and of
// bad --set flags: a bad override is an error in the command line (2),
// like any flag error (`--steps 0` is the override train.steps=0); an
// error in the file is 1.
func TestLangExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.mhc")
	if err := os.WriteFile(good, []byte(testmodels.Minimal()), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.mhc")
	if err := os.WriteFile(bad, []byte("model m {\n  vocab 256\n  embed dim=\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"explain", good}, exitOK, ""},
		{[]string{"explain", good, "--set", "train.optimizer.lr=1e-3"}, exitOK, ""},
		{[]string{"explain", good, "--set", "train.optimizer.lrr=1"}, exitUsage, "--set train.optimizer.lrr=1: error: unknown attribute `lrr` on `optimizer`, did you mean `lr`?"},
		{[]string{"explain", good, "--set", "nonsense"}, exitUsage, "--set nonsense: error: expected PATH=VALUE"},
		{[]string{"ir", good, "--set", "model.vocab=0"}, exitUsage, "--set model.vocab=0: error: `vocab` must be between 1 and 1048576, found 0"},
		{[]string{"check", good, "--set", "train.batch=-1"}, exitUsage, "--set train.batch=-1: error:"},
		{[]string{"run", good, "--set", "model.residual.streams=x"}, exitUsage, "undefined name `x`"},
		{[]string{good, "-o", filepath.Join(dir, "out"), "--set", "model.blocks.0.a.mlp.hidden=4"}, exitUsage, "cannot change the statements inside blocks"},
		{[]string{"explain", good, "--diag=yaml"}, exitUsage, "--diag"},
		{[]string{"check", bad, "--set", "train.batch=2"}, exitCompile, "bad.mhc:3:"},
		{[]string{"run", good, "--steps", "0"}, exitUsage, "--steps 0: error: `steps` must be between 1 and 1099511627776, found 0"},
		{[]string{"fmt"}, exitUsage, "expected"},
		{[]string{"fmt", good}, exitOK, ""},
		{[]string{"fmt", "-l", good}, exitOK, ""},
		{[]string{"explain", filepath.Join(dir, "nope.mhc")}, exitCompile, "nope.mhc: error: cannot read the file"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := Main(c.args, &out, &errb); code != c.code {
				t.Errorf("exit code %d, want %d\nstderr:\n%s", code, c.code, errb.String())
			}
			if !strings.Contains(errb.String(), c.stderr) {
				t.Errorf("stderr does not contain %q:\n%s", c.stderr, errb.String())
			}
		})
	}
}

// TestFmtWriteOnlyChanged checks that fmt -w leaves a formatted file alone
// (not even rewritten) and keeps the permissions of one it rewrites.
func TestFmtWriteOnlyChanged(t *testing.T) {
	dir := t.TempDir()
	clean := filepath.Join(dir, "clean.mhc")
	messy := filepath.Join(dir, "messy.mhc")
	if err := os.WriteFile(clean, []byte("model m {\n  vocab 16\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(messy, []byte("model m { vocab 16 }"), 0o640); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, f := range []string{clean, messy} {
		if err := os.Chtimes(f, past, past); err != nil {
			t.Fatal(err)
		}
	}
	var out, errb bytes.Buffer
	if code := Main([]string{"fmt", "-w", clean, messy}, &out, &errb); code != exitOK || out.Len() > 0 || errb.Len() > 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	st, err := os.Stat(clean)
	if err != nil || !st.ModTime().Equal(past) {
		t.Errorf("a formatted file was rewritten (%v)", err)
	}
	st, err = os.Stat(messy)
	if err != nil || st.ModTime().Equal(past) || st.Mode().Perm() != 0o640 {
		t.Errorf("messy.mhc: rewritten %v, mode %v (%v)", !st.ModTime().Equal(past), st.Mode().Perm(), err)
	}
	if b, _ := os.ReadFile(messy); string(b) != "model m {\n  vocab 16\n}\n" {
		t.Errorf("messy.mhc = %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("fmt -w left temporary files: %v", entries)
	}
}

// TestHostileFiles feeds hostile .mhc files through the real command
// line: every case is a positioned error and exit 1 within a
// second, never a panic.
func TestHostileFiles(t *testing.T) {
	dir := t.TempDir()
	var huge bytes.Buffer
	for huge.Len() < 10<<20 {
		fmt.Fprintf(&huge, "model m%d { vocab 256 }\n", huge.Len())
	}
	files := map[string][]byte{
		"empty.mhc":      nil,
		"binary.mhc":     {0x7f, 'E', 'L', 'F', 0, 1, 2, 3, 0xff},
		"latin1.mhc":     []byte("# caf\xe9\nmodel m {}\n"),
		"huge.mhc":       huge.Bytes(),
		"unbalanced.mhc": []byte("model m {\n  block a {\n    mlp hidden=8\n}\n"),
		"typo.mhc":       []byte("modle m {\n}\n"),
		"types.mhc":      []byte("model m {\n  vocab 2.5\n  context \"8\"\n  embed dim=true\n  block a { mlp hidden=[1] }\n}\n"),
		"shapes.mhc":     []byte("model m {\n  vocab 256\n  context 8\n  embed dim=10\n  block a { attention heads=4 }\n  repeat 0 { block b { mlp hidden=7/2 } }\n}\n"),
		"deep.mhc":       []byte(strings.Repeat("a {", 5000)),
	}
	for name, src := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range [][]string{{"check", path}, {"fmt", path}, {"explain", path}, {"ir", path}, {path, "-o", filepath.Join(dir, "out")}} {
			t.Run(name+" "+cmd[0], func(t *testing.T) {
				var out, errb bytes.Buffer
				code := Main(cmd, &out, &errb)
				want := exitCompile
				if cmd[0] == "fmt" && (name == "typo.mhc" || name == "types.mhc" || name == "shapes.mhc" || name == "empty.mhc") {
					want = exitOK // these parse: fmt is about layout
				}
				if code != want {
					t.Errorf("exit %d, want %d:\n%s", code, want, errb.String())
				}
				if want == exitCompile && !strings.HasPrefix(errb.String(), path+":") {
					t.Errorf("stderr does not start with a position:\n%s", errb.String())
				}
				if s := errb.String(); strings.Contains(s, "panic") || strings.Contains(s, "goroutine") || strings.Contains(s, "internal error") {
					t.Errorf("a crash:\n%s", s)
				}
			})
		}
	}
}
