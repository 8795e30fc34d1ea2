package engine

import (
	"strings"

	"github.com/sluice-ci/sluice/internal/logs"
	"github.com/sluice-ci/sluice/internal/plan"
)

// announceWaiting tells the sinks which of a run's first rows wait for others before any
// starts, so a live view can list them (JobWaiting). A row is named as the plan names it
// before its matrix is expanded: its literal name, else its id.
func (e *Engine) announceWaiting(rows []plan.Row) {
	for _, r := range rows {
		if r.State != plan.Waiting || len(r.Needs) == 0 {
			continue
		}
		e.emit(logs.Event{Kind: logs.JobWaiting, Job: r.Name, Text: strings.Join(r.Needs, ", ")})
	}
}
