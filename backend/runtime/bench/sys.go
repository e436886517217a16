package bench

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuTime returns the process's user + system CPU time (0 if unknown).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Machine describes where a benchmark ran.
type Machine struct {
	CPU        string `json:"cpu"`
	NumCPU     int    `json:"nproc"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go"`
	BLAS       string `json:"blas"`
	// OpenBLASThreads is $OPENBLAS_NUM_THREADS ("" when unset).
	OpenBLASThreads string `json:"openblas_threads,omitempty"`
}

// cpuModel returns the "model name" of /proc/cpuinfo ("" if unknown).
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func thisMachine(blas string) Machine {
	return Machine{
		CPU: cpuModel(), NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion: runtime.Version(), BLAS: blas, OpenBLASThreads: os.Getenv("OPENBLAS_NUM_THREADS"),
	}
}

// procStatus returns a "kB" field of /proc/self/status in bytes (0 when
// unavailable, e.g. off Linux).
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != field {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return 0
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0
		}
		return n * 1024
	}
	return 0
}

// RSS returns the current resident set size in bytes (VmRSS; 0 when
// unknown).
func RSS() int64 { return procStatus("VmRSS") }

// PeakRSS returns the peak resident set size in bytes (VmHWM, since the
// start of the process or the last ResetPeakRSS; 0 when unknown).
func PeakRSS() int64 { return procStatus("VmHWM") }

// ResetPeakRSS resets VmHWM to the current RSS (Linux ≥ 4.0, writing 5 to
// /proc/self/clear_refs); it reports whether that worked.
func ResetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}
