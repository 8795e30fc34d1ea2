package scheduler

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/engine"
	"github.com/sluice-ci/sluice/internal/store"
)

const pipelineYAML = `on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      wheel: ${{ steps.b.outputs.wheel }}
    steps:
      - id: b
        run: echo "wheel=app-1.0.whl" >> "$GITHUB_OUTPUT"
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: echo lint
  test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo test
  publish:
    needs: [build, test]
    runs-on: ubuntu-latest
    steps:
      - run: echo ${{ needs.build.outputs.wheel }}
`

func TestCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": pipelineYAML}))
	running := h.claim("build")
	if err := h.s.Cancel(h.ctx, r.ID); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	want := map[string]string{"build": "in_progress", "lint": "completed/cancelled", "test": "completed/cancelled",
		"publish": "completed/cancelled"}
	if diff := cmp.Diff(want, h.states(r.ID)); diff != "" {
		t.Fatalf("jobs after Cancel (-want +got):\n%s", diff)
	}
	if !h.job(r.ID, "build").CancelRequested {
		t.Error("the running job was not asked to stop")
	}
	if got := h.runState(r.ID); got != "in_progress" {
		t.Errorf("run is %s while a job still runs, want in_progress", got)
	}
	h.noneQueued()
	h.complete(running, "cancelled", nil)
	if got := h.runState(r.ID); got != "completed/cancelled" {
		t.Errorf("run is %s after its last job stopped, want completed/cancelled", got)
	}
}

func TestCancelQueuedRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": pipelineYAML}))
	if err := h.s.Cancel(h.ctx, r.ID); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if got := h.runState(r.ID); got != "completed/cancelled" {
		t.Errorf("run is %s, want completed/cancelled", got)
	}
	for key, s := range h.states(r.ID) {
		if s != "completed/cancelled" {
			t.Errorf("job %s is %s, want completed/cancelled", key, s)
		}
	}
	h.noneQueued()
}

// failedRun is a run whose build succeeded and whose test failed.
func failedRun(h *harness) *store.Run {
	h.t.Helper()
	r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": pipelineYAML}))
	h.finish("build", "success", map[string]string{"wheel": "app-1.0.whl"})
	h.finish("lint", "success", nil)
	h.finish("test", "failure", nil)
	want := map[string]string{"build": "completed/success", "lint": "completed/success", "test": "completed/failure",
		"publish": "completed/skipped"}
	if diff := cmp.Diff(want, h.states(r.ID)); diff != "" {
		h.t.Fatalf("first run's jobs (-want +got):\n%s", diff)
	}
	if got := h.runState(r.ID); got != "completed/failure" {
		h.t.Fatalf("first run is %s, want completed/failure", got)
	}
	return r
}

func TestRerunAll(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	old := failedRun(h)
	r, err := h.s.Rerun(h.ctx, old.ID, false)
	if err != nil {
		t.Fatalf("Rerun: %v", err)
	}
	if r.ID == old.ID || r.Attempt != 2 || r.Trigger != store.TriggerRerun || r.SHA != old.SHA || r.Workflow != old.Workflow {
		t.Errorf("rerun is run %d attempt %d trigger %q sha %s workflow %s; want a new run, attempt 2, rerun, same commit and workflow",
			r.ID, r.Attempt, r.Trigger, r.SHA, r.Workflow)
	}
	want := map[string]string{"build": "queued", "lint": "queued", "test": "waiting", "publish": "waiting"}
	if diff := cmp.Diff(want, h.states(r.ID)); diff != "" {
		t.Errorf("rerun's jobs (-want +got):\n%s", diff)
	}
	if sp := h.spec(r.ID, "build"); sp.RunID != r.ID || sp.RunNumber != r.Number {
		t.Errorf("rerun's build spec names run %d #%d, want %d #%d", sp.RunID, sp.RunNumber, r.ID, r.Number)
	}
	again, err := h.s.Rerun(h.ctx, r.ID, false)
	if err != nil {
		t.Fatalf("Rerun of the rerun: %v", err)
	}
	if again.Attempt != 3 {
		t.Errorf("rerun of the rerun has attempt %d, want 3", again.Attempt)
	}
}

// A verification job added to a run by its promotion belongs to that
// promotion: running the workflow again does not run it again (its spec
// holds sluice's one-step workflow, not the run's).
func TestRerunLeavesVerificationJobsOut(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	old := failedRun(h)
	base := *h.spec(old.ID, "build")
	base.WorkflowSource = verifyWorkflow("production", &cd.CommandCheck{Run: "true"})
	base.JobID, base.Verify = "verify", 7
	if _, err := h.db.AddJobs(h.ctx, old.ID, []store.Job{{Key: verifyJobKey("production"), Name: verifyJobKey("production"),
		Status: store.StatusQueued, Spec: base.encode()}}); err != nil {
		t.Fatal(err)
	}
	r, err := h.s.Rerun(h.ctx, old.ID, false)
	if err != nil {
		t.Fatalf("Rerun: %v", err)
	}
	want := map[string]string{"build": "queued", "lint": "queued", "test": "waiting", "publish": "waiting"}
	if diff := cmp.Diff(want, h.states(r.ID)); diff != "" {
		t.Errorf("rerun's jobs (-want +got):\n%s", diff)
	}
}

func TestRerunFailedOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	old := failedRun(h)
	r, err := h.s.Rerun(h.ctx, old.ID, true)
	if err != nil {
		t.Fatalf("Rerun: %v", err)
	}
	if r.Attempt != 2 {
		t.Errorf("rerun has attempt %d, want 2", r.Attempt)
	}
	want := map[string]string{"build": "completed/success", "lint": "completed/success", "test": "queued", "publish": "waiting"}
	if diff := cmp.Diff(want, h.states(r.ID)); diff != "" {
		t.Fatalf("rerun's jobs (-want +got):\n%s", diff)
	}
	build := h.job(r.ID, "build")
	if diff := cmp.Diff(map[string]string{"wheel": "app-1.0.whl"}, build.Outputs); diff != "" {
		t.Errorf("carried-over build outputs (-want +got):\n%s", diff)
	}
	if build.Reason == "" {
		t.Error("carried-over build has no reason saying where its result comes from")
	}
	wantNeeds := map[string]engine.NeedResult{"build": {Result: "success", Outputs: map[string]string{"wheel": "app-1.0.whl"}}}
	if diff := cmp.Diff(wantNeeds, h.spec(r.ID, "test").Needs); diff != "" {
		t.Errorf("test's needs in the rerun (-want +got):\n%s", diff)
	}
	h.finish("test", "success", nil)
	h.finish("publish", "success", nil)
	h.noneQueued()
	if got := h.runState(r.ID); got != "completed/success" {
		t.Errorf("rerun is %s, want completed/success", got)
	}
}

// Rerunning the failed jobs of a failed matrix expands it again; the
// old legs are not carried over as jobs of their own.
func TestRerunFailedMatrix(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	old := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": matrixYAML("      fail-fast: false\n")}))
	h.finish("test (1)", "success", nil)
	h.finish("test (2)", "failure", nil)
	h.finish("test (3)", "success", nil)
	h.finish("after", "success", nil)
	if got := h.runState(old.ID); got != "completed/failure" {
		t.Fatalf("first run is %s, want completed/failure", got)
	}
	r, err := h.s.Rerun(h.ctx, old.ID, true)
	if err != nil {
		t.Fatalf("Rerun: %v", err)
	}
	want := map[string]string{"test": "waiting", "test (1)": "queued", "test (2)": "queued", "test (3)": "queued", "after": "waiting"}
	if diff := cmp.Diff(want, h.states(r.ID)); diff != "" {
		t.Errorf("rerun's jobs (-want +got):\n%s", diff)
	}
}

// Jobs that succeeded only because `if: always()` or `if: failure()` let
// them run after a failure depend on the failed job, so they run again.
func TestRerunFailedOnlyRerunsDependents(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	old := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": chainYAML}))
	h.finish("build", "success", map[string]string{"version": "1.2"})
	h.finish("lint", "success", nil)
	h.finish("test", "failure", nil)
	h.finish("report", "success", nil)
	h.finish("rollback", "success", nil)
	if got := h.runState(old.ID); got != "completed/failure" {
		t.Fatalf("first run is %s, want completed/failure", got)
	}
	r, err := h.s.Rerun(h.ctx, old.ID, true)
	if err != nil {
		t.Fatalf("Rerun: %v", err)
	}
	want := map[string]string{"build": "completed/success", "lint": "completed/success", "test": "queued", "deploy": "waiting",
		"report": "waiting", "rollback": "waiting", "notify": "waiting"}
	if diff := cmp.Diff(want, h.states(r.ID)); diff != "" {
		t.Errorf("rerun's jobs (-want +got):\n%s", diff)
	}
}
