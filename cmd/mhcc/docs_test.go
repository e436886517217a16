//go:build !openblas

// The docs' shown outputs come from the default build (the OpenBLAS
// build rounds differently and is not what they show).

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mhcc/mhcc/internal/golden"
)

// A console block of the docs is a fenced block marked `console`:
//
//	```console
//	$ ./mhcc check tiny.mhc
//	tiny.mhc:7:12: error: ...
//	```
//
// A line starting with "$ " is a command, the lines after it (up to the
// next command or the end of the block) are what it prints, stdout and
// stderr as they interleave. TestDocs runs the commands of every console
// block of README.md and docs/*.md with `sh -c`, in order, in one fresh
// folder per document holding the repository's examples/ and ./mhcc (this
// test binary, which is mhcc), and compares what they print with what the
// document shows; with -update it rewrites the shown output instead.
// Times and rates (ms, s, tok/s) and a training log's losses and gradient
// norms (which depend on the kernels' rounding) are masked on both sides. Keep the
// blocks short and fast: tiny step counts, a few lines of output (pipe
// long output through head, tail or grep, as a reader would).

// docCommand is one command of a console block and the output shown
// for it, as lines [from, to) (0-based) of the document.
type docCommand struct {
	line     int // the command's line, 1-based
	cmd      string
	from, to int
	indent   string // the block's indentation (a block in a list item)
	shown    []string
}

// consoleCommands parses the console blocks of a document.
func consoleCommands(lines []string) ([]docCommand, error) {
	var cmds []docCommand
	in, indent := false, ""
	for i, raw := range lines {
		ln := strings.TrimPrefix(raw, indent)
		switch {
		case !in && strings.TrimSpace(raw) == "```console":
			in, indent = true, raw[:len(raw)-len(strings.TrimLeft(raw, " "))]
		case in && strings.HasPrefix(strings.TrimSpace(raw), "```"):
			in, indent = false, ""
		case in && strings.HasPrefix(ln, "$ "):
			cmds = append(cmds, docCommand{line: i + 1, cmd: strings.TrimPrefix(ln, "$ "), from: i + 1, to: i + 1, indent: indent})
		case in && (len(cmds) == 0 || cmds[len(cmds)-1].to != i):
			return nil, fmt.Errorf("line %d: output before the block's first command", i+1)
		case in:
			c := &cmds[len(cmds)-1]
			c.shown = append(c.shown, ln)
			c.to = i + 1
		}
	}
	if in {
		return nil, fmt.Errorf("a console block is not closed")
	}
	return cmds, nil
}

// timing matches the measured numbers of an output: durations and rates.
var timing = regexp.MustCompile(`[0-9]+(\.[0-9]+)?[kMG]? ?(ms/step|tok/s|ms|s)\b`)

// trained matches the losses and gradient norms of a training log, which
// depend on the kernels' rounding (the build, the CPU's instructions).
var trained = regexp.MustCompile(`\b(loss|gnorm|val) [0-9]+\.[0-9]+`)

// maskTimings masks what differs between runs and machines: times,
// rates, and trained values.
func maskTimings(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = trained.ReplaceAllString(timing.ReplaceAllString(l, "T"), "$1 X")
	}
	return out
}

func TestDocs(t *testing.T) {
	mhcc, err := exec.LookPath("mhcc") // testscript.Main put it on PATH
	if err != nil {
		t.Fatal(err)
	}
	docs, err := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append([]string{filepath.Join("..", "..", "README.md")}, docs...)
	tested := 0
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		cmds, err := consoleCommands(lines)
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if len(cmds) == 0 {
			continue
		}
		tested++
		t.Run(filepath.Base(doc), func(t *testing.T) {
			t.Parallel() // one folder per document
			dir := t.TempDir()
			if err := copyDir(filepath.Join("..", "..", "examples"), filepath.Join(dir, "examples")); err != nil {
				t.Fatal(err)
			}
			exe, err := os.ReadFile(mhcc)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "mhcc"), exe, 0o755); err != nil {
				t.Fatal(err)
			}
			changed := false
			for i := range cmds {
				c := &cmds[i]
				got := runDocCommand(t, dir, c.cmd)
				if diff := cmp.Diff(maskTimings(c.shown), maskTimings(got)); diff != "" {
					if golden.Update() {
						c.shown, changed = got, true
						continue
					}
					t.Errorf("%s:%d: $ %s\nprints other output than the document shows (-shown +got; rerun with -update to accept it):\n%s",
						doc, c.line, c.cmd, diff)
				}
			}
			if changed {
				writeShown(t, doc, lines, cmds)
			}
		})
	}
	if tested == 0 {
		t.Fatal("no console blocks in README.md and docs/*.md")
	}
}

// runDocCommand runs one command in dir and returns what it prints, with
// dir itself written as ".".
func runDocCommand(t *testing.T, dir, command string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "TERM=dumb")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("$ %s: %v", command, ctx.Err())
	}
	if _, exited := err.(*exec.ExitError); err != nil && !exited {
		t.Fatalf("$ %s: %v", command, err)
	}
	text := strings.ReplaceAll(out.String(), dir+string(filepath.Separator), "")
	text = strings.ReplaceAll(text, dir, ".")
	if text == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n")
}

// writeShown rewrites the document with each command's output.
func writeShown(t *testing.T, doc string, lines []string, cmds []docCommand) {
	t.Helper()
	var out []string
	next := 0
	for _, c := range cmds {
		out = append(out, lines[next:c.from]...)
		for _, l := range c.shown {
			if l != "" {
				l = c.indent + l
			}
			out = append(out, l)
		}
		next = c.to
	}
	out = append(out, lines[next:]...)
	if err := os.WriteFile(doc, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConsoleCommands pins the parsing of console blocks: commands, their
// shown output, an indented block (in a list item), and the errors.
func TestConsoleCommands(t *testing.T) {
	doc := strings.Split("text\n```console\n$ a\nout 1\n\nout 2\n$ b\n```\n- item\n\n  ```console\n  $ c\n  out 3\n  ```\n```sh\n$ not run\n```", "\n")
	cmds, err := consoleCommands(doc)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%+v", cmds)
	want := "[{line:3 cmd:a from:3 to:6 indent: shown:[out 1  out 2]} {line:7 cmd:b from:7 to:7 indent: shown:[]} {line:12 cmd:c from:12 to:13 indent:   shown:[out 3]}]"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	for _, bad := range []string{"```console\nout\n$ a\n```", "```console\n$ a\n"} {
		if _, err := consoleCommands(strings.Split(bad, "\n")); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestMaskTimings: what is masked, and what is not.
func TestMaskTimings(t *testing.T) {
	got := maskTimings([]string{
		"step 10/10 | loss 5.1048 | lr 3.0e-04 | gnorm 3.11 | 160 ms | 3.2k tok/s | val 4.5294",
		"wrote train (model tiny, 224 IR values)",
		"done: 10 steps | train loss 4.1 | val loss n/a | 2 ms/step | 14.0k tok/s",
	})
	want := []string{
		"step 10/10 | loss X | lr 3.0e-04 | gnorm X | T | T | val X",
		"wrote train (model tiny, 224 IR values)",
		"done: 10 steps | train loss X | val loss n/a | T | T",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
}
