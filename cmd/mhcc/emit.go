package main

import (
	"fmt"

	"github.com/mhcc/mhcc/backend/torch"
	"github.com/mhcc/mhcc/compiler"
)

// emitTorch compiles path for the torch backend (an op it cannot emit is
// an error at its statement) and writes model.py, train.py and README.md
// into dir.
func emitTorch(e *env, path, dir string, fe frontEnd) error {
	opts := compiler.DefaultOptions()
	opts.Target = torch.Backend{}
	res, err := compile(e, path, fe, opts)
	if err != nil {
		return err
	}
	pk, err := torch.Emit(res.Program, res.Module, res.Source, resolveDataPath(path, res.Program))
	if err != nil {
		return &exitError{code: exitCompile, err: fmt.Errorf("%s: %w", path, err)}
	}
	if err := pk.Write(dir); err != nil {
		return &exitError{code: exitRuntime, err: err}
	}
	fmt.Fprintf(e.stderr, "wrote %s/model.py, train.py and README.md (model %s, %d IR values, %d parameters)\n",
		dir, res.Program.Model.Name, len(res.Module.Values), len(res.Module.Params()))
	return nil
}
