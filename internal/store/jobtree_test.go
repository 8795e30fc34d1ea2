package store

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestExpandedRows: a matrix job's row, once its legs exist, is bookkeeping: not shown, not
// pending; a tolerated failure (continue-on-error) does not fail the run.
func TestExpandedRows(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	repo := mustRepo(t, db, "app")
	run, jobs := mustRun(t, db, repo.ID, Job{Key: "m", Name: "m"}, Job{Key: "after", Name: "after", Needs: []string{"m"}})
	legs, err := db.AddJobs(ctx, run.ID, []Job{
		{Key: "m (a)", Name: "m (a)", Parent: "m", Needs: []string{}},
		{Key: "m (b)", Name: "m (b)", Parent: "m", Tolerated: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !legs[1].Tolerated || legs[0].Parent != "m" {
		t.Fatalf("legs read back as %+v", legs)
	}
	all, err := db.ListLatestJobs(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, j := range Shown(all) {
		shown = append(shown, j.Key)
	}
	if diff := cmp.Diff([]string{"after", "m (a)", "m (b)"}, shown); diff != "" {
		t.Errorf("shown (-want +got):\n%s", diff)
	}
	pending, err := db.PendingJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pend []string
	for _, p := range pending {
		pend = append(pend, p.Job.Key+": "+p.Reason)
	}
	want := []string{"after: waiting for needs: m", "m (a): waiting to be queued", "m (b): waiting to be queued"}
	if diff := cmp.Diff(want, pend); diff != "" {
		t.Errorf("pending (-want +got):\n%s", diff)
	}

	completed, success, failure, yes := StatusCompleted, ConclusionSuccess, ConclusionFailure, true
	name := "m renamed"
	if _, err := db.UpdateJob(ctx, jobs[0].ID, JobUpdate{Name: &name, Tolerated: &yes}); err != nil {
		t.Fatal(err)
	}
	if j, _ := db.GetJob(ctx, jobs[0].ID); j.Name != name || !j.Tolerated {
		t.Errorf("UpdateJob kept name %q tolerated %v", j.Name, j.Tolerated)
	}
	for _, u := range []struct {
		id         int64
		conclusion *string
	}{{legs[0].ID, &success}, {legs[1].ID, &failure}, {jobs[0].ID, &success}, {jobs[1].ID, &success}} {
		if _, err := db.UpdateJob(ctx, u.id, JobUpdate{Status: &completed, Conclusion: u.conclusion}); err != nil {
			t.Fatal(err)
		}
	}
	r, done, err := db.FinishRunIfDone(ctx, run.ID)
	if err != nil || !done || r.Conclusion != ConclusionSuccess {
		t.Errorf("FinishRunIfDone = %v, %v, %v; want the run done and a success despite the tolerated failure", r, done, err)
	}
	if err := db.SetRunConcurrencyGroup(ctx, run.ID, "ci-1"); err != nil {
		t.Fatal(err)
	}
	if r, _ := db.GetRun(ctx, run.ID); r.ConcurrencyGroup != "ci-1" {
		t.Errorf("concurrency group = %q", r.ConcurrencyGroup)
	}
	if err := db.SetRunConcurrencyGroup(ctx, 999, "x"); err == nil {
		t.Error("SetRunConcurrencyGroup of a missing run succeeded")
	}
}
