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
//	LoadWith, CheckWith (override.go)       the same with `--set PATH=VALUE` overrides,
//	                                        put into the tree and checked like the file
//
// Around it: Format (format.go) prints a parsed file in canonical layout
// for `mhcc fmt`; Program.Settings and Program.Explain (explain.go) are the
// resolved configuration with the origin of every value, for `mhcc
// explain`; Reference (reference.go) generates the statement reference of
// docs/language.md from the schema.
//
// Problems are reported as Diagnostics (diag.go), rendered GCC/rustc style
// or as JSON (render.go). Diagnostics are values: nothing in this package
// panics on bad input.
package lang
