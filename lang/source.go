package lang

import (
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/mhcc/mhcc/internal/fsinfo"
)

// MaxSourceSize is the largest .mhc file ReadSource reads: a model
// description is a few kilobytes, so anything near this is not one, and
// reading it whole could take all the memory there is.
const MaxSourceSize = 16 << 20

// ReadSource reads a .mhc file. It refuses what is not a regular file (a
// device such as /dev/zero would be read without end, a named pipe could
// block for ever) and files larger than MaxSourceSize, saying which.
func ReadSource(path string) ([]byte, error) {
	// Stat before opening: opening a named pipe blocks until a writer
	// comes.
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := regular(st); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := regular(st); err != nil {
		return nil, err
	}
	if st.Size() > MaxSourceSize {
		return nil, fmt.Errorf("%d bytes is too large for a model description (at most %d)", st.Size(), MaxSourceSize)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSourceSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSourceSize {
		return nil, fmt.Errorf("the file grew beyond %d bytes while it was read", MaxSourceSize)
	}
	return b, nil
}

// regular says what st is unless it is a regular file.
func regular(st fs.FileInfo) error {
	if m := st.Mode(); !m.IsRegular() {
		return fmt.Errorf("%s, not a regular file", fsinfo.Kind(m))
	}
	return nil
}
