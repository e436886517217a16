package memcheck

import (
	"errors"
	"strings"
	"testing"
)

func testEstimate() *Estimate {
	e := &Estimate{What: "training m.mhc"}
	e.Add(Part{Name: "activations", Bytes: 6 << 30, Detail: "batch 4096 × context 128", Hint: "lower the batch"})
	e.Add(Part{Name: "parameters", Bytes: 1 << 30, Hint: "make the model smaller"})
	e.Add(Part{Name: "data file", Bytes: 3 << 30, AddressOnly: true, Hint: "use a smaller data file"})
	e.Add(Part{Name: "runtime", Bytes: 64 << 20})
	e.Add(Part{Name: "nothing", Bytes: 0})
	return e
}

// TestCheckAgainst: the resident parts (7 GiB + 64 MiB) count against a
// cgroup or MemAvailable, all parts (10 GiB + 64 MiB, with the mapped
// file) against the address space; the refusal names the limit exceeded
// by the most.
func TestCheckAgainst(t *testing.T) {
	e := testEstimate()
	if len(e.Parts) != 4 {
		t.Fatalf("%d parts, want 4 (a part of 0 bytes is dropped)", len(e.Parts))
	}
	const resident, total = 7<<30 + 64<<20, 10<<30 + 64<<20
	if e.Resident() != resident || e.Total() != total {
		t.Fatalf("resident %.0f total %.0f, want %d %d", e.Resident(), e.Total(), resident, total)
	}
	cg := Limit{Name: "cgroup", Source: "memory.max", Max: 16 << 30, Used: 9 << 30, Available: 7<<30 + 63<<20}
	as := Limit{Name: "RLIMIT_AS", Source: "getrlimit", Max: 12 << 30, Used: 1 << 30, Available: 11 << 30, AddressSpace: true}
	if err := CheckAgainst(e, []Limit{as}); err != nil {
		t.Errorf("10 GiB against 11 GiB of address space: %v", err)
	}
	err := CheckAgainst(e, []Limit{as, cg})
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Limit.Name != "cgroup" || tl.Need != resident {
		t.Fatalf("got %v, want the cgroup exceeded by 1 MiB", err)
	}
	// both exceeded: the address space by 2 GiB + 64 MiB, the cgroup by 1 MiB
	as.Available = 8 << 30
	if err := CheckAgainst(e, []Limit{cg, as}); !errors.As(err, &tl) || tl.Limit.Name != "RLIMIT_AS" || tl.Need != total {
		t.Fatalf("got %v, want RLIMIT_AS exceeded", err)
	}
	msg := squeeze(tl.Error())
	for _, want := range []string{
		"not enough memory: training m.mhc needs about 10.1 GiB, but only 8.0 GiB is available: RLIMIT_AS of 12.0 GiB, 1.0 GiB in use (getrlimit)",
		"\nactivations 6.0 GiB batch 4096 × context 128\ndata file 3.0 GiB\nparameters 1.0 GiB\nruntime 64.0 MiB\n",
		"\nto fit, lower the batch",
		"\nto run anyway, set MHCC_MEMORY=off",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	// the hints of the parts making half of the need: the activations'
	// alone are 6 of 10 GiB
	if strings.Contains(msg, "make the model smaller") || strings.Contains(msg, "smaller data file") {
		t.Errorf("hints of small parts:\n%s", msg)
	}
	// against the cgroup the mapped file is no part of the need
	tl = &TooLargeError{Estimate: e, Limit: cg, Need: resident}
	if strings.Contains(tl.Error(), "data file") {
		t.Errorf("a mapped file listed against a cgroup limit:\n%s", tl.Error())
	}
}

// TestManyPartsSummarised: past the four largest parts, the rest is one
// line.
func TestManyPartsSummarised(t *testing.T) {
	e := &Estimate{What: "x"}
	for i := range 7 {
		e.Add(Part{Name: strings.Repeat("p", i+1), Bytes: float64((10 - i) << 20)})
	}
	msg := squeeze((&TooLargeError{Estimate: e, Limit: Limit{Name: "l", Source: "s", Available: 1}, Need: e.Total()}).Error())
	// the parts of 6, 5 and 4 MiB
	if !strings.Contains(msg, "\npppp 7.0 MiB\nthe rest 15.0 MiB (3 smaller parts)\n") || strings.Contains(msg, "ppppp ") {
		t.Errorf("message:\n%s", msg)
	}
}

// squeeze makes every run of spaces one space and drops the indentation,
// so that the tests do not depend on the column widths.
func squeeze(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]float64{
		"64GiB": 64 << 30, "64G": 64 << 30, "64gb": 64 << 30, "500M": 500 << 20, "1.5T": 1.5 * (1 << 40),
		"1073741824": 1 << 30, " 2 KiB ": 2 << 10, "0": 0,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "G", "-1G", "12X", "lots", "1e999"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}

// TestOverride: MHCC_MEMORY=off skips the check, a size replaces the
// system's limits (it is memory: the mapped file is no part of the need),
// anything else is an error naming the variable.
func TestOverride(t *testing.T) {
	e := testEstimate()
	t.Setenv(EnvOverride, "off")
	t.Setenv("GOMEMLIMIT", "1TiB") // keep the test's process's collector as it is
	if err := Check(e); err != nil {
		t.Errorf("off: %v", err)
	}
	t.Setenv(EnvOverride, "7.1G")
	if err := Check(e); err != nil {
		t.Errorf("7.1G for 7.06 GiB: %v", err)
	}
	t.Setenv(EnvOverride, "7G")
	var tl *TooLargeError
	if err := Check(e); !errors.As(err, &tl) || !strings.Contains(err.Error(), "training m.mhc needs about 7.1 GiB, but only 7.0 GiB is available: the memory set by MHCC_MEMORY (MHCC_MEMORY=7G)") {
		t.Errorf("7G for 7.06 GiB: %v", err)
	}
	t.Setenv(EnvOverride, "plenty")
	if err := Check(e); err == nil || !strings.Contains(err.Error(), `MHCC_MEMORY="plenty"`) {
		t.Errorf("a bad value: %v", err)
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[float64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 41.2 * (1 << 30): "41.2 GiB", 3 * (1 << 60): "3.0 EiB", 1 << 80: "1.05e+06 EiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%v) = %q, want %q", n, got, want)
		}
	}
}

// TestInUse: a data file mapped before the check is in what the
// address-space limit counts as used, so it is no part of the need; a
// refusal against that limit shows it, with its hint.
func TestInUse(t *testing.T) {
	e := &Estimate{What: "training m.mhc"}
	e.Add(Part{Name: "activations", Bytes: 2 << 30, Hint: "lower the batch"})
	e.Add(Part{Name: "data file", Bytes: 3 << 30, AddressOnly: true, InUse: true, Detail: "big.txt, mapped", Hint: "use a smaller data file"})
	if e.Total() != 2<<30 || e.Resident() != 2<<30 {
		t.Fatalf("total %.0f resident %.0f, want 2 GiB each", e.Total(), e.Resident())
	}
	as := Limit{Name: "RLIMIT_AS", Source: "getrlimit", Max: 4 << 30, Used: 3 << 30, Available: 1 << 30, AddressSpace: true}
	err := CheckAgainst(e, []Limit{as})
	var tl *TooLargeError
	if !errors.As(err, &tl) {
		t.Fatalf("2 GiB against 1 GiB: %v", err)
	}
	msg := squeeze(tl.Error())
	for _, want := range []string{"\nactivations 2.0 GiB\n(in use already: data file 3.0 GiB, big.txt, mapped)\nto fit, lower the batch\nto fit, use a smaller data file\n"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}
