package scheduler

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/jobspec"
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
	// The jobs that need build are decided when it ends (their if: could ask for
	// cancelled()); lint had not started.
	want := map[string]string{"build": "in_progress", "lint": "completed/cancelled", "test": "waiting", "publish": "waiting"}
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
	want = map[string]string{"build": "completed/cancelled", "lint": "completed/cancelled", "test": "completed/cancelled",
		"publish": "completed/cancelled"}
	if diff := cmp.Diff(want, h.states(r.ID)); diff != "" {
		t.Errorf("jobs after build stopped (-want +got):\n%s", diff)
	}
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
	// GitHub: a re-run is another attempt of the same run; run_id and run_number stay.
	if r.ID != old.ID || r.Number != old.Number || r.Attempt != 2 || r.Trigger != store.TriggerRerun || r.SHA != old.SHA || r.Workflow != old.Workflow {
		t.Errorf("rerun is run %d #%d attempt %d trigger %q sha %s workflow %s; want run %d #%d attempt 2, rerun, same commit and workflow",
			r.ID, r.Number, r.Attempt, r.Trigger, r.SHA, r.Workflow, old.ID, old.Number)
	}
	want := map[string]string{"build": "queued", "lint": "queued", "test": "waiting", "publish": "waiting"}
	if diff := cmp.Diff(want, h.states(r.ID)); diff != "" {
		t.Errorf("rerun's jobs (-want +got):\n%s", diff)
	}
	if sp := h.spec(r.ID, "build"); sp.Run.ID != fmt.Sprint(old.ID) || sp.Run.Number != old.Number || sp.Run.Attempt != 2 {
		t.Errorf("rerun's build spec names run %s #%d attempt %d, want %d #%d attempt 2", sp.Run.ID, sp.Run.Number, sp.Run.Attempt, old.ID, old.Number)
	}
	if _, err := h.s.Rerun(h.ctx, r.ID, false); !errors.Is(err, store.ErrConflict) {
		t.Errorf("re-running a run that still runs: %v, want a conflict", err)
	}
	h.finish("build", "success", nil)
	h.finish("lint", "success", nil)
	h.finish("test", "success", nil)
	h.finish("publish", "success", nil)
	again, err := h.s.Rerun(h.ctx, r.ID, false)
	if err != nil {
		t.Fatalf("Rerun of the rerun: %v", err)
	}
	if again.ID != old.ID || again.Attempt != 3 {
		t.Errorf("rerun of the rerun is run %d attempt %d, want run %d attempt 3", again.ID, again.Attempt, old.ID)
	}
	attempts, err := h.db.ListRunAttempts(h.ctx, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range attempts {
		got = append(got, fmt.Sprintf("%d %s/%s", a.Attempt, a.Status, a.Conclusion))
	}
	if diff := cmp.Diff([]string{"1 completed/failure", "2 completed/success", "3 queued/"}, got); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
	first, err := h.db.ListAttemptJobs(h.ctx, old.ID, 1)
	if err != nil || len(first) != 4 {
		t.Fatalf("attempt 1's jobs = %d, %v", len(first), err)
	}
	for _, j := range first {
		if j.Key == "test" && j.Conclusion != "failure" {
			t.Errorf("attempt 1's test is now %s; an attempt's jobs stay as they ended", j.Conclusion)
		}
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
	base.Job.Key, base.Job.Name = verifyJobKey("production"), verifyJobKey("production")
	base.Job.WorkflowSource = verifyWorkflow("production", &cd.CommandCheck{Run: "true"})
	base.Job.JobID, base.Verify = "verify", 7
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
	wantNeeds := map[string]jobspec.Need{"build": {Result: "success", Outputs: map[string]string{"wheel": "app-1.0.whl"}}}
	if diff := cmp.Diff(wantNeeds, h.spec(r.ID, "test").Job.Needs); diff != "" {
		t.Errorf("test's needs in the rerun (-want +got):\n%s", diff)
	}
	h.finish("test", "success", nil)
	h.finish("publish", "success", nil)
	h.noneQueued()
	if got := h.runState(r.ID); got != "completed/success" {
		t.Errorf("rerun is %s, want completed/success", got)
	}
}

// Re-running the failed jobs of a failed matrix runs the failed legs again and keeps the
// ones that succeeded (GitHub: "Re-run failed jobs" re-runs only the failed legs).
func TestRerunFailedMatrix(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	old := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": matrixYAML("      fail-fast: false\n")}))
	h.finish("test (1)", "success", map[string]string{"leg": "1"})
	h.finish("test (2)", "failure", nil)
	h.finish("test (3)", "success", map[string]string{"leg": "3"})
	h.finish("after", "success", nil)
	if got := h.runState(old.ID); got != "completed/failure" {
		t.Fatalf("first run is %s, want completed/failure", got)
	}
	r, err := h.s.Rerun(h.ctx, old.ID, true)
	if err != nil {
		t.Fatalf("Rerun: %v", err)
	}
	want := map[string]string{"test": "waiting", "test (1)": "completed/success", "test (2)": "queued", "test (3)": "completed/success", "after": "waiting"}
	if diff := cmp.Diff(want, h.states(r.ID)); diff != "" {
		t.Errorf("rerun's jobs (-want +got):\n%s", diff)
	}
	if got := h.job(r.ID, "test (3)").Outputs; got["leg"] != "3" {
		t.Errorf("the kept leg lost its outputs: %v", got)
	}
	sp := h.spec(r.ID, "test (2)")
	if sp.Run.Attempt != 2 || sp.Job.WorkflowSource == "" || sp.Job.Matrix["n"] != float64(2) {
		t.Errorf("the re-run leg's spec: attempt %d, matrix %v, has workflow %v", sp.Run.Attempt, sp.Job.Matrix, sp.Job.WorkflowSource != "")
	}
	h.finish("test (2)", "success", nil)
	h.finish("after", "success", nil)
	if got := h.runState(r.ID); got != "completed/success" {
		t.Errorf("second attempt is %s, want completed/success", got)
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
