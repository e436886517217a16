package memcheck

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
)

// Limit is one bound on the memory the process can still take.
type Limit struct {
	// Name says what the limit is: "the cgroup's memory.max",
	// "MemAvailable", "the address-space limit RLIMIT_AS (ulimit -v)".
	Name string
	// Source is the file it was read from, or how it was set.
	Source string
	// Max is the limit itself (for MemAvailable: the machine's MemTotal).
	Max float64
	// Used is what counts against it already.
	Used float64
	// Available is what the process can still take.
	Available float64
	// AddressSpace marks a bound on address space: mapped files count
	// against it too.
	AddressSpace bool
}

// Need returns the part of e that counts against l: all of it for an
// address-space limit, the resident parts otherwise.
func (l Limit) Need(e *Estimate) float64 {
	if l.AddressSpace {
		return e.Total()
	}
	return e.Resident()
}

// System is where Limits reads: the running system (Host) or, in tests, a
// tree of fake /proc and /sys files.
type System struct {
	// Root is prefixed to every /proc and /sys path ("" for the real ones).
	Root string
	// AddressLimit returns the soft RLIMIT_AS; ok is false when there is
	// none (unlimited, or not on this platform).
	AddressLimit func() (limit uint64, ok bool)
	// Reusable returns address space the process has mapped but does not
	// use, which it can use again without mapping more (the Go heap's idle
	// spans); nil for none.
	Reusable func() uint64
}

// Limits returns every limit it can read. A file that does not exist or
// cannot be parsed gives no limit (a machine without cgroups has none).
func (s System) Limits() []Limit {
	var ls []Limit
	if l, ok := s.cgroupLimit(); ok {
		ls = append(ls, l)
	}
	if l, ok := s.memAvailable(); ok {
		ls = append(ls, l)
	}
	if l, ok := s.addressLimit(); ok {
		ls = append(ls, l)
	}
	return ls
}

func (s System) read(p string) ([]byte, error) { return os.ReadFile(s.Root + p) }

// kB reads the "Key: N kB" fields of a /proc file, in bytes.
func (s System) kB(p string, keys ...string) (map[string]float64, error) {
	b, err := s.read(p)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		for _, want := range keys {
			if k != want {
				continue
			}
			f := strings.Fields(v)
			if len(f) == 0 {
				continue
			}
			if n, err := strconv.ParseFloat(f[0], 64); err == nil {
				out[k] = n * 1024
			}
		}
	}
	return out, nil
}

// memAvailable is the kernel's estimate of the memory that can be taken
// without swapping.
func (s System) memAvailable() (Limit, bool) {
	m, err := s.kB("/proc/meminfo", "MemTotal", "MemAvailable")
	if err != nil {
		return Limit{}, false
	}
	avail, ok := m["MemAvailable"]
	if !ok {
		return Limit{}, false
	}
	total := m["MemTotal"]
	return Limit{Name: "the memory available on this machine (MemAvailable)", Source: "/proc/meminfo",
		Max: total, Used: total - avail, Available: avail}, true
}

// addressLimit is RLIMIT_AS minus the address space the process has
// mapped already (VmSize), plus what it can reuse.
func (s System) addressLimit() (Limit, bool) {
	if s.AddressLimit == nil {
		return Limit{}, false
	}
	lim, ok := s.AddressLimit()
	if !ok {
		return Limit{}, false
	}
	l := Limit{Name: "the address-space limit RLIMIT_AS (ulimit -v)", Source: "getrlimit; VmSize in /proc/self/status",
		Max: float64(lim), AddressSpace: true}
	if m, err := s.kB("/proc/self/status", "VmSize"); err == nil {
		l.Used = m["VmSize"]
	}
	l.Available = l.Max - l.Used
	if s.Reusable != nil {
		l.Available += float64(s.Reusable())
	}
	return l, true
}

// unlimited is the smallest value a cgroup v1 limit takes when it is not
// set (the kernel writes the largest page multiple below 2⁶³).
const unlimited = 1 << 60

// cgroupLimit finds the process's memory cgroup (v2, else v1) and returns
// its limit less its usage: for v2 the tightest memory.max of the cgroup
// and its ancestors, for v1 the hierarchical limit in memory.stat. Usage
// leaves out the inactive file cache, which the kernel reclaims before it
// fails an allocation.
func (s System) cgroupLimit() (Limit, bool) {
	cg, err := s.read("/proc/self/cgroup")
	if err != nil {
		return Limit{}, false
	}
	mounts, err := s.read("/proc/self/mountinfo")
	if err != nil {
		return Limit{}, false
	}
	var v2Path, v1Path string
	hasV2, hasV1 := false, false
	for _, line := range strings.Split(string(cg), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		switch {
		case f[0] == "0" && f[1] == "":
			v2Path, hasV2 = f[2], true
		case hasController(f[1], "memory"):
			v1Path, hasV1 = f[2], true
		}
	}
	if hasV1 {
		if mnt, root, ok := findMount(mounts, "cgroup", "memory"); ok {
			if l, ok := s.cgroupV1(s.cgroupDir(mnt, root, v1Path)); ok {
				return l, true
			}
		}
	}
	if hasV2 {
		if mnt, root, ok := findMount(mounts, "cgroup2", ""); ok {
			return s.cgroupV2(mnt, s.cgroupDir(mnt, root, v2Path))
		}
	}
	return Limit{}, false
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// findMount returns the mount point and root of the first mount of type
// fstype (whose super options include option, when set) in mountinfo.
func findMount(mountinfo []byte, fstype, option string) (mnt, root string, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		sep := -1
		for i, x := range f {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+3 > len(f) || f[sep+1] != fstype {
			continue
		}
		if option != "" && !hasController(f[sep+3], option) {
			continue
		}
		return unescape(f[4]), unescape(f[3]), true
	}
	return "", "", false
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroupDir is the folder of the cgroup at cgPath (from /proc/self/cgroup)
// under a mount of the hierarchy whose root is root; the mount point
// itself when that folder is not visible (a cgroup namespace).
func (s System) cgroupDir(mnt, root, cgPath string) string {
	rel, ok := strings.CutPrefix(cgPath, root)
	if !ok {
		rel = cgPath
	}
	dir := path.Join(mnt, rel)
	if _, err := os.Stat(s.Root + dir); err != nil {
		return mnt
	}
	return dir
}

// number reads a file holding one integer ("max" gives ok false).
func (s System) number(p string) (float64, bool) {
	b, err := s.read(p)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	return n, err == nil
}

// stat reads keys of a cgroup memory.stat file.
func (s System) stat(p string) map[string]float64 {
	b, err := s.read(p)
	out := map[string]float64{}
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 {
			if n, err := strconv.ParseFloat(f[1], 64); err == nil {
				out[f[0]] = n
			}
		}
	}
	return out
}

func (s System) cgroupV2(mnt, dir string) (Limit, bool) {
	best, found := Limit{}, false
	for d := dir; ; d = path.Dir(d) {
		if max, ok := s.number(d + "/memory.max"); ok {
			used, _ := s.number(d + "/memory.current")
			used -= s.stat(d + "/memory.stat")["inactive_file"]
			l := Limit{Name: "the cgroup's memory limit (memory.max)", Source: d + "/memory.max",
				Max: max, Used: used, Available: max - used}
			if !found || l.Available < best.Available {
				best, found = l, true
			}
		}
		if d == mnt || d == "/" || d == "." {
			break
		}
	}
	return best, found
}

func (s System) cgroupV1(dir string) (Limit, bool) {
	st := s.stat(dir + "/memory.stat")
	max, ok := st["hierarchical_memory_limit"]
	src := dir + "/memory.stat (hierarchical_memory_limit)"
	if !ok {
		if max, ok = s.number(dir + "/memory.limit_in_bytes"); !ok {
			return Limit{}, false
		}
		src = dir + "/memory.limit_in_bytes"
	}
	if max >= unlimited {
		return Limit{}, false
	}
	used, _ := s.number(dir + "/memory.usage_in_bytes")
	used -= st["total_inactive_file"]
	return Limit{Name: "the cgroup's memory limit (memory.limit_in_bytes)", Source: src,
		Max: max, Used: used, Available: max - used}, true
}

// String describes the limit: "the cgroup's memory limit (memory.max) of
// 4.0 GiB, 1.2 GiB in use (/sys/fs/cgroup/…/memory.max)".
func (l Limit) String() string {
	if l.Max == 0 {
		return fmt.Sprintf("%s (%s)", l.Name, l.Source)
	}
	return fmt.Sprintf("%s of %s, %s in use (%s)", l.Name, Bytes(l.Max), Bytes(max(l.Used, 0)), l.Source)
}
