package main

import (
	"os"

	"github.com/mhcc/mhcc/lsp"
)

// lspCmd is `mhcc lsp`: the language server, for editors (docs/editors.md).
type lspCmd struct {
	Stdio bool `help:"Talk over stdin and stdout (the only transport; accepted because editors pass it)."`
}

// Run serves one editor session over stdin and stdout until the editor
// sends exit or closes stdin. Problems the server survives go to stderr.
func (c *lspCmd) Run(e *env) error {
	err := lsp.Serve(os.Stdin, e.stdout, lsp.Options{Debounce: lsp.DefaultDebounce, Version: version, Log: e.stderr})
	if err != nil {
		return &exitError{code: exitRuntime, err: err}
	}
	return nil
}
