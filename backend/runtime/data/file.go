package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/mhcc/mhcc/internal/fsinfo"
)

// readable checks that path names a regular file (after symbolic links)
// and returns its size: a device such as /dev/zero would be read without
// end and a named pipe would block, so both are refused with the kind of
// file they are. kind names the file in errors ("data file", "token file").
func readable(kind, path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("%s %q: no such file: %w", kind, path, err)
		}
		return 0, fmt.Errorf("%s %q: cannot read: %w", kind, path, err)
	}
	if m := st.Mode(); !m.IsRegular() {
		return 0, fmt.Errorf("%s %q: %s, not a regular file (training data must be a file on disk)", kind, path, fsinfo.Kind(m))
	}
	if st.Size() == 0 {
		return 0, fmt.Errorf("%s %q: file is empty", kind, path)
	}
	return st.Size(), nil
}

// looksLikeText reports whether b (a file's first bytes) is mostly text:
// printable ASCII, whitespace or UTF-8 continuation bytes.
func looksLikeText(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	text := 0
	for _, c := range b {
		if c == '\n' || c == '\r' || c == '\t' || c >= 0x20 && c < 0x7f || c >= 0x80 {
			text++
		}
	}
	return text*100 >= len(b)*97
}
