package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestHeldRunIsNotClaimed: a run created held (a pull request from a fork)
// has its queued jobs passed over by every claim, says why in the queue,
// and runs once approved; an approval is given once.
func TestHeldRunIsNotClaimed(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	repo := mustRepo(t, db, "app")
	agent := mustAgent(t, db, "a", 4, "default")
	held, _, err := db.CreateRun(ctx, Run{RepoID: repo.ID, Workflow: "ci.yml", Event: "pull_request", HoldReason: "waiting for a maintainer"},
		[]Job{{Key: "test", Status: StatusQueued}})
	if err != nil {
		t.Fatal(err)
	}
	if j, err := db.Claim(ctx, agent.ID, agent.Labels, time.Minute); !errors.Is(err, ErrNoJob) {
		t.Fatalf("Claim = %+v, %v; want no job while the run is held", j, err)
	}
	pending, err := db.PendingJobs(ctx)
	if err != nil || len(pending) != 1 || pending[0].Reason != "waiting for a maintainer" {
		t.Errorf("PendingJobs = %+v, %v; want the held job with its reason", pending, err)
	}
	if err := db.ApproveRun(ctx, held.ID, "maintainer"); err != nil {
		t.Fatal(err)
	}
	if err := db.ApproveRun(ctx, held.ID, "maintainer"); !errors.Is(err, ErrAlreadyDecided) {
		t.Errorf("second ApproveRun = %v, want ErrAlreadyDecided", err)
	}
	j, err := db.Claim(ctx, agent.ID, agent.Labels, time.Minute)
	if err != nil || j.RunID != held.ID {
		t.Fatalf("Claim after approval = %+v, %v; want the job", j, err)
	}
	a, err := db.GetRunApproval(ctx, held.ID)
	if err != nil || a.DecidedBy != "maintainer" || a.DecidedAt == nil {
		t.Errorf("GetRunApproval = %+v, %v", a, err)
	}
	other, _ := mustRun(t, db, repo.ID, Job{Key: "push", Status: StatusQueued})
	if _, err := db.GetRunApproval(ctx, other.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("a run never held has approval %v", err)
	}
	if err := db.ApproveRun(ctx, other.ID, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("approving a run never held: %v, want ErrNotFound", err)
	}
}
