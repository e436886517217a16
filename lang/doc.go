// Package lang is the front end of mhcc: it turns an .mhc file into a
// checked, fully resolved Program.
//
// The language has one statement shape,
//
//	keyword label* key=value* [{ body }]
//
// plus `let NAME = expr`. Statements are separated by newlines or `;`,
// and `#` starts a comment. Values are integers, floats (`3e-3`),
// double-quoted strings, `true`/`false`, bare words (a `let` name or a
// keyword value such as `birkhoff`), lists `[0.9, 0.95]`, calls
// `normal(0.02)` and arithmetic `+ - * /` with parentheses; integer
// division must be exact. Lists and calls are written on one line.
//
// The pipeline:
//
//	Parse (lexer.go, grammar.go → ast.go)   syntax only, participle v2
//	Check (check.go, stmt.go, eval.go)      validates against Schema (schema.go),
//	                                        evaluates, applies defaults, unrolls repeat
//	Load = Parse + Check
//
// Problems are reported as Diagnostics (diag.go), rendered GCC/rustc style
// or as JSON (render.go). Diagnostics are values: nothing in this package
// panics on bad input.
package lang
