//go:build cgo && linux

package kernels

// The C kernels allocate their scratch with malloc from whichever thread
// runs them, and glibc gives each new thread its own arena: 64 MiB of
// address space reserved per arena, up to eight per core. Under an
// address-space limit (`ulimit -v`) that reservation alone can exhaust
// it, so at start-up the arenas are limited to two (unless
// MALLOC_ARENA_MAX says otherwise). A C library without M_ARENA_MAX is
// left as it is.

/*
#include <malloc.h>
static void mhcc_limit_arenas(void) {
#ifdef M_ARENA_MAX
	mallopt(M_ARENA_MAX, 2);
#endif
}
*/
import "C"

import "os"

func init() {
	if _, set := os.LookupEnv("MALLOC_ARENA_MAX"); !set {
		C.mhcc_limit_arenas()
	}
}
