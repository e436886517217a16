package main

// This file parses a command line (the compiler's or a compiled
// program's) with kong: usage for `mhcc`, `mhcc help` and --help, the
// flag layer of flags.go, and one exit code per kind of error.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/mhcc/mhcc/lang"
)

// cliSpec describes a command line.
type cliSpec struct {
	// name is the program's name in usage and messages: "mhcc", or a
	// compiled program's executable name.
	name string
	// invoked is the program as the user typed it (os.Args[0]), for the
	// "run ... --help" hint.
	invoked string
	desc    string
	grammar any
	// prog is a compiled program, whose settings the help shows; nil for
	// mhcc.
	prog *lang.Program
	// defaultHelp makes --help without a command describe the default
	// command (a compiled program's training) and list the others.
	defaultHelp bool
	// needsCommand makes a command line without arguments print the usage
	// (to stderr, exit 2) instead of running the default command.
	needsCommand bool
}

// programName is the name a command line calls its program by: the
// executable's base name, or fallback when it has none.
func programName(fallback string) (name, invoked string) {
	if len(os.Args) == 0 || os.Args[0] == "" {
		return fallback, fallback
	}
	return filepath.Base(os.Args[0]), os.Args[0]
}

// parseArgs parses args into spec.grammar, never calling os.Exit. It
// returns the kong context and ok, or the exit code: exitOK after --help,
// exitUsage for any error in the command line (unknown flags, bad or
// out-of-range values, missing arguments). The overrides of the command
// line (--set and the setting flags) are stored in e.
func parseArgs(spec cliSpec, args []string, e *env) (*kong.Context, int, bool) {
	e.name = spec.name
	out := e.stdout
	noArgs := len(args) == 0 && spec.needsCommand
	switch {
	case noArgs:
		out, args = e.stderr, []string{"--help"}
	case len(args) > 0 && args[0] == "help":
		args = append(slices.Clone(args[1:]), "--help")
	}
	exitCode := -1
	parser, err := kong.New(spec.grammar,
		kong.Name(spec.name),
		kong.Description(spec.desc),
		kong.Writers(out, e.stderr),
		kong.Exit(func(code int) { exitCode = code }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.ValueFormatter(helpFormatter(spec.prog)),
		kong.Help(helpPrinter(spec)),
		kong.Bind(e),
	)
	if err != nil {
		fmt.Fprintf(e.stderr, "%s: internal error: %v\n", spec.name, err)
		return nil, exitRuntime, false
	}
	args, err = resumeArgs(args)
	if err != nil {
		fmt.Fprintf(e.stderr, "%s: error: %v\n", spec.name, err)
		return nil, exitUsage, false
	}
	args = joinNegatives(parser.Model, args)
	ctx, err := parser.Parse(args)
	if exitCode >= 0 { // --help
		if noArgs {
			return nil, exitUsage, false
		}
		return nil, exitOK, false
	}
	if err != nil {
		if d, ok := valueError(err); ok {
			frontEnd{}.report(e, lang.Diagnostics{d}, nil)
			return nil, exitUsage, false
		}
		fmt.Fprintf(e.stderr, "%s: error: %s\n", spec.name, usageMessage(err, args))
		cmd := spec.invoked
		var pe *kong.ParseError
		if errors.As(err, &pe) && pe.Context != nil && pe.Context.Selected() != nil && !isDefault(pe.Context.Selected()) {
			cmd += " " + pe.Context.Selected().Path()
		}
		fmt.Fprintf(e.stderr, "run '%s --help' for usage\n", cmd)
		return nil, exitUsage, false
	}
	if n := ctx.Selected(); n != nil {
		if diags := checkFlagValues(n); diags.HasErrors() {
			frontEnd{Diag: diagFormat(n)}.report(e, diags, nil)
			return nil, exitUsage, false
		}
		e.set, e.names = overridesOf(n)
	}
	return ctx, 0, true
}

// isDefault reports whether n is its parent's default command.
func isDefault(n *kong.Node) bool { return n.Parent != nil && n.Parent.DefaultCmd == n }

// diagFormat is the --diag value of the command n ("text" without one).
func diagFormat(n *kong.Node) string {
	for _, f := range commandFlags(n) {
		if f.Name == "diag" {
			if s, ok := f.Target.Interface().(string); ok && s != "" {
				return s
			}
		}
	}
	return "text"
}

// usageMessage is kong's parse error, with advice where kong has none:
// the --set to write for an unknown flag that names a setting, and what
// `mhcc FILE.mhc` without -o is missing.
func usageMessage(err error, args []string) string {
	msg := err.Error()
	if name, value, ok := unknownFlag(msg, args); ok {
		if hint := settingHint(name, value); hint != "" {
			return msg + "; " + hint
		}
	}
	if msg == "missing flags: --out=OUT" {
		return "missing -o OUT: `mhcc FILE.mhc -o OUT` writes the training executable OUT (`mhcc run FILE.mhc` trains without one)"
	}
	return msg
}

// kongValueError matches kong's error for a flag value of the wrong type.
var kongValueError = regexp.MustCompile(`^--([\w-]+): expected (?:a valid \d+ bit )?(int|uint|float)\w*(?: value)? but got "(.*)"(?: \(.*\))?$`)

// valueError turns kong's error for a flag value of the wrong type (or a
// missing value) into a diagnostic at the flag, as the flag layer's own.
func valueError(err error) (lang.Diagnostic, bool) {
	m := kongValueError.FindStringSubmatch(err.Error())
	if m == nil {
		return lang.Diagnostic{}, false
	}
	name, kind, got := m[1], m[2], m[3]
	what := map[string]string{"int": "an integer", "uint": "a whole number", "float": "a number"}[kind]
	if got == "EOL" {
		return lang.Diagnostic{Severity: lang.Error, Pos: lang.Pos{File: "--" + name},
			Message: fmt.Sprintf("`%s` needs a value: %s", name, what)}, true
	}
	return lang.Diagnostic{Severity: lang.Error, Pos: lang.Pos{File: "--" + name + " " + got},
		Message: fmt.Sprintf("`%s` must be %s, found `%s`", name, what, got)}, true
}

// helpPrinter is kong's help, except that a compiled program's --help
// without a command describes its default command, training, and lists
// the other commands after it.
func helpPrinter(spec cliSpec) kong.HelpPrinter {
	return func(opts kong.HelpOptions, ctx *kong.Context) error {
		d := ctx.Model.DefaultCmd
		if !spec.defaultHelp || ctx.Selected() != nil || d == nil {
			return kong.DefaultHelpPrinter(opts, ctx)
		}
		fmt.Fprintf(ctx.Stdout, "Usage: %s [flags]\n\n%s\n", spec.name, ctx.Model.Help)
		dctx := *ctx
		dctx.Path = append(slices.Clone(ctx.Path), &kong.Path{Parent: ctx.Model.Node, Command: d, Flags: d.Flags})
		opts.NoAppSummary = true
		if err := kong.DefaultHelpPrinter(opts, &dctx); err != nil {
			return err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "\nOther commands (%s COMMAND --help for theirs):\n", spec.name)
		for _, c := range ctx.Model.Children {
			if c != d && !c.Hidden {
				for i, line := range wrap(c.Help, 68) {
					name := ""
					if i == 0 {
						name = c.Name
					}
					fmt.Fprintf(&b, "  %-8s  %s\n", name, line)
				}
			}
		}
		_, err := fmt.Fprint(ctx.Stdout, b.String())
		return err
	}
}

// wrap breaks text into lines of at most width bytes at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}
