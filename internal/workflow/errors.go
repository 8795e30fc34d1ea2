package workflow

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/rhysd/actionlint"
)

// Error is one problem at a place in a workflow file.
type Error struct {
	File      string
	Line, Col int
	Message   string
	Kind      string // actionlint rule name ("syntax-check", "job-needs", ...)
}

// Error formats the problem the way editors and CI annotations understand it.
func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s [%s]", e.File, e.Line, e.Col, e.Message, e.Kind)
}

// Errors is every problem found in one or more workflow files.
type Errors []*Error

// Error gives one problem per line, sorted by file, line and column.
func (es Errors) Error() string {
	sorted := slices.Clone(es)
	sortErrors(sorted)
	lines := make([]string, len(sorted))
	for i, e := range sorted {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
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
		out = append(out, &Error{File: file, Line: e.Line, Col: e.Column, Message: e.Message, Kind: e.Kind})
	}
	return out
}
