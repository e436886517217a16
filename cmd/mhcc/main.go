// Command mhcc compiles .mhc model descriptions into self-contained
// training executables, and runs, checks and inspects them.
//
//	mhcc model.mhc -o train     compile; ./train trains on CPU
//	mhcc run model.mhc          compile and train in one go
//	mhcc check model.mhc...     report diagnostics only
//	mhcc ir model.mhc           print the IR
//
// Exit codes, one per kind of error:
//
//	0    ok
//	1    the .mhc file has errors
//	2    the command line is wrong: no command, an unknown flag, a missing
//	     argument, a flag value of the wrong type or out of range, or an
//	     override (--set, or a flag that sets a setting, such as --steps)
//	     that the schema refuses
//	3    a runtime or training failure (data, checkpoints, divergence)
//	130  training stopped by SIGINT or SIGTERM after writing a checkpoint
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/alecthomas/kong"

	gb "github.com/mhcc/mhcc/backend/gorgonia"
	"github.com/mhcc/mhcc/backend/runtime/bundle"
)

// Exit codes (see the package comment).
const (
	exitOK      = 0
	exitCompile = 1
	exitUsage   = 2
	exitRuntime = 3
)

// version is the mhcc runtime version recorded in payload manifests.
const version = "0.1.0"

func main() {
	if env := gb.StartEnv(); len(env) > 0 {
		// settings the BLAS reads only at start-up: run again with them
		// (on failure, carry on without)
		if exe, err := os.Executable(); err == nil {
			_ = syscall.Exec(exe, os.Args, append(os.Environ(), env...))
		}
	}
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}

// Main runs mhcc with args and returns the exit code. An executable that
// carries a compiled program runs that program instead of the compiler.
func Main(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		// A panic is a bug in mhcc; report it as one, without a stack trace
		// (MHCC_TRACEBACK=1 re-panics for debugging).
		if r := recover(); r != nil {
			if os.Getenv("MHCC_TRACEBACK") == "1" {
				panic(r)
			}
			fmt.Fprintf(stderr, "internal error (a bug in mhcc, please report it): %v\n", r)
			code = exitRuntime
		}
	}()
	if err := gb.EnvError(); err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	if exe, err := os.Executable(); err == nil {
		p, err := bundle.Read(exe)
		switch {
		case err == nil:
			return programMain(p, args, stdout, stderr)
		case !errors.Is(err, bundle.ErrNoPayload):
			fmt.Fprintf(stderr, "error: %v\n", err)
			return exitRuntime
		}
	}
	return compilerMain(args, stdout, stderr)
}

// env carries the output streams and the command line to the commands:
// the arguments as given, and what parseArgs found in them besides the
// command's own fields.
type env struct {
	stdout, stderr io.Writer
	args           []string // the arguments as given (without the program name)
	// name is the program's name in messages: mhcc, or a compiled
	// program's executable name.
	name string
	// set and names are the overrides of the command line, for
	// lang.Options: the --set values, then the setting flags (flags.go),
	// each named by the flag as written ("" for a --set).
	set, names []string
}

// frontEnd is the front-end configuration of a command that compiles one
// file with the command line's overrides.
func (e *env) frontEnd(diag string) frontEnd {
	return frontEnd{Set: e.set, Names: e.names, Diag: diag}
}

// relaunch is the command line that starts the current run again (see
// relaunchCommand), named as the user invoked the program.
func (e *env) relaunch() string {
	argv0 := "mhcc"
	if len(os.Args) > 0 {
		argv0 = os.Args[0]
	}
	return relaunchCommand(argv0, e.args)
}

// exitError carries an exit code out of a kong command.
type exitError struct {
	code int
	err  error // nil when the message has been printed already
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

// runCtx runs the parsed command and maps its error to the exit code.
func runCtx(ctx *kong.Context, e *env) int {
	err := ctx.Run()
	if err == nil {
		return exitOK
	}
	var xe *exitError
	if errors.As(err, &xe) {
		if xe.err != nil {
			fmt.Fprintf(e.stderr, "%s: error: %v\n", e.name, xe.err)
		}
		return xe.code
	}
	fmt.Fprintf(e.stderr, "%s: error: %v\n", e.name, err)
	return exitRuntime
}

// isTerminal reports whether w is a character device (a TTY).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// useColor reports whether diagnostics on w may be coloured.
func useColor(w io.Writer) bool {
	return isTerminal(w) && os.Getenv("NO_COLOR") == ""
}
