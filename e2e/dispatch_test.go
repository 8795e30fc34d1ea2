package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

const dispatchWorkflow = `name: x
on:
  workflow_dispatch:
    inputs:
      level:
        description: log level
        default: info
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - run: echo "level is ${{ inputs.level }}"
`

const sleepWorkflow = `name: sleepy
on: workflow_dispatch
jobs:
  nap:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "napping"
          sleep 300
`

// flakyWorkflow's flaky job fails until the FIXED secret is "yes".
const flakyWorkflow = `name: flaky
on: workflow_dispatch
jobs:
  ok:
    runs-on: ubuntu-latest
    steps:
      - run: echo "ok ran"
  flaky:
    runs-on: ubuntu-latest
    steps:
      - env:
          FIXED: ${{ secrets.FIXED }}
        run: |
          echo "flaky ran"
          test "$FIXED" = yes
`

// dispatch runs `sluice dispatch --json` and returns the one run started.
func (s *srv) dispatch(t *testing.T, args ...string) server.RunView {
	t.Helper()
	out := s.mustCLI(t, append([]string{"dispatch", "--json"}, args...)...)
	var runs []server.RunView
	if err := json.Unmarshal([]byte(out), &runs); err != nil {
		t.Fatalf("decoding sluice dispatch --json %q: %v", out, err)
	}
	if len(runs) != 1 {
		t.Fatalf("sluice dispatch %q started %d runs, want 1: %s", args, len(runs), out)
	}
	return runs[0]
}

// TestDispatchCancelRerun starts a workflow_dispatch run with an input,
// cancels a sleeping run, and re-runs only the failed job of a run.
func TestDispatchCancelRerun(t *testing.T) {
	t.Parallel()
	s := startServer(t, 2)
	g, _ := newGitRepo(t, map[string]string{
		".github/workflows/x.yml":     dispatchWorkflow,
		".github/workflows/sleep.yml": sleepWorkflow,
		".github/workflows/flaky.yml": flakyWorkflow,
	})
	s.addRepo(t, "demo", g, "hook-"+randomHex(t, 8))

	t.Run("dispatch with input", func(t *testing.T) {
		r := s.dispatch(t, "demo", ".github/workflows/x.yml", "--ref", "main", "--input", "level=debug")
		d := s.waitRunDone(t, r.ID, runTimeout)
		if d.Run.Event != "workflow_dispatch" || d.Run.Conclusion != store.ConclusionSuccess {
			t.Fatalf("run %d: %s %s, want a successful workflow_dispatch run:%s", r.ID, d.Run.Event, d.Run.Conclusion, describeJobs(d))
		}
		if log := s.jobLog(t, jobByKey(t, d, "show").ID); !strings.Contains(log, "level is debug") {
			t.Errorf("the step did not print the input:\n%s", log)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		r := s.dispatch(t, "demo", "sleep.yml", "--ref", "main")
		s.waitJob(t, r.ID, "nap", "sleeping", runTimeout, func(j server.JobView) bool {
			return j.Status == store.StatusInProgress && strings.Contains(s.jobLog(t, j.ID), "napping")
		})
		s.mustCLI(t, "cancel", fmt.Sprint(r.ID))
		// The step sleeps 300 s: finishing well before means it was stopped.
		d := s.waitRunDone(t, r.ID, 60*time.Second)
		if d.Run.Conclusion != store.ConclusionCancelled {
			t.Errorf("run %d concluded %q after cancel, want cancelled:%s", r.ID, d.Run.Conclusion, describeJobs(d))
		}
		if j := jobByKey(t, d, "nap"); j.Conclusion != store.ConclusionCancelled {
			t.Errorf("job nap concluded %q, want cancelled", j.Conclusion)
		}
	})

	t.Run("rerun failed", func(t *testing.T) {
		r := s.dispatch(t, "demo", "flaky.yml", "--ref", "main")
		d := s.waitRunDone(t, r.ID, runTimeout)
		if d.Run.Conclusion != store.ConclusionFailure {
			t.Fatalf("run %d concluded %q, want failure:%s", r.ID, d.Run.Conclusion, describeJobs(d))
		}
		oldOK := jobByKey(t, d, "ok")
		if oldOK.Conclusion != store.ConclusionSuccess || jobByKey(t, d, "flaky").Conclusion != store.ConclusionFailure {
			t.Fatalf("run %d jobs: want ok success and flaky failure:%s", r.ID, describeJobs(d))
		}
		s.mustCLI(t, "secret", "set", "FIXED", "--repo", "demo", "--value", "yes")
		out := s.mustCLI(t, "rerun", fmt.Sprint(r.ID), "--failed")
		var newID int64
		var attempt int
		if _, err := fmt.Sscanf(out, "run %d: attempt %d", &newID, &attempt); err != nil {
			t.Fatalf("parsing sluice rerun's output %q: %v", out, err)
		}
		d2 := s.waitRunDone(t, newID, runTimeout)
		if d2.Run.Conclusion != store.ConclusionSuccess || d2.Run.Attempt != 2 {
			t.Fatalf("re-run %d: %s attempt %d, want success attempt 2:%s", newID, d2.Run.Conclusion, d2.Run.Attempt, describeJobs(d2))
		}
		if log := s.jobLog(t, jobByKey(t, d2, "flaky").ID); !strings.Contains(log, "flaky ran") {
			t.Errorf("the re-run flaky job's log lacks its output:\n%s", log)
		}
		// Only flaky started in the re-run; ok kept its earlier success.
		evs, err := s.client().RunEvents(context.Background(), newID, 0)
		if err != nil {
			t.Fatal(err)
		}
		// A re-run is attempt 2 of the same run (GitHub keeps run_id and run_number), so the
		// run's events hold attempt 1's too: only the jobs of attempt 2 count here.
		if newID != r.ID || d2.Run.Number != d.Run.Number {
			t.Errorf("re-run is run %d #%d, want run %d #%d (attempt 2 of the same run)", newID, d2.Run.Number, r.ID, d.Run.Number)
		}
		current := map[int64]bool{}
		for _, j := range d2.Jobs {
			current[j.ID] = true
		}
		started := map[int64]bool{}
		for _, e := range evs {
			if e.Kind == store.EventJobStarted && e.JobID != nil && current[*e.JobID] {
				started[*e.JobID] = true
			}
		}
		newOK, newFlaky := jobByKey(t, d2, "ok"), jobByKey(t, d2, "flaky")
		if started[newOK.ID] || !started[newFlaky.ID] || len(started) != 1 {
			t.Errorf("jobs started in the re-run: %v; want only flaky (%d), not ok (%d)", started, newFlaky.ID, newOK.ID)
		}
		if newOK.Conclusion != store.ConclusionSuccess {
			t.Errorf("ok in the re-run: %s, want its earlier success kept", newOK.Conclusion)
		}
		if log := s.jobLog(t, newOK.ID); strings.Contains(log, "ok ran") {
			t.Errorf("ok ran again in the re-run:\n%s", log)
		}
	})
}
