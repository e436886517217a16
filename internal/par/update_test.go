package par

// Defines -update, which `go test ./... -update` hands to every test binary.
import _ "github.com/mhcc/mhcc/internal/golden"
