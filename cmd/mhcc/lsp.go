package main

import (
	"errors"
	"os"

	"github.com/mhcc/mhcc/lsp"
)

// lspCmd is `mhcc lsp`: the language server, for editors (docs/editors.md).
type lspCmd struct {
	Stdio bool `help:"Talk over stdin and stdout (the only transport; accepted because editors pass it)."`
}

// Run serves one editor session over stdin and stdout until the editor
// sends exit or closes stdin. Problems the server survives go to stderr.
// The exit code is 0, or 1 after an exit without shutdown (as the
// protocol asks), or 3 when the stream breaks.
func (c *lspCmd) Run(e *env) error {
	err := lsp.Serve(os.Stdin, e.stdout, lsp.Options{Debounce: lsp.DefaultDebounce, Version: version, Log: e.stderr})
	if errors.Is(err, lsp.ErrNoShutdown) {
		return &exitError{code: 1}
	}
	if err != nil {
		return &exitError{code: exitRuntime, err: err}
	}
	return nil
}
