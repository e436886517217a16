package lang

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Severity is how bad a diagnostic is.
type Severity int

// Severities, most severe first.
const (
	Error Severity = iota
	Warning
	Note
)

// String returns "error", "warning" or "note".
func (s Severity) String() string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	case Note:
		return "note"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// MarshalText encodes the severity as its name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Related is a secondary location that explains a diagnostic, such as
// "`dim` is set here".
type Related struct {
	Pos     Pos
	End     Pos // optional end of the range, exclusive
	Message string
}

// Diagnostic is one error, warning or note about a source file.
type Diagnostic struct {
	Severity Severity
	Pos      Pos // where the problem is
	// End is the exclusive end of the source range to underline; the zero
	// Pos underlines a single character.
	End     Pos
	Message string   // lowercase, no trailing period, names in backticks
	Help    []string // "= help:" lines that name the fix
	Related []Related
}

// Diagnostics is a list of diagnostics, usually sorted by position.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (d Diagnostics) HasErrors() bool {
	for _, x := range d {
		if x.Severity == Error {
			return true
		}
	}
	return false
}

// Errors counts the diagnostics of severity Error.
func (d Diagnostics) Errors() int {
	n := 0
	for _, x := range d {
		if x.Severity == Error {
			n++
		}
	}
	return n
}

// Sort orders the diagnostics by file and position (ties keep their
// order) and removes exact duplicates: the same severity and message at
// the same position, which unrolled `repeat` bodies produce.
func (d *Diagnostics) Sort() {
	s := *d
	sort.SliceStable(s, func(i, j int) bool {
		a, b := s[i].Pos, s[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	type key struct {
		sev Severity
		pos Pos
		msg string
	}
	seen := make(map[key]bool, len(s))
	out := s[:0]
	for _, x := range s {
		k := key{x.Severity, x.Pos, x.Message}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, x)
	}
	*d = out
}

// jsonPos is a position in the JSON form.
type jsonPos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
}

type jsonRelated struct {
	jsonPos
	Message string `json:"message"`
}

type jsonDiag struct {
	Severity Severity `json:"severity"`
	jsonPos
	EndLine int           `json:"end_line,omitempty"`
	EndCol  int           `json:"end_col,omitempty"`
	Message string        `json:"message"`
	Help    []string      `json:"help,omitempty"`
	Related []jsonRelated `json:"related,omitempty"`
}

// JSON encodes the diagnostics for tools (`--diag=json`): an array of
// objects with severity, file, line, col, end_line, end_col, message,
// help and related, in the same order and with the same text as Render.
func (d Diagnostics) JSON() ([]byte, error) {
	out := make([]jsonDiag, 0, len(d))
	for _, x := range d {
		j := jsonDiag{
			Severity: x.Severity,
			jsonPos:  jsonPos{x.Pos.File, x.Pos.Line, x.Pos.Col},
			Message:  x.Message,
			Help:     x.Help,
		}
		if x.End.IsValid() {
			j.EndLine, j.EndCol = x.End.Line, x.End.Col
		}
		for _, r := range x.Related {
			j.Related = append(j.Related, jsonRelated{jsonPos{r.Pos.File, r.Pos.Line, r.Pos.Col}, r.Message})
		}
		out = append(out, j)
	}
	return json.MarshalIndent(out, "", "  ")
}

// diagList collects diagnostics while checking.
type diagList struct {
	list    Diagnostics
	errors  int        // errors reported, including dropped ones
	dropped Diagnostic // scratch target for diagnostics past maxDiags
}

func (l *diagList) add(sev Severity, pos, end Pos, format string, args ...any) *Diagnostic {
	d := Diagnostic{Severity: sev, Pos: pos, End: end, Message: fmt.Sprintf(format, args...)}
	if sev == Error {
		l.errors++
	}
	if len(l.list) >= maxDiags {
		l.dropped = d // keep the callers' chaining working; the list is full
		return &l.dropped
	}
	l.list = append(l.list, d)
	return &l.list[len(l.list)-1]
}

// maxDiags bounds the diagnostics collected from one file.
const maxDiags = 500

func (l *diagList) errorf(pos, end Pos, format string, args ...any) *Diagnostic {
	return l.add(Error, pos, end, format, args...)
}

func (l *diagList) warnf(pos, end Pos, format string, args ...any) *Diagnostic {
	return l.add(Warning, pos, end, format, args...)
}

// help appends a help line.
func (d *Diagnostic) help(format string, args ...any) *Diagnostic {
	d.Help = append(d.Help, fmt.Sprintf(format, args...))
	return d
}

// related appends a related note.
func (d *Diagnostic) related(pos, end Pos, format string, args ...any) *Diagnostic {
	d.Related = append(d.Related, Related{Pos: pos, End: end, Message: fmt.Sprintf(format, args...)})
	return d
}
