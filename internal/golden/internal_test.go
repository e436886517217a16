package golden

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// withUpdate runs f as if the test binary had -update.
func withUpdate(t *testing.T, f func()) {
	t.Helper()
	old := *update
	*update = true
	defer func() { *update = old }()
	f()
}

// TestCompareReports: a missing, an unexpected and a different section
// each give one message naming the file and the section; equal sections
// give none.
func TestCompareReports(t *testing.T) {
	a := &Archive{File: "x.txtar", ar: txtar.Parse([]byte("-- in --\ni\n-- out/same --\ns\n-- out/missing --\nm\n-- out/diff --\nold\n"))}
	got := a.compare(map[string]string{"out/same": "s\n", "out/diff": "new\n", "out/extra": "e\n"})
	want := []string{
		"x.txtar: out/diff differs",
		"x.txtar: unexpected out/extra",
		"x.txtar: the archive has out/missing, the test produced none",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("message %d: %q, want it to start with %q", i, got[i], w)
		}
	}
	if !strings.Contains(got[0], "old") || !strings.Contains(got[0], "new") {
		t.Errorf("the diff message holds no diff: %s", got[0])
	}
}

// TestUpdateRewrites: -update keeps the comment and the input sections in
// their order, drops the old outputs and writes the new ones sorted by
// name; a second run without -update passes, and rewriting an archive
// that is up to date leaves the file alone.
func TestUpdateRewrites(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "case.txtar")
	old := "what the case is\n-- z.in --\nz\n-- out/stale --\ns\n-- a.in --\na\n-- out/b --\nold\n"
	if err := os.WriteFile(file, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	f := func(t *testing.T, a *Archive) {
		a.Out("b", "new\n")
		a.Out("a", "first\n")
	}
	withUpdate(t, func() { Run(t, dir, f) })
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := "what the case is\n-- z.in --\nz\n-- a.in --\na\n-- out/a --\nfirst\n-- out/b --\nnew\n"
	if string(b) != want {
		t.Errorf("rewritten archive:\n%s\nwant:\n%s", b, want)
	}
	Run(t, dir, f)

	past := mustStat(t, file).ModTime().Add(-3600e9)
	if err := os.Chtimes(file, past, past); err != nil {
		t.Fatal(err)
	}
	withUpdate(t, func() { Run(t, dir, f) })
	if !mustStat(t, file).ModTime().Equal(past) {
		t.Error("-update rewrote an archive that was up to date")
	}
}

func mustStat(t *testing.T, file string) os.FileInfo {
	t.Helper()
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestRunFileCreates: with -update RunFile creates a missing archive.
func TestRunFileCreates(t *testing.T) {
	file := filepath.Join(t.TempDir(), "new.txtar")
	withUpdate(t, func() {
		RunFile(t, file, func(t *testing.T, a *Archive) { a.Out("x", "1\n") })
	})
	if b, err := os.ReadFile(file); err != nil || string(b) != "-- out/x --\n1\n" {
		t.Errorf("created %q, %v", b, err)
	}
}

// TestClean: what cannot be stored, or differs between machines, is
// refused; ordinary text is not.
func TestClean(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ out, err string }{
		{"", ""},
		{"in.mhc:3:7: error: x\n", ""},
		{"runs/tiny/seed-1\n", ""},
		{"no newline", "newline"},
		{"a\n-- out/x --\n", "marker"},
		{"\x1b[31merror\x1b[0m\n", "colour"},
		{"open " + filepath.Join(root, "lang", "x.mhc") + "\n", "absolute path"},
		{"wrote " + filepath.Join(os.TempDir(), "TestX123", "001", "train") + "\n", "absolute path"},
	} {
		err := clean(c.out)
		if (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("clean(%q) = %v, want an error about %q", c.out, err, c.err)
		}
	}
}
