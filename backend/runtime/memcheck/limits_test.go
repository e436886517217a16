package memcheck

import (
	"testing"
)

// The fake trees under testdata hold /proc and /sys files as Linux writes
// them; the expected numbers below are computed from those files by hand.

func limitsOf(t *testing.T, root string, as uint64, reusable uint64) map[string]Limit {
	t.Helper()
	s := System{Root: "testdata/" + root, Reusable: func() uint64 { return reusable }}
	if as > 0 {
		s.AddressLimit = func() (uint64, bool) { return as, true }
	}
	out := map[string]Limit{}
	for _, l := range s.Limits() {
		key := "cgroup"
		switch {
		case l.AddressSpace:
			key = "as"
		case l.Source == "/proc/meminfo":
			key = "meminfo"
		}
		if _, dup := out[key]; dup {
			t.Fatalf("two %s limits", key)
		}
		out[key] = l
	}
	return out
}

func wantLimit(t *testing.T, l Limit, ok bool, source string, max, used, avail float64) {
	t.Helper()
	if !ok {
		t.Fatalf("no limit, want one from %s", source)
	}
	if l.Source != source || l.Max != max || l.Used != used || l.Available != avail {
		t.Errorf("limit %+v, want source %s max %.0f used %.0f available %.0f", l, source, max, used, avail)
	}
}

// TestCgroupV2TightestAncestor: the process's cgroup (run.scope) allows
// 4 GiB and uses 1 GiB of which 256 MiB is inactive file cache; its parent
// allows 8 GiB and uses 3 GiB of which 512 MiB is inactive; the root has
// no memory.max. The binding limit is the scope's: 4 GiB − (1 GiB − 256
// MiB) = 3.25 GiB, not the parent's 8 − 2.5 = 5.5 GiB.
func TestCgroupV2TightestAncestor(t *testing.T) {
	ls := limitsOf(t, "v2", 0, 0)
	l, ok := ls["cgroup"]
	wantLimit(t, l, ok, "/sys/fs/cgroup/app.slice/run.scope/memory.max", 4<<30, 768<<20, 4<<30-768<<20)
	// MemAvailable 12000000 kB of MemTotal 16384000 kB
	l, ok = ls["meminfo"]
	wantLimit(t, l, ok, "/proc/meminfo", 16384000*1024, (16384000-12000000)*1024, 12000000*1024)
	if _, ok := ls["as"]; ok {
		t.Errorf("an address-space limit without RLIMIT_AS")
	}
}

// TestAddressSpaceLimit: RLIMIT_AS 4000000 kB (`ulimit -v 4000000`) with
// VmSize 2400000 kB mapped leaves 1600000 kB, plus the 100 MiB of idle
// heap the process can reuse.
func TestAddressSpaceLimit(t *testing.T) {
	const rl, reuse = 4000000 * 1024, 100 << 20
	l, ok := limitsOf(t, "v2", rl, reuse)["as"]
	wantLimit(t, l, ok, "getrlimit; VmSize in /proc/self/status", rl, 2400000*1024, (4000000-2400000)*1024+reuse)
	if !l.AddressSpace {
		t.Error("RLIMIT_AS is not marked as an address-space limit")
	}
}

// TestCgroupV1Hierarchical: memory.limit_in_bytes is unlimited (the
// kernel's 9223372036854771712) but memory.stat's
// hierarchical_memory_limit, inherited from an ancestor, is 2 GiB; usage
// 600000000 bytes less 100000000 of inactive file cache.
func TestCgroupV1Hierarchical(t *testing.T) {
	l, ok := limitsOf(t, "v1", 0, 0)["cgroup"]
	wantLimit(t, l, ok, "/sys/fs/cgroup/memory/docker/abc/memory.stat (hierarchical_memory_limit)", 2<<30, 500000000, 2<<30-500000000)
}

// TestCgroupV1Namespace: inside a cgroup namespace the memory hierarchy is
// mounted at the process's own cgroup (mountinfo's root field equals the
// path in /proc/self/cgroup), so its files are at the mount point: limit
// 1 GiB, usage 256 MiB.
func TestCgroupV1Namespace(t *testing.T) {
	l, ok := limitsOf(t, "v1ns", 0, 0)["cgroup"]
	wantLimit(t, l, ok, "/sys/fs/cgroup/memory/memory.limit_in_bytes", 1<<30, 256<<20, 768<<20)
}

// TestMountinfoEscapes: a mount point with an escaped character
// (\137 is "_").
func TestMountinfoEscapes(t *testing.T) {
	l, ok := limitsOf(t, "underscore", 0, 0)["cgroup"]
	wantLimit(t, l, ok, "/sys/fs/my_cgroup/g/memory.max", 1048576000, 0, 1048576000)
}

// TestNoLimits: no cgroup files, a meminfo without MemAvailable and no
// RLIMIT_AS give no limit at all (rather than a made-up one).
func TestNoLimits(t *testing.T) {
	if ls := limitsOf(t, "none", 0, 0); len(ls) != 0 {
		t.Errorf("limits %+v, want none", ls)
	}
}

// TestHostLimits reads the running system: whatever it finds must be
// sane (this machine's numbers are not known in advance).
func TestHostLimits(t *testing.T) {
	for _, l := range Host().Limits() {
		if l.Available > l.Max && l.Max > 0 || l.Max < 0 || l.Source == "" {
			t.Errorf("implausible limit %+v", l)
		}
	}
}
