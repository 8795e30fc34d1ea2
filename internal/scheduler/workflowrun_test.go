package scheduler

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/store"
)

// TestWorkflowRunChainStops: a workflow that runs on its own completion (a loop a user can
// write by mistake, or an attacker on purpose) chains three levels, as GitHub, and stops.
// Each level's payload names the run before it, with its conclusion.
func TestWorkflowRunChainStops(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	first := h.triggerOne(h.pushWorkflows(map[string]string{"loop.yml": `name: Loop
on:
  push:
  workflow_run:
    workflows: [Loop]
    types: [completed]
jobs:
  again:
    runs-on: ubuntu-latest
    steps:
      - run: echo again
`}))
	listRuns := func() []store.Run {
		rs, err := h.db.ListRuns(h.ctx, store.RunFilter{RepoID: h.repo.ID})
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	var got []string
	prev := first.ID
	for level := 0; level <= maxWorkflowRunChain; level++ {
		h.finish("again", store.ConclusionFailure, nil)
		if level == maxWorkflowRunChain {
			break
		}
		// The next level is triggered in the background once the run completes.
		deadline := time.Now().Add(30 * time.Second)
		for {
			rs := listRuns() // newest first
			if len(rs) == level+2 && h.states(rs[0].ID)["again"] == store.StatusQueued {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("level %d: no workflow_run run queued after run %d completed", level+1, prev)
			}
			time.Sleep(10 * time.Millisecond)
		}
		next := listRuns()[0]
		var p struct {
			WorkflowRun struct {
				ID         int64  `json:"id"`
				Conclusion string `json:"conclusion"`
				HeadBranch string `json:"head_branch"`
			} `json:"workflow_run"`
		}
		if err := json.Unmarshal(next.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if p.WorkflowRun.ID != prev || p.WorkflowRun.Conclusion != store.ConclusionFailure {
			t.Errorf("level %d: payload names run %d (%s), want run %d (failure)", level+1, p.WorkflowRun.ID, p.WorkflowRun.Conclusion, prev)
		}
		got = append(got, next.Event+" "+next.Trigger)
		prev = next.ID
	}
	h.s.bg.wg.Wait() // the last completion's background look is done
	if n := len(listRuns()); n != 1+maxWorkflowRunChain {
		t.Errorf("%d runs, want the push's and %d workflow_run levels", n, maxWorkflowRunChain)
	}
	want := []string{"workflow_run workflow_run", "workflow_run workflow_run", "workflow_run workflow_run"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("chained runs (-want +got):\n%s", d)
	}
}
