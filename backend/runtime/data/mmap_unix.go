//go:build unix

package data

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// mapFile maps the size bytes of the regular file at path read-only into
// memory: the pages are the file's own and are read when used, so a large
// token file costs memory only for what training touches (and the kernel
// may drop its clean pages under pressure). The file must not be
// truncated while it is mapped.
func mapFile(path string, size int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if int64(int(size)) != size {
		return nil, fmt.Errorf("%d bytes do not fit the address space", size)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_PRIVATE)
	if errors.Is(err, syscall.ENOMEM) {
		return nil, fmt.Errorf("mapping its %d bytes needs as much address space, more than the process may still map (is the address space limited, `ulimit -v`?): %w", size, err)
	}
	return b, err
}
