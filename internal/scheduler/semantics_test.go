package scheduler

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

// GitHub's documentation the tests below follow.
const (
	docConcurrency = "https://docs.github.com/en/actions/how-tos/write-workflows/choose-when-workflows-run/control-workflow-concurrency"
	docCancelling  = "https://docs.github.com/en/actions/managing-workflow-runs-and-deployments/managing-workflow-runs/canceling-a-workflow"
)

// A group name is case-insensitive, and workflow-level groups span the repository's
// workflows.
func TestConcurrencyGroupsAreCaseInsensitive(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	wf := func(group string) string {
		return "on: push\nconcurrency: " + group + "\njobs:\n  a: {runs-on: ubuntu-latest, steps: [{run: x}]}\n"
	}
	runs := h.trigger(h.pushWorkflows(map[string]string{"a.yml": wf("Deploy"), "b.yml": wf("deploy")}))
	if len(runs) != 2 {
		t.Fatalf("%d runs, want 2", len(runs))
	}
	var queued, waiting int
	for _, r := range runs {
		switch h.job(r.ID, "a").Status {
		case "queued":
			queued++
		case "waiting":
			waiting++
		}
	}
	if queued != 1 || waiting != 1 {
		t.Errorf("%d runs started and %d wait; Deploy and deploy are one group (%s)", queued, waiting, docConcurrency)
	}
}

// The group and cancel-in-progress see the github context a step sees: run_id, run_number,
// run_attempt, head_ref, base_ref and the workflow's name.
func TestConcurrencyExpressions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	src := `name: CI
on: [push, pull_request]
concurrency:
  group: ${{ github.workflow }}-${{ github.head_ref || github.run_id }}-${{ github.run_number }}-${{ github.run_attempt }}-${{ github.base_ref }}
  cancel-in-progress: ${{ github.event_name == 'pull_request' }}
jobs:
  a: {runs-on: ubuntu-latest, steps: [{run: x}]}
`
	push := h.pushWorkflows(map[string]string{"ci.yml": src})
	first := h.triggerOne(push)
	if want := fmt.Sprintf("CI-%d-%d-1-", first.ID, first.Number); first.ConcurrencyGroup != want {
		t.Errorf("push group %q, want %q", first.ConcurrencyGroup, want)
	}
	// Two pull requests with the same head branch share a group; the newer cancels the older
	// (cancel-in-progress is an expression, true for pull requests).
	prGroup := `name: CI
on: pull_request
concurrency:
  group: pr-${{ github.head_ref }}
  cancel-in-progress: ${{ github.event_name == 'pull_request' }}
jobs:
  a: {runs-on: ubuntu-latest, steps: [{run: x}]}
`
	sha := h.git.commit("feature", "pr", map[string]string{".github/workflows/ci.yml": prGroup})
	pr := func(n int, head string) server.Trigger {
		return server.Trigger{Event: "pull_request", Action: "synchronize", Ref: fmt.Sprintf("refs/pull/%d/merge", n), SHA: sha,
			BaseRef: "main", Source: store.TriggerWebhook, Payload: map[string]any{"number": float64(n),
				"pull_request": map[string]any{"number": float64(n), "head": map[string]any{"ref": head, "sha": sha}, "base": map[string]any{"ref": "main"}}}}
	}
	a := h.triggerOne(pr(1, "feature"))
	other := h.triggerOne(pr(2, "other"))
	if a.ConcurrencyGroup != "pr-feature" || other.ConcurrencyGroup != "pr-other" {
		t.Fatalf("groups %q and %q, want pr-feature and pr-other", a.ConcurrencyGroup, other.ConcurrencyGroup)
	}
	if got := h.job(other.ID, "a").Status; got != "queued" {
		t.Errorf("another branch's pull request waits (%s): every pull request would cancel every other", got)
	}
	b := h.triggerOne(pr(1, "feature"))
	if got := h.runState(a.ID); got != "completed/cancelled" {
		t.Errorf("the older run of pr-feature is %s, want completed/cancelled (cancel-in-progress)", got)
	}
	if got := h.job(b.ID, "a").Status; got != "queued" {
		t.Errorf("the newer run of pr-feature is %s once the older one was cancelled, want queued", got)
	}
}

// jobConcurrencyYAML has a deploy job with a job-level group.
func jobConcurrencyYAML(cancelInProgress bool) string {
	return fmt.Sprintf(`on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps: [{run: echo build}]
  deploy:
    needs: build
    runs-on: ubuntu-latest
    concurrency:
      group: Production
      cancel-in-progress: %v
    steps: [{run: echo deploy}]
`, cancelInProgress)
}

func TestJobConcurrency(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tr := h.pushWorkflows(map[string]string{"ci.yml": jobConcurrencyYAML(false)})
	r1 := h.triggerOne(tr)
	h.finish("build", "success", nil)
	if got := h.job(r1.ID, "deploy"); got.Status != "queued" || got.ConcurrencyGroup != "Production" {
		t.Fatalf("first deploy is %s in group %q, want queued in Production", got.Status, got.ConcurrencyGroup)
	}
	running := h.claim("deploy")

	r2 := h.triggerOne(tr)
	h.finish("build", "success", nil)
	d2 := h.job(r2.ID, "deploy")
	if d2.Status != "waiting" || !strings.HasPrefix(d2.PendingReason, groupHoldPrefix) {
		t.Fatalf("second deploy is %s (%q), want waiting for its group", d2.Status, d2.PendingReason)
	}
	// The run goes on with its other jobs; only the job waits.
	if got := h.runState(r2.ID); got != "in_progress" && got != "queued" {
		t.Errorf("second run is %s", got)
	}

	r3 := h.triggerOne(tr)
	h.finish("build", "success", nil)
	if got := h.job(r2.ID, "deploy"); got.Status != "completed" || got.Conclusion != "cancelled" {
		t.Errorf("the pending deploy is %s/%s once a third arrived, want completed/cancelled (%s)", got.Status, got.Conclusion, docConcurrency)
	}
	if got := h.runState(r2.ID); got != "completed/cancelled" {
		t.Errorf("the second run is %s, want completed/cancelled", got)
	}
	if got := h.job(r3.ID, "deploy").Status; got != "waiting" {
		t.Errorf("third deploy is %s while the first deploys, want waiting", got)
	}
	h.complete(running, "success", nil)
	if got := h.job(r3.ID, "deploy").Status; got != "queued" {
		t.Errorf("third deploy is %s after the first ended, want queued", got)
	}
	h.finish("deploy", "success", nil)
	if got := h.runState(r3.ID); got != "completed/success" {
		t.Errorf("third run is %s, want completed/success", got)
	}

	// With cancel-in-progress, a newer job stops the running one.
	h2 := newHarness(t)
	tr = h2.pushWorkflows(map[string]string{"ci.yml": jobConcurrencyYAML(true)})
	a := h2.triggerOne(tr)
	h2.finish("build", "success", nil)
	deploying := h2.claim("deploy")
	b := h2.triggerOne(tr)
	h2.finish("build", "success", nil)
	if got := h2.job(a.ID, "deploy"); !got.CancelRequested {
		t.Errorf("the running deploy was not asked to stop (cancel-in-progress)")
	}
	if got := h2.job(b.ID, "deploy").Status; got != "waiting" {
		t.Errorf("the newer deploy is %s while the older winds down, want waiting", got)
	}
	h2.complete(deploying, "cancelled", nil)
	if got := h2.job(b.ID, "deploy").Status; got != "queued" {
		t.Errorf("the newer deploy is %s once the older stopped, want queued", got)
	}
}

// Cancelling a run evaluates the status functions again: a job whose if: asks for always()
// or cancelled() still runs (a running one is not stopped), the others are cancelled.
func TestCancelRunsAlwaysJobs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": `on: push
jobs:
  build: {runs-on: ubuntu-latest, steps: [{run: x}]}
  watch: {if: always(), runs-on: ubuntu-latest, steps: [{run: x}]}
  test: {needs: build, runs-on: ubuntu-latest, steps: [{run: x}]}
  cleanup: {needs: build, if: always(), runs-on: ubuntu-latest, steps: [{run: x}]}
  oncancel: {needs: build, if: cancelled(), runs-on: ubuntu-latest, steps: [{run: x}]}
`}))
	build := h.claim("build")
	watch := h.claim("watch")
	if err := h.s.Cancel(h.ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if !h.job(r.ID, "build").CancelRequested {
		t.Error("build was not asked to stop")
	}
	if h.job(r.ID, "watch").CancelRequested {
		t.Errorf("the running if: always() job was asked to stop (%s)", docCancelling)
	}
	h.complete(build, "cancelled", nil)
	want := map[string]string{"build": "completed/cancelled", "watch": "in_progress", "test": "completed/cancelled",
		"cleanup": "queued", "oncancel": "queued"}
	if diff := cmp.Diff(want, h.states(r.ID)); diff != "" {
		t.Errorf("jobs once build stopped (-want +got), following %s:\n%s", docCancelling, diff)
	}
	h.complete(watch, "success", nil)
	h.finish("cleanup", "success", nil)
	h.finish("oncancel", "success", nil)
	if got := h.runState(r.ID); got != "completed/cancelled" {
		t.Errorf("run is %s, want completed/cancelled", got)
	}
}

// A re-run is another attempt of the same run: expressions see the same run_id and
// run_number and the next run_attempt (concurrency groups, job if:).
func TestRerunAttemptContext(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": `name: CI
on: push
concurrency: ${{ github.workflow }}-${{ github.run_number }}-${{ github.run_attempt }}
jobs:
  a: {runs-on: ubuntu-latest, steps: [{run: x}]}
  second: {if: "github.run_attempt == '2'", runs-on: ubuntu-latest, steps: [{run: x}]}
`}))
	if r.ConcurrencyGroup != fmt.Sprintf("CI-%d-1", r.Number) {
		t.Errorf("first attempt's group %q", r.ConcurrencyGroup)
	}
	h.finish("a", "failure", nil)
	if got := h.states(r.ID)["second"]; got != "completed/skipped" {
		t.Fatalf("second is %s in attempt 1, want skipped", got)
	}
	again, err := h.s.Rerun(h.ctx, r.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if again.ConcurrencyGroup != fmt.Sprintf("CI-%d-2", r.Number) {
		t.Errorf("second attempt's group %q, want CI-%d-2", again.ConcurrencyGroup, r.Number)
	}
	if got := h.states(r.ID)["second"]; got != "queued" {
		t.Errorf("second is %s in attempt 2, want queued (if: github.run_attempt == '2')", got)
	}
}

// GitHub runs no push or pull_request workflow for a head commit whose message asks to skip
// CI; other events (workflow_dispatch) still run on it.
func TestSkipCI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	wf := "on: [push, pull_request, workflow_dispatch]\njobs:\n  a: {runs-on: ubuntu-latest, steps: [{run: x}]}\n"
	h.git.commit("main", "add workflow", map[string]string{".github/workflows/ci.yml": wf})
	for _, msg := range []string{"docs [skip ci]", "[CI SKIP] typo", "wip [no ci]", "tidy [skip actions]",
		"tidy [actions skip]", "docs\n\nbody\n\nskip-checks: true", "docs\n\nSigned-off-by: A <a@b>\nskip-checks:true"} {
		sha := h.git.commit("main", msg, map[string]string{"notes.txt": msg})
		if runs := h.trigger(server.Trigger{Event: "push", Ref: "refs/heads/main", SHA: sha, Source: store.TriggerWebhook}); len(runs) != 0 {
			t.Errorf("push of %q made %d runs, want none", msg, len(runs))
		}
		pr := server.Trigger{Event: "pull_request", Action: "synchronize", Ref: "refs/pull/1/merge", SHA: sha, BaseRef: "main",
			Source: store.TriggerWebhook}
		if runs := h.trigger(pr); len(runs) != 0 {
			t.Errorf("pull request with head %q made %d runs, want none", msg, len(runs))
		}
		if runs := h.trigger(server.Trigger{Event: "workflow_dispatch", Ref: "refs/heads/main", SHA: sha, Source: store.TriggerDispatch}); len(runs) != 1 {
			t.Errorf("workflow_dispatch on %q made %d runs, want 1", msg, len(runs))
		}
	}
	// Not a marker: the trailer only counts as a trailer, and "skip ci" without brackets.
	for _, msg := range []string{"skip-checks: true", "skip ci please", "docs\n\nskip-checks: false"} {
		sha := h.git.commit("main", msg, map[string]string{"notes.txt": msg})
		if runs := h.trigger(server.Trigger{Event: "push", Ref: "refs/heads/main", SHA: sha, Source: store.TriggerWebhook}); len(runs) != 1 {
			t.Errorf("push of %q made %d runs, want 1", msg, len(runs))
		}
	}
}

// A pull request's paths: filter looks at everything the pull request changes against its
// base (the three-dot diff), not at its newest commit, and not at what the base branch
// gained since the pull request branched off.
func TestPullRequestPathsThreeDot(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	wf := "on:\n  pull_request:\n    paths: ['src/**']\njobs:\n  test: {runs-on: ubuntu-latest, steps: [{run: x}]}\n"
	h.git.commit("main", "add workflow", map[string]string{".github/workflows/ci.yml": wf})
	h.git.git(h.git.work, "checkout", "-q", "-b", "feature")
	h.git.commit("feature", "the change", map[string]string{"src/app.py": "print(1)\n"})
	before := h.git.commit("feature", "docs", map[string]string{"README.md": "docs\n"})
	head := h.git.commit("feature", "more docs", map[string]string{"README.md": "more docs\n"})
	pr := func(n int, sha, before string) server.Trigger {
		return server.Trigger{Event: "pull_request", Action: "synchronize", Ref: fmt.Sprintf("refs/pull/%d/merge", n), SHA: sha,
			Before: before, BaseRef: "main", Source: store.TriggerWebhook}
	}
	if runs := h.trigger(pr(1, head, before)); len(runs) != 1 {
		t.Errorf("a pull request changing src/ in an earlier commit made %d runs, want 1", len(runs))
	}
	if runs := h.trigger(pr(1, head, "")); len(runs) != 1 {
		t.Errorf("the same pull request opened made %d runs, want 1", len(runs))
	}

	// main gains a src/ change after docs-only branched off: not the pull request's change.
	h.git.git(h.git.work, "checkout", "-q", "main")
	h.git.git(h.git.work, "checkout", "-q", "-b", "docs-only")
	docs := h.git.commit("docs-only", "only docs", map[string]string{"docs/guide.md": "guide\n"})
	h.git.git(h.git.work, "checkout", "-q", "main")
	h.git.commit("main", "main moves on", map[string]string{"src/other.py": "print(2)\n"})
	if runs := h.trigger(pr(2, docs, "")); len(runs) != 0 {
		t.Errorf("a docs-only pull request made %d runs (the base branch's own src/ change counted), want none", len(runs))
	}
}

// A trigger's commit id reaches git's argv: one that is an option is refused before git runs.
func TestTriggerRefusesOptionAsCommit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.pushWorkflows(map[string]string{"ci.yml": "on: push\njobs:\n  a: {runs-on: ubuntu-latest, steps: [{run: x}]}\n"})
	out := filepath.Join(t.TempDir(), "written")
	_, err := h.s.Trigger(h.ctx, h.repo, server.Trigger{Event: "push", Ref: "refs/heads/main", SHA: "--output=" + out, Source: store.TriggerWebhook})
	if err == nil || !strings.Contains(err.Error(), "not a commit id") {
		t.Errorf("Trigger with an option for a commit: %v, want it refused as not a commit id", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("git wrote %s: the commit id was read as an option", out)
	}
}
