package engine

import (
	"strings"

	"github.com/sluice-ci/sluice/internal/logs"
)

// announceWaiting tells the sinks which selected jobs wait for others before
// any starts, so a live view can list them (JobWaiting). The job is named as
// runNode names it before its matrix is expanded: its literal name, else
// its id.
func (wr *workflowRun) announceWaiting(sel map[string]bool) {
	for _, k := range wr.order {
		n := wr.nodes[k]
		if !sel[k] || len(n.needs) == 0 {
			continue
		}
		display := wr.prefix + n.id
		if n.job.Name != nil && !n.job.Name.ContainsExpression() {
			display = wr.prefix + n.job.Name.Value
		}
		var needs []string
		for _, d := range n.needs {
			if dn, ok := wr.nodes[d]; ok {
				needs = append(needs, dn.id)
			}
		}
		wr.e.emit(logs.Event{Kind: logs.JobWaiting, Job: display, Text: strings.Join(needs, ", ")})
	}
}
