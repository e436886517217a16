// Package e2e holds the end-to-end tests and benchmarks of the Gorgonia
// backend on the compiled examples/*.mhc: -O0 against -O2 (same loss and
// gradients), graph sizes, and training-step speed. It is a separate
// package so that the backend's own tests do not depend on the compiler
// and the language front end.
package e2e
