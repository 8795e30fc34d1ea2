package workflow

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/rhysd/actionlint"
)

// Error is one finding at a place in a workflow file.
type Error struct {
	File      string
	Line, Col int
	Message   string
	Kind      string // actionlint rule name ("syntax-check", "job-needs", ...) or one of sluice's
	Severity  Severity
}

// Error formats the finding the way editors and CI annotations understand it; a warning says so
// after the position, as compilers do.
func (e *Error) Error() string {
	if e.Severity == Warning {
		return fmt.Sprintf("%s:%d:%d: warning: %s [%s]", e.File, e.Line, e.Col, e.Message, e.Kind)
	}
	return fmt.Sprintf("%s:%d:%d: %s [%s]", e.File, e.Line, e.Col, e.Message, e.Kind)
}

// Errors is every finding in one or more workflow files.
type Errors []*Error

// Error gives one finding per line, sorted by file, line and column.
func (es Errors) Error() string {
	sorted := slices.Clone(es)
	sortErrors(sorted)
	lines := make([]string, len(sorted))
	for i, e := range sorted {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Split separates refusals from warnings, keeping the order.
func (es Errors) Split() (refusals, warnings Errors) {
	for _, e := range es {
		if e.Severity == Warning {
			warnings = append(warnings, e)
		} else {
			refusals = append(refusals, e)
		}
	}
	return refusals, warnings
}

func sortErrors(es Errors) {
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Col, b.Col),
			cmp.Compare(a.Message, b.Message),
		)
	})
}

func fromActionlint(file string, errs []*actionlint.Error) Errors {
	out := make(Errors, 0, len(errs))
	for _, e := range errs {
		out = append(out, &Error{File: file, Line: e.Line, Col: e.Column, Message: e.Message, Kind: e.Kind, Severity: classifyActionlint(e)})
	}
	return out
}
