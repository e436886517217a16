package main

import (
	"github.com/mhcc/mhcc/backend/runtime/ablate"
)

// diffCmd is `mhcc diff A.mhc B.mhc`: what differs between two models.
type diffCmd struct {
	A string `arg:"" name:"A.mhc" help:"The first model."`
	B string `arg:"" name:"B.mhc" help:"The second model."`
	setFlags
	diagFlag
}

// Run prints the resolved settings that differ, the parameter and FLOP
// totals, and the parameter tensors only one model has or that changed
// shape.
func (c *diffCmd) Run(e *env) error {
	models, err := compileModels(e, []string{c.A, c.B}, e.frontEnd(c.Diag))
	if err != nil {
		return err
	}
	d, err := ablate.Compare(models[0], models[1])
	if err != nil {
		return &exitError{code: exitRuntime, err: err}
	}
	if err := d.Write(e.stdout); err != nil {
		return &exitError{code: exitRuntime, err: err}
	}
	return nil
}
