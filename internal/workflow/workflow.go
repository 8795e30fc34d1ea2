// Package workflow loads and validates GitHub Actions workflow files and answers the questions
// the planner asks of them: does this event trigger the workflow, what are its inputs, and which
// legs does a job's matrix expand to.
//
// actionlint's AST is the in-memory model. actionlint lower-cases map keys (job IDs, input
// names, env names); the original spelling lives in the *actionlint.String values, and file
// order is recovered from positions.
package workflow

import (
	"slices"
	"strings"

	"github.com/rhysd/actionlint"
)

// Workflow is one parsed and validated workflow file.
type Workflow struct {
	Path   string // path as the user should see it (relative to the repository root when possible)
	Source []byte
	AST    *actionlint.Workflow
	// Warnings are the findings GitHub runs the workflow despite (see Classify).
	Warnings Errors
}

// Name is the workflow's name, or its file path when unnamed, as GitHub shows it.
func (w *Workflow) Name() string {
	if w.AST != nil && w.AST.Name != nil && w.AST.Name.Value != "" {
		return w.AST.Name.Value
	}
	return w.Path
}

// JobIDs returns the job IDs in their original spelling, in file order.
func (w *Workflow) JobIDs() []string {
	if w.AST == nil {
		return nil
	}
	jobs := make([]*actionlint.Job, 0, len(w.AST.Jobs))
	for _, j := range w.AST.Jobs {
		jobs = append(jobs, j)
	}
	slices.SortFunc(jobs, func(a, b *actionlint.Job) int { return comparePos(jobPos(a), jobPos(b)) })
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID.Value
	}
	return ids
}

// Job finds a job by ID, ignoring case as GitHub does.
func (w *Workflow) Job(id string) *actionlint.Job {
	if w.AST == nil {
		return nil
	}
	return w.AST.Jobs[strings.ToLower(id)]
}

func jobPos(j *actionlint.Job) *actionlint.Pos {
	if j.ID != nil && j.ID.Pos != nil {
		return j.ID.Pos
	}
	return j.Pos
}

// comparePos orders positions; a missing position sorts last so that it never hides a real one.
func comparePos(a, b *actionlint.Pos) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	case a.Line != b.Line:
		return a.Line - b.Line
	default:
		return a.Col - b.Col
	}
}

// Schedule is one entry of a workflow's `on: schedule`.
type Schedule struct {
	Cron     string
	Timezone string // an IANA time zone name; "" is UTC
}

// Schedules lists the entries of the workflow's `on: schedule`.
func (w *Workflow) Schedules() []Schedule {
	var out []Schedule
	for _, ev := range w.AST.On {
		if s, ok := ev.(*actionlint.ScheduledEvent); ok {
			for _, e := range s.Schedules {
				if e.Cron != nil {
					sc := Schedule{Cron: e.Cron.Value}
					if e.Timezone != nil {
						sc.Timezone = e.Timezone.Value
					}
					out = append(out, sc)
				}
			}
		}
	}
	return out
}
