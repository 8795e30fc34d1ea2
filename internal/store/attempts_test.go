package store

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRunAttempts(t *testing.T) {
	ctx := context.Background()
	db, clock := newDB(t)
	repo := mustRepo(t, db, "app")
	r, jobs := mustRun(t, db, repo.ID, Job{Key: "build"}, Job{Key: "test", Needs: []string{"build"}})
	completed, success, failure := StatusCompleted, ConclusionSuccess, ConclusionFailure
	if _, err := db.UpdateJob(ctx, jobs[0].ID, updateDone(completed, success, map[string]string{"wheel": "a.whl"})); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateJob(ctx, jobs[1].ID, updateDone(completed, failure, nil)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.RerunRun(ctx, r.ID, TriggerRerun, "ann", nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("re-running an unfinished run: %v, want a conflict", err)
	}
	first, _, err := db.FinishRunIfDone(ctx, r.ID)
	if err != nil || first.Conclusion != failure {
		t.Fatalf("first attempt = %+v, %v", first, err)
	}

	clock.Advance(1)
	build := jobs[0]
	kept := Job{Key: "build", Status: completed, Conclusion: success, Outputs: map[string]string{"wheel": "a.whl"},
		Reason: "kept from attempt 1", KeptFrom: &build.ID, StartedAt: build.StartedAt, FinishedAt: build.FinishedAt}
	again, rows, err := db.RerunRun(ctx, r.ID, TriggerRerun, "ann", []Job{kept, {Key: "test", Needs: []string{"build"}}})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != r.ID || again.Number != r.Number || again.Attempt != 2 || again.Status != StatusQueued || again.Conclusion != "" ||
		again.Trigger != TriggerRerun || again.Actor != "ann" {
		t.Errorf("second attempt = %+v; want run %d #%d attempt 2, queued, by ann", again, r.ID, r.Number)
	}
	if rows[0].Attempt != 2 || rows[0].RunAttempt != 2 || *rows[0].KeptFrom != build.ID || rows[0].Status != completed {
		t.Errorf("kept job = %+v", rows[0])
	}

	latest, err := db.ListLatestJobs(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, j := range latest {
		got[j.Key] = j.Status + "/" + j.Conclusion
	}
	if diff := cmp.Diff(map[string]string{"build": "completed/success", "test": "waiting/"}, got); diff != "" {
		t.Errorf("current attempt's jobs (-want +got):\n%s", diff)
	}
	old, err := db.ListAttemptJobs(ctx, r.ID, 1)
	if err != nil || len(old) != 2 || old[1].Conclusion != failure {
		t.Errorf("attempt 1's jobs = %+v, %v", old, err)
	}
	attempts, err := db.ListRunAttempts(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	for _, a := range attempts {
		summary = append(summary, a.Status+"/"+a.Conclusion+"/"+a.Trigger)
	}
	if diff := cmp.Diff([]string{"completed/failure/webhook", "queued//rerun"}, summary); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}

	// A cancelled run ends cancelled, even when the job it still ran (always()) succeeded.
	if _, err := db.RequestCancel(ctx, r.ID, "cancelled by a user"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateJob(ctx, latest[1].ID, updateDone(completed, success, nil)); err != nil {
		t.Fatal(err)
	}
	end, done, err := db.FinishRunIfDone(ctx, r.ID)
	if err != nil || !done || end.Conclusion != ConclusionCancelled {
		t.Errorf("cancelled attempt ended %+v (done %v, %v), want cancelled", end, done, err)
	}
	if evs := eventKinds(t, db, EventFilter{RunID: r.ID, Kinds: []string{EventRunCancelRequested}}); len(evs) != 1 {
		t.Errorf("cancel events = %v, want one", evs)
	}
	third, _, err := db.RerunRun(ctx, r.ID, TriggerRerun, "bob", nil)
	if err != nil || third.CancelRequested || third.Attempt != 3 {
		t.Errorf("third attempt = %+v, %v; want attempt 3, not cancelled", third, err)
	}
}

func TestOpenGroups(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	repo := mustRepo(t, db, "app")
	other := mustRepo(t, db, "other")
	a, _, err := db.CreateRun(ctx, Run{RepoID: repo.ID, Workflow: "a", ConcurrencyGroup: "Deploy"}, []Job{{Key: "x", ConcurrencyGroup: "prod"}, {Key: "y"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateRun(ctx, Run{RepoID: other.ID, Workflow: "a", ConcurrencyGroup: "deploy"}, []Job{{Key: "x", ConcurrencyGroup: "prod"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateRun(ctx, Run{RepoID: repo.ID, Workflow: "b"}, nil); err != nil {
		t.Fatal(err)
	}
	runs, err := db.OpenGroupRuns(ctx, repo.ID)
	if err != nil || len(runs) != 1 || runs[0].ID != a.ID {
		t.Errorf("OpenGroupRuns = %+v, %v; want run %d only", runs, err, a.ID)
	}
	jobs, err := db.OpenGroupJobs(ctx, repo.ID)
	if err != nil || len(jobs) != 1 || jobs[0].Key != "x" || jobs[0].ConcurrencyGroup != "prod" {
		t.Errorf("OpenGroupJobs = %+v, %v; want x of run %d", jobs, err, a.ID)
	}
}

// updateDone is a JobUpdate completing a job.
func updateDone(status, conclusion string, outputs map[string]string) JobUpdate {
	return JobUpdate{Status: &status, Conclusion: &conclusion, Outputs: outputs}
}
