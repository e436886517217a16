package torch_test

import (
	"testing"

	"github.com/mhcc/mhcc/backend"
	"github.com/mhcc/mhcc/backend/torch"
)

// requireTorch returns the Python interpreter with PyTorch, or skips the
// test (fails it under MHCC_REQUIRE_TORCH=1) saying what to install.
func requireTorch(t *testing.T) string {
	t.Helper()
	if required, err := backend.Availability(torch.Backend{}); err != nil {
		if required {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	py, err := torch.Python()
	if err != nil {
		t.Fatal(err)
	}
	return py
}
