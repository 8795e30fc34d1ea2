package scheduler

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

const deployWorkflow = `on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: make
  deploy:
    needs: build
    runs-on: ubuntu-latest
    environment:
      name: production
      url: https://app.example
    steps:
      - run: ./deploy
`

const reviewedEnvironments = `environments:
  production:
    tier: production
    reviewers: [bob, carol, dave]
    required-approvals: 2
`

// pushDeploy commits the deployment workflow with an environments file and
// runs it to where the deployment job is ready.
func pushDeploy(h *harness, envs string) *store.Run {
	h.t.Helper()
	sha := h.git.commit("main", "deploy", map[string]string{".github/workflows/ci.yml": deployWorkflow, ".sluice/environments.yml": envs})
	run := h.triggerOne(storeTrigger(sha))
	h.finish("build", store.ConclusionSuccess, nil)
	return run
}

func storeTrigger(sha string) server.Trigger {
	return server.Trigger{Event: "push", Ref: "refs/heads/main", SHA: sha, Source: store.TriggerWebhook, Actor: "alice"}
}

func (h *harness) promotion(runID int64) cd.Promotion {
	h.t.Helper()
	ps, err := h.db.PromotionsOfRun(h.ctx, runID)
	if err != nil || len(ps) != 1 {
		h.t.Fatalf("promotions of run %d: %+v, %v; want one", runID, ps, err)
	}
	return ps[0]
}

func TestDeploymentJobWaitsForReviewers(t *testing.T) {
	h := newHarness(t)
	run := pushDeploy(h, reviewedEnvironments)
	h.noneQueued()
	p := h.promotion(run.ID)
	if p.State != cd.StateWaiting || p.Env != "production" || p.StartedBy != "alice" || p.Kind != cd.KindForward {
		t.Fatalf("promotion %+v, want alice's forward promotion to production, waiting", p)
	}
	if j := h.job(run.ID, "deploy"); j.Status != store.StatusWaiting || !strings.Contains(j.PendingReason, "approvals 0/2") {
		t.Fatalf("deploy job %s (%q), want waiting for approvals 0/2", j.Status, j.PendingReason)
	}
	// The run's release is its commit: it uploaded nothing.
	rel, err := h.db.ReleaseOfRun(h.ctx, run.ID)
	if err != nil || len(rel.Artifacts) != 1 || rel.Artifacts[0].MediaType != sourceMediaType || rel.ID != p.ReleaseID {
		t.Fatalf("release of the run %+v, %v; want the commit's, the one promoted", rel, err)
	}

	for _, tc := range []struct {
		by      string
		approve bool
		want    error
	}{
		{"alice", true, cd.ErrSelfApproval},
		{"mallory", true, cd.ErrNotReviewer},
		{"bob", true, nil},
		{"bob", true, store.ErrConflict}, // a reviewer decides once
	} {
		if _, err := h.s.Decide(h.ctx, p.ID, tc.by, tc.approve, ""); !errors.Is(err, tc.want) {
			t.Errorf("Decide by %s = %v, want %v", tc.by, err, tc.want)
		}
	}
	h.noneQueued()
	if _, err := h.s.Decide(h.ctx, p.ID, "carol", true, "ship it"); err != nil {
		t.Fatal(err)
	}
	j := h.claim("deploy")
	if err := h.s.RecordEnvironmentURL(h.ctx, j.ID, "https://app.example/v2"); err != nil {
		t.Fatal(err)
	}
	h.complete(j, store.ConclusionSuccess, nil)
	got, err := h.db.GetPromotion(h.ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	var by []string
	for _, a := range got.Approvals {
		by = append(by, a.By)
	}
	if got.State != cd.StateSuccess || got.URL != "https://app.example/v2" || cmp.Diff([]string{"bob", "carol"}, by) != "" {
		t.Errorf("promotion after deploying %+v, want success at the reported URL approved by bob and carol", got)
	}
	if st := h.runState(run.ID); st != "completed/success" {
		t.Errorf("run %s, want completed/success", st)
	}
}

func TestRejectedPromotionFailsItsJob(t *testing.T) {
	h := newHarness(t)
	run := pushDeploy(h, reviewedEnvironments)
	p := h.promotion(run.ID)
	if _, err := h.s.Decide(h.ctx, p.ID, "dave", false, "not today"); err != nil {
		t.Fatal(err)
	}
	h.noneQueued()
	if got := h.promotion(run.ID); got.State != cd.StateFailure {
		t.Errorf("promotion %s, want failure after a rejection", got.State)
	}
	j := h.job(run.ID, "deploy")
	if j.Conclusion != store.ConclusionFailure || !strings.Contains(j.Reason, "rejected") {
		t.Errorf("deploy job %s (%q), want failed as rejected", j.Conclusion, j.Reason)
	}
	if st := h.runState(run.ID); st != "completed/failure" {
		t.Errorf("run %s, want completed/failure", st)
	}
}

func TestCancelledRunEndsItsPromotion(t *testing.T) {
	h := newHarness(t)
	run := pushDeploy(h, reviewedEnvironments)
	if err := h.s.Cancel(h.ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	if got := h.promotion(run.ID); got.State != cd.StateError {
		t.Errorf("promotion %s (%s), want error once its run is cancelled", got.State, got.Reason)
	}
}

func TestBrokenEnvironmentsFileFailsDeploymentJobs(t *testing.T) {
	h := newHarness(t)
	run := pushDeploy(h, "environments:\n  production:\n    tier: prod\n")
	j := h.job(run.ID, "deploy")
	if j.Conclusion != store.ConclusionFailure || !strings.Contains(j.Reason, ".sluice/environments.yml:3:11: unknown tier") {
		t.Errorf("deploy job %s (%q), want failed with the file's error at 3:11", j.Conclusion, j.Reason)
	}
}

// TestResumeConcludesInterruptedDeployments: the server stopped after a
// deployment job ended but before the promotion did; on start the promotion
// is concluded, so the environment's lock is not held for ever.
func TestResumeConcludesInterruptedDeployments(t *testing.T) {
	h := newHarness(t)
	run := pushDeploy(h, "environments:\n  production:\n    tier: production\n")
	j := h.claim("deploy")
	if _, err := h.db.Complete(h.ctx, j.ID, h.agent.ID, store.ConclusionSuccess, nil); err != nil {
		t.Fatal(err)
	}
	if got := h.promotion(run.ID); got.State != cd.StateInProgress {
		t.Fatalf("promotion %s before the restart, want in_progress", got.State)
	}
	h.s = h.newScheduler()
	if err := h.s.Resume(h.ctx); err != nil {
		t.Fatal(err)
	}
	if got := h.promotion(run.ID); got.State != cd.StateSuccess {
		t.Errorf("promotion %s (%s) after the restart, want success", got.State, got.Reason)
	}
	if st := h.runState(run.ID); st != "completed/success" {
		t.Errorf("run %s, want completed/success", st)
	}
}

// TestMatrixDeploymentLegs: each leg of a deployment matrix goes through the
// promotion of its own environment, named from its matrix values.
func TestMatrixDeploymentLegs(t *testing.T) {
	h := newHarness(t)
	wf := `on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        region: [eu, us]
    environment: prod-${{ matrix.region }}
    steps:
      - run: ./deploy
`
	envs := "environments:\n  prod-eu:\n    reviewers: [bob]\n  prod-us: {}\n"
	sha := h.git.commit("main", "deploy", map[string]string{".github/workflows/ci.yml": wf, ".sluice/environments.yml": envs})
	run := h.triggerOne(storeTrigger(sha))
	ps, err := h.db.PromotionsOfRun(h.ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]cd.State{}
	for _, p := range ps {
		states[p.Env] = p.State
	}
	if d := cmp.Diff(map[string]cd.State{"prod-eu": cd.StateWaiting, "prod-us": cd.StateInProgress}, states); d != "" {
		t.Fatalf("promotions by environment (-want +got):\n%s", d)
	}
	h.finish("deploy (us)", store.ConclusionSuccess, nil)
	h.noneQueued()
	var eu int64
	for _, p := range ps {
		if p.Env == "prod-eu" {
			eu = p.ID
		}
	}
	if _, err := h.s.Decide(h.ctx, eu, "bob", true, ""); err != nil {
		t.Fatal(err)
	}
	h.finish("deploy (eu)", store.ConclusionSuccess, nil)
	if st := h.runState(run.ID); st != "completed/success" {
		t.Errorf("run %s, want completed/success (%v)", st, h.states(run.ID))
	}
}

// TestPromoteBadInput: what `sluice promote` and `sluice rollback` answer
// for a release, environment or history that is not there.
func TestPromoteBadInput(t *testing.T) {
	h := newHarness(t)
	run := pushDeploy(h, reviewedEnvironments)
	rel := h.promotion(run.ID).ReleaseID
	for _, tc := range []struct {
		name string
		do   func() error
		want error
		msg  string
	}{
		{"unknown release", func() error {
			_, err := h.s.Promote(h.ctx, h.repo, server.PromoteRequest{Release: "abcdef123456", Env: "production", By: "bob"})
			return err
		}, store.ErrNotFound, "release abcdef123456"},
		{"too short a prefix", func() error {
			_, err := h.s.Promote(h.ctx, h.repo, server.PromoteRequest{Release: "ab", Env: "production", By: "bob"})
			return err
		}, store.ErrNotFound, "at least 6 hex digits"},
		{"unknown environment", func() error {
			_, err := h.s.Promote(h.ctx, h.repo, server.PromoteRequest{Release: rel, Env: "moon", By: "bob"})
			return err
		}, store.ErrNotFound, `environment "moon"`},
		{"nothing to roll back to", func() error {
			_, err := h.s.Rollback(h.ctx, h.repo, "production", 0, "bob")
			return err
		}, cd.ErrNoRollback, "production"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want %v mentioning %q", err, tc.want, tc.msg)
			}
		})
	}
}

// TestSelfApprovalIsByIdentity: a release pushed with a forge login linked
// to a reviewer's identity cannot be approved by that reviewer, although the
// login and the reviewer's name differ.
func TestSelfApprovalIsByIdentity(t *testing.T) {
	h := newHarness(t)
	if err := h.db.LinkLogin(h.ctx, store.IdentityLogin{Forge: "github", Login: "Carol-GH", Identity: "carol"}); err != nil {
		t.Fatal(err)
	}
	sha := h.git.commit("main", "deploy", map[string]string{".github/workflows/ci.yml": deployWorkflow, ".sluice/environments.yml": reviewedEnvironments})
	tr := storeTrigger(sha)
	tr.Actor = "carol-gh"
	run := h.triggerOne(tr)
	h.finish("build", store.ConclusionSuccess, nil)
	p := h.promotion(run.ID)
	if p.StartedBy != "carol" {
		t.Fatalf("promotion started by %q, want carol (the identity of login carol-gh)", p.StartedBy)
	}
	if _, err := h.s.Decide(h.ctx, p.ID, "carol", true, ""); !errors.Is(err, cd.ErrSelfApproval) {
		t.Errorf("carol approving her own push: %v, want ErrSelfApproval", err)
	}
	if _, err := h.s.Decide(h.ctx, p.ID, "bob", true, ""); err != nil {
		t.Errorf("bob approving: %v", err)
	}
}

// TestPromotionRunIgnoresVerificationJobs: the release's run holds a
// verification job (sluice's one-step workflow, added by the release's
// first promotion); a promotion run made from it takes the workflow from
// the run's own jobs, so it still finds the deployment job whichever job's
// spec it reads first.
func TestPromotionRunIgnoresVerificationJobs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	run := pushDeploy(h, reviewedEnvironments)
	p := h.promotion(run.ID)
	rel, err := h.db.GetRelease(h.ctx, p.ReleaseID)
	if err != nil {
		t.Fatal(err)
	}
	base := *h.spec(run.ID, "build")
	base.Job.Key, base.Job.Name = verifyJobKey("production"), verifyJobKey("production")
	base.Job.WorkflowSource = verifyWorkflow("production", &cd.CommandCheck{Run: "true"})
	base.Job.WorkflowPath, base.Job.JobID, base.Verify = ".sluice/environments.yml#verify-production", "verify", p.ID
	if _, err := h.db.AddJobs(h.ctx, run.ID, []store.Job{{Key: verifyJobKey("production"), Name: verifyJobKey("production"),
		Status: store.StatusQueued, Spec: base.encode()}}); err != nil {
		t.Fatal(err)
	}
	// Which spec is read first was left to map order: try it often.
	for i := 0; i < 16; i++ {
		id, err := h.s.promotionRun(h.ctx, h.repo, rel, &p)
		if err != nil || id == 0 {
			t.Fatalf("promotion run %d: id %d, %v; want a run with the deployment job", i, id, err)
		}
		states := h.states(id)
		if _, ok := states["deploy"]; !ok {
			t.Fatalf("promotion run %d has jobs %v, want the deployment job", i, states)
		}
		if _, ok := states[verifyJobKey("production")]; ok {
			t.Fatalf("promotion run %d carried over the verification job: %v", i, states)
		}
	}
}
