//go:build unix

package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockFolder takes the run folder's lock (an advisory flock on dir/.lock,
// released by the kernel when the process ends, however it ends), so
// that two runs cannot write one folder at the same time. The lock file
// holds the owner's process ID for the message the second run gets.
func lockFolder(dir string) (release func(), err error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking the run folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			owner := "another process"
			if pid := strings.TrimSpace(string(b[:n])); pid != "" {
				owner = "process " + pid
			}
			return nil, refusef("the run folder %s is in use: %s is training there (choose another --out, or wait for it to finish)", dir, owner)
		}
		return nil, fmt.Errorf("locking the run folder %s: %w", dir, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil
}
