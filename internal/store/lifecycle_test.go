package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestEventsForJobLifecycle asserts the event log a whole run leaves: every transition is there,
// in order, tied to the right run and job.
func TestEventsForJobLifecycle(t *testing.T) {
	ctx := context.Background()
	db, clock := newDB(t)
	repo := mustRepo(t, db, "app")
	agent := mustAgent(t, db, "box", 2, "default")
	run, jobs := mustRun(t, db, repo.ID, Job{Key: "build", Status: StatusQueued}, Job{Key: "test", Needs: []string{"build"}})
	build, test := jobs[0], jobs[1]

	step := func(jobID int64, n int, status, conclusion string) {
		t.Helper()
		if _, err := db.SetStep(ctx, Step{JobID: jobID, Number: n, Name: "step", Status: status, Conclusion: conclusion}); err != nil {
			t.Fatal(err)
		}
	}
	claim := func(wantKey string) {
		t.Helper()
		j, err := db.Claim(ctx, agent.ID, agent.Labels, time.Minute)
		if err != nil || j.Key != wantKey {
			t.Fatalf("Claim = %+v, %v; want %s", j, err, wantKey)
		}
	}
	claim("build")
	clock.Advance(time.Second)
	step(build.ID, 1, StatusInProgress, "")
	step(build.ID, 1, StatusInProgress, "") // repeated report: no second event
	step(build.ID, 1, StatusCompleted, ConclusionSuccess)
	if _, err := db.Complete(ctx, build.ID, agent.ID, ConclusionSuccess, map[string]string{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	if n, err := db.Enqueue(ctx, []int64{test.ID, build.ID}); err != nil || n != 1 {
		t.Fatalf("Enqueue = %d, %v; want 1 (build is not waiting)", n, err)
	}
	if n, err := db.Enqueue(ctx, []int64{test.ID}); err != nil || n != 0 {
		t.Fatalf("repeated Enqueue = %d, %v; want 0", n, err)
	}
	claim("test")
	if _, err := db.Complete(ctx, test.ID, agent.ID, ConclusionFailure, nil); err != nil {
		t.Fatal(err)
	}
	r, done, err := db.FinishRunIfDone(ctx, run.ID)
	if err != nil || !done || r.Conclusion != ConclusionFailure {
		t.Fatalf("FinishRunIfDone = %+v, %v, %v", r, done, err)
	}

	evs, err := db.ListEvents(ctx, EventFilter{RunID: run.ID})
	if err != nil {
		t.Fatal(err)
	}
	type ev struct {
		Kind  string
		JobID int64
	}
	var got []ev
	for _, e := range evs {
		if *e.RepoID != repo.ID || *e.RunID != run.ID {
			t.Errorf("event %s: repo %v run %v", e.Kind, e.RepoID, e.RunID)
		}
		var j int64
		if e.JobID != nil {
			j = *e.JobID
		}
		if !json.Valid(e.Data) {
			t.Errorf("event %s data %q is not JSON", e.Kind, e.Data)
		}
		got = append(got, ev{e.Kind, j})
	}
	b, tt := build.ID, test.ID
	want := []ev{
		{EventRunQueued, 0}, {EventJobQueued, b}, {EventJobCreated, tt},
		{EventJobLeased, b}, {EventJobStarted, b}, {EventRunStarted, 0},
		{EventStepStarted, b}, {EventStepCompleted, b}, {EventJobCompleted, b},
		{EventJobQueued, tt}, {EventJobLeased, tt}, {EventJobStarted, tt}, {EventJobCompleted, tt},
		{EventRunCompleted, 0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	// Paging the event log with After returns the same events.
	var paged []string
	after := int64(0)
	for {
		page, err := db.ListEvents(ctx, EventFilter{RunID: run.ID, After: after, Limit: 4})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			paged = append(paged, e.Kind)
		}
		after = page[len(page)-1].ID
	}
	if len(paged) != len(want) {
		t.Errorf("paged %d events, want %d", len(paged), len(want))
	}

	steps, err := db.ListSteps(ctx, build.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 || steps[0].Conclusion != ConclusionSuccess || steps[0].StartedAt == nil || steps[0].FinishedAt == nil {
		t.Errorf("steps = %+v", steps)
	}
	got1, _ := db.GetJob(ctx, build.ID)
	if diff := cmp.Diff(map[string]string{"v": "1"}, got1.Outputs); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
	if got1.StartedAt == nil || got1.FinishedAt == nil || !got1.FinishedAt.After(*got1.StartedAt) || got1.AgentID == nil {
		t.Errorf("build times/agent = %+v", got1)
	}
}

func TestUpdateJob(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	repo := mustRepo(t, db, "app")
	_, jobs := mustRun(t, db, repo.ID, Job{Key: "deploy"})
	reason := "concurrency group prod is busy"
	j, err := db.UpdateJob(ctx, jobs[0].ID, JobUpdate{PendingReason: &reason, Labels: []string{"gpu"}})
	if err != nil {
		t.Fatal(err)
	}
	if j.PendingReason != reason || j.Status != StatusWaiting || j.Labels[0] != "gpu" {
		t.Errorf("job = %+v", j)
	}
	skipped, completed := ConclusionSkipped, StatusCompleted
	if j, err = db.UpdateJob(ctx, j.ID, JobUpdate{Status: &completed, Conclusion: &skipped}); err != nil {
		t.Fatal(err)
	}
	if j.FinishedAt == nil || j.Conclusion != ConclusionSkipped {
		t.Errorf("job = %+v", j)
	}
	if diff := cmp.Diff([]string{EventJobCreated, EventJobUpdated, EventJobCompleted},
		eventKinds(t, db, EventFilter{JobID: j.ID})); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
