package gorgonia

import (
	"os"
	"testing"
)

// TestMain runs the package's tests with the buffer plan's placed buffers
// filled with NaN before their writers run (pool.go): a kernel that read
// memory it had not written fails the gradient checks.
func TestMain(m *testing.M) {
	PoisonPlacedBuffers(true)
	os.Exit(m.Run())
}
