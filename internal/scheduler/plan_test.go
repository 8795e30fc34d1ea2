package scheduler

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/store"
)

// The scheduler keeps no graph decisions of its own: these check that what internal/plan
// decides reaches the database as jobs agents can claim, shown as GitHub shows them.

func shownKeys(jobs []store.Job) []string {
	var out []string
	for _, j := range store.Shown(jobs) {
		out = append(out, j.Key)
	}
	return out
}

func TestCalledWorkflowJobsAreJobs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": `on: push
jobs:
  call:
    uses: ./.github/workflows/r.yml
    with: {who: sluice}
  after:
    needs: call
    runs-on: ubuntu-latest
    steps: [{run: 'echo ${{ needs.call.outputs.g }}'}]
`, "r.yml": `on:
  workflow_call:
    inputs: {who: {type: string}}
    outputs: {g: {value: "${{ jobs.inner.outputs.g }}"}}
jobs:
  inner:
    runs-on: ubuntu-latest
    outputs: {g: "${{ steps.s.outputs.g }}"}
    steps: [{id: s, run: 'echo ${{ inputs.who }}'}]
  second:
    needs: inner
    runs-on: ubuntu-latest
    steps: [{run: echo}]
`}))
	// Each job of the called workflow is a job of its own (DESIGN §2 rule 2), and the
	// caller is not shown: GitHub shows "call / inner".
	if diff := cmp.Diff([]string{"after", "call / inner", "call / second"}, shownKeys(h.jobs(r.ID))); diff != "" {
		t.Fatalf("jobs shown (-want +got):\n%s\n%v", diff, h.jobs(r.ID)[0].Reason)
	}
	inner := h.spec(r.ID, "call / inner")
	if inner.Job.WorkflowPath != ".github/workflows/r.yml" || inner.Job.Inputs["who"] != "sluice" || inner.Job.Name != "call / inner" {
		t.Errorf("inner's spec = %s %v %q; want the called workflow's job with its inputs", inner.Job.WorkflowPath, inner.Job.Inputs, inner.Job.Name)
	}
	h.finish("call / inner", "success", map[string]string{"g": "hi"})
	h.finish("call / second", "success", nil)
	if got := h.job(r.ID, "call").Outputs["g"]; got != "hi" {
		t.Errorf("call's output g = %q, want hi (on.workflow_call.outputs)", got)
	}
	h.finish("after", "success", nil)
	if got := h.runState(r.ID); got != "completed/success" {
		t.Errorf("run is %s", got)
	}
}

func TestSkipChainAndTolerated(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": `on: push
jobs:
  gate: {if: "github.event_name == 'schedule'", runs-on: ubuntu-latest, steps: [{run: echo}]}
  middle: {needs: gate, if: always(), runs-on: ubuntu-latest, steps: [{run: echo}]}
  plain: {needs: middle, runs-on: ubuntu-latest, steps: [{run: echo}]}
  either: {needs: middle, if: success() || failure(), runs-on: ubuntu-latest, steps: [{run: echo}]}
  flaky:
    runs-on: ubuntu-latest
    continue-on-error: true
    steps: [{run: exit 1}]
`}))
	h.finish("middle", "success", nil)
	h.finish("flaky", "failure", nil)
	want := map[string]string{"gate": "completed/skipped", "middle": "completed/success", "plain": "completed/skipped",
		"either": "completed/skipped", "flaky": "completed/failure"}
	if diff := cmp.Diff(want, h.states(r.ID)); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
	if !h.job(r.ID, "flaky").Tolerated {
		t.Error("flaky's failure is not marked tolerated")
	}
	if got := h.runState(r.ID); got != "completed/success" {
		t.Errorf("run is %s, want a success: continue-on-error tolerates flaky's failure", got)
	}
}

func TestOtherOSWaitsForAgent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": `on: push
jobs:
  t:
    runs-on: ${{ matrix.os }}
    strategy: {matrix: {os: [ubuntu-latest, windows-latest]}}
    steps: [{run: echo}]
`}))
	// The server skips nothing: the Windows leg waits for an agent with its labels.
	h.finish("t (ubuntu-latest)", "success", nil)
	h.noneQueued()
	win := h.job(r.ID, "t (windows-latest)")
	if win.Status != store.StatusQueued || strings.Join(win.Labels, ",") != "windows-latest" {
		t.Fatalf("windows leg is %s with labels %v, want queued for windows-latest", win.Status, win.Labels)
	}
	pending, err := h.db.PendingJobs(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || !strings.Contains(pending[0].Reason, "windows-latest") {
		t.Errorf("pending = %+v, want the windows leg waiting for an agent with windows-latest", pending)
	}
	a, err := h.db.RegisterAgent(h.ctx, store.Agent{Name: "win", Labels: []string{"windows-latest"}, Parallel: 1, TokenHash: []byte("w")})
	if err != nil {
		t.Fatal(err)
	}
	j, err := h.db.Claim(h.ctx, a.ID, a.Labels, time.Minute)
	if errors.Is(err, store.ErrNoJob) || j == nil || j.Key != "t (windows-latest)" {
		t.Fatalf("the windows agent claimed %v (%v), want the windows leg", j, err)
	}
}
