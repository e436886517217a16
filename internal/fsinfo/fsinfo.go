// Package fsinfo names kinds of files for error messages: the data, model
// and checkpoint readers accept regular files only (a device such as
// /dev/zero would be read without end, a named pipe could block for ever)
// and say what they were given instead.
package fsinfo

import "io/fs"

// Kind names what a file of mode m is when it is not a regular file: "a
// folder", "a device", "a named pipe", "a socket", or "not a plain file".
func Kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&(fs.ModeDevice|fs.ModeCharDevice) != 0:
		return "a device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a plain file"
}
