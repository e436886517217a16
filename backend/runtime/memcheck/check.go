package memcheck

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// EnvOverride is the environment variable that overrides the check:
// "off" skips it, a size ("64GiB", "500M", a number of bytes) replaces
// the limits read from the system with that much available memory.
const EnvOverride = "MHCC_MEMORY"

// TooLargeError is the refusal of an estimate that exceeds a limit.
type TooLargeError struct {
	Estimate *Estimate
	// Limit is the limit that binds: the one exceeded by the most.
	Limit Limit
	// Need is the part of the estimate that counts against it.
	Need float64
}

// shownParts is how many of the largest parts a refusal lists.
const shownParts = 4

// Error gives the estimate, the limit, the largest parts and how to
// reduce them, e.g.
//
//	training tiny.mhc needs about 41.9 GiB, but only 3.2 GiB is available: the address-space limit … of 3.8 GiB, 0.6 GiB in use (…)
//	  activations            20.6 GiB  batch 65536 × context 128; largest …
//	  …
//	to fit, lower train.batch …
//	to run anyway, set MHCC_MEMORY=off (or MHCC_MEMORY=SIZE for the memory you know there is); see docs/runtime.md
func (e *TooLargeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "not enough memory: %s needs about %s, but only %s is available: %s",
		e.Estimate.What, Bytes(e.Need), Bytes(max(e.Limit.Available, 0)), e.Limit)
	type row struct{ name, bytes, detail string }
	var rows []row
	var hints []string
	seen := map[string]bool{}
	rest, nrest, hinted := 0.0, 0, 0.0
	var inUse []Part
	hintable := 0.0 // the need of the parts that say how to shrink them
	for _, p := range e.Estimate.Parts {
		if p.Hint != "" && !p.InUse {
			hintable += p.Bytes
		}
	}
	for _, p := range e.Estimate.Largest() {
		if p.InUse {
			if e.Limit.AddressSpace {
				inUse = append(inUse, p)
			}
			continue
		}
		if p.AddressOnly && !e.Limit.AddressSpace {
			continue // no part of this need
		}
		if len(rows) == shownParts {
			rest += p.Bytes
			nrest++
			continue
		}
		rows = append(rows, row{p.Name, Bytes(p.Bytes), p.Detail})
	}
	// the hints of the largest parts that make half of what hints can shrink
	for _, p := range e.Estimate.Largest() {
		if p.Hint == "" || p.InUse || hinted >= hintable/2 {
			continue
		}
		if !seen[p.Hint] {
			seen[p.Hint] = true
			hints = append(hints, p.Hint)
		}
		hinted += p.Bytes
	}
	if nrest > 0 {
		what := "parts"
		if nrest == 1 {
			what = "part"
		}
		rows = append(rows, row{"the rest", Bytes(rest), fmt.Sprintf("(%d smaller %s)", nrest, what)})
	}
	width, bwidth := 0, 0
	for _, r := range rows {
		width, bwidth = max(width, len([]rune(r.name))), max(bwidth, len(r.bytes))
	}
	for _, r := range rows {
		line := fmt.Sprintf("\n  %-*s  %*s", width, r.name, bwidth, r.bytes)
		if r.detail != "" {
			line += "  " + r.detail
		}
		b.WriteString(line)
	}
	for _, p := range inUse {
		fmt.Fprintf(&b, "\n(in use already: %s %s, %s)", p.Name, Bytes(p.Bytes), p.Detail)
		if p.Hint != "" && !seen[p.Hint] {
			seen[p.Hint] = true
			hints = append(hints, p.Hint)
		}
	}
	for _, h := range hints {
		b.WriteString("\nto fit, " + h)
	}
	fmt.Fprintf(&b, "\nto run anyway, set %s=off (or %s=SIZE, the memory you know the run can use); see docs/runtime.md", EnvOverride, EnvOverride)
	return b.String()
}

// Check compares e with the limits of the running system (after returning
// the memory the Go heap no longer uses, so that a process that ran
// something before is not held to its garbage) and returns a
// *TooLargeError if it does not fit. When it fits, it sets the Go
// collector's soft memory limit to what the process may use, so that
// garbage is collected before it pushes the process over the limit
// (unless GOMEMLIMIT is set). MHCC_MEMORY overrides the check.
func Check(e *Estimate) error {
	override := strings.TrimSpace(os.Getenv(EnvOverride))
	if strings.EqualFold(override, "off") {
		return nil
	}
	debug.FreeOSMemory()
	var limits []Limit
	if override != "" {
		n, err := ParseSize(override)
		if err != nil {
			return fmt.Errorf("%s=%q: %w", EnvOverride, override, err)
		}
		limits = []Limit{{Name: "the memory set by " + EnvOverride, Source: EnvOverride + "=" + override, Available: n}}
	} else {
		limits = Host().Limits()
	}
	if err := CheckAgainst(e, limits); err != nil {
		return err
	}
	setGoLimit(e, limits)
	return nil
}

// CheckAgainst compares e with limits: a *TooLargeError names the limit
// exceeded by the most.
func CheckAgainst(e *Estimate, limits []Limit) error {
	var worst *TooLargeError
	for _, l := range limits {
		need := l.Need(e)
		if need <= l.Available {
			continue
		}
		if worst == nil || need-l.Available > worst.Need-worst.Limit.Available {
			worst = &TooLargeError{Estimate: e, Limit: l, Need: need}
		}
	}
	if worst != nil {
		return worst
	}
	return nil
}

// setGoLimit sets the collector's soft memory limit to the memory the Go
// runtime holds now plus the least that any limit leaves available (less,
// under an address-space limit, the address space that e reserves for
// what is not Go's heap).
func setGoLimit(e *Estimate, limits []Limit) {
	if os.Getenv("GOMEMLIMIT") != "" || len(limits) == 0 {
		return
	}
	reserve := e.Total() - e.Resident()
	avail := math.Inf(1)
	for _, l := range limits {
		a := l.Available
		if l.AddressSpace {
			a -= reserve
		}
		avail = min(avail, a)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	held := float64(ms.Sys - ms.HeapReleased)
	if lim := held + avail; lim > 0 && lim < math.MaxInt64/2 {
		debug.SetMemoryLimit(int64(lim))
	}
}

// ParseSize reads a byte count: a number with an optional unit, K, M, G,
// T (powers of 1024, with or without "i" and "B"), e.g. "64GiB", "500M",
// "1073741824".
func ParseSize(s string) (float64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') && t[i-1] != '.' {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.ToUpper(strings.TrimSpace(t[i:]))
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 || math.IsInf(n, 0) {
		return 0, fmt.Errorf("want a size such as 64GiB, 500M or a number of bytes, or off")
	}
	unit = strings.TrimSuffix(strings.TrimSuffix(unit, "B"), "I")
	scale := map[string]float64{"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
	f, ok := scale[unit]
	if !ok {
		return 0, fmt.Errorf("unknown unit in %q: want K, M, G or T (powers of 1024)", s)
	}
	return n * f, nil
}
