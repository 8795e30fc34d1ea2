package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCreateRunConcurrentNumbering(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	repos := []*Repo{mustRepo(t, db, "a"), mustRepo(t, db, "b")}
	const perRepo = 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	numbers := map[int64][]int64{}
	for i := range 2 * perRepo {
		wg.Go(func() {
			repo := repos[i%2]
			r, jobs, err := db.CreateRun(ctx, Run{RepoID: repo.ID, Workflow: "ci.yml"},
				[]Job{{Key: "build", Status: StatusQueued}, {Key: "test", Needs: []string{"build"}}})
			if err != nil {
				t.Errorf("CreateRun: %v", err)
				return
			}
			if len(jobs) != 2 || jobs[0].RunID != r.ID {
				t.Errorf("jobs = %+v", jobs)
			}
			mu.Lock()
			numbers[repo.ID] = append(numbers[repo.ID], r.Number)
			mu.Unlock()
		})
	}
	wg.Wait()
	var want []int64
	for n := int64(1); n <= perRepo; n++ {
		want = append(want, n)
	}
	for _, repo := range repos {
		got := numbers[repo.ID]
		sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("run numbers of %s (-want +got):\n%s", repo.Name, diff)
		}
	}
}

func TestCreateRunRoundTrip(t *testing.T) {
	ctx := context.Background()
	db, clock := newDB(t)
	repo := mustRepo(t, db, "app")
	in := Run{RepoID: repo.ID, Workflow: ".github/workflows/ci.yml", WorkflowName: "CI", Event: "push",
		Ref: "refs/heads/main", SHA: "abc", Title: "fix", Trigger: TriggerDispatch, Actor: "ann",
		Inputs: map[string]string{"level": "2"}, Payload: json.RawMessage(`{"ref":"refs/heads/main"}`),
		ConcurrencyGroup: "ci-main"}
	jobIn := Job{Key: "test (3.12)", Name: "test (3.12)", Needs: []string{"lint"}, Labels: []string{"ubuntu-latest"},
		Spec: json.RawMessage(`{"steps":[]}`)}
	r, jobs, err := db.CreateRun(ctx, in, []Job{jobIn})
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.ID, want.Number, want.Status, want.Attempt, want.QueuedAt = r.ID, 1, StatusQueued, 1, clock.Now()
	if diff := cmp.Diff(&want, r); diff != "" {
		t.Errorf("CreateRun (-want +got):\n%s", diff)
	}
	got, err := db.GetRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("GetRun (-want +got):\n%s", diff)
	}
	wantJob := jobIn
	wantJob.ID, wantJob.RunID, wantJob.Status, wantJob.Attempt, wantJob.RunAttempt, wantJob.CreatedAt = jobs[0].ID, r.ID, StatusWaiting, 1, 1, clock.Now()
	gotJob, err := db.GetJob(ctx, jobs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&wantJob, gotJob); diff != "" {
		t.Errorf("GetJob (-want +got):\n%s", diff)
	}

	clock.Advance(1)
	started := clock.Now()
	if _, err := db.SetRunStatus(ctx, r.ID, StatusInProgress, ""); err != nil {
		t.Fatal(err)
	}
	clock.Advance(1)
	done, err := db.SetRunStatus(ctx, r.ID, StatusCompleted, ConclusionSuccess)
	if err != nil {
		t.Fatal(err)
	}
	if *done.StartedAt != started || *done.FinishedAt != clock.Now() || done.Conclusion != ConclusionSuccess {
		t.Errorf("completed run = %+v", done)
	}
	if _, _, err := db.CreateRun(ctx, Run{RepoID: repo.ID + 100, Workflow: "x"}, nil); err == nil {
		t.Error("CreateRun for a missing repo succeeded")
	}
	if _, _, err := db.CreateRun(ctx, Run{RepoID: repo.ID, Workflow: "x"}, []Job{{Key: "a"}, {Key: "a"}}); err == nil {
		t.Error("CreateRun with a duplicate job key succeeded")
	}
	if runs, _ := db.ListRuns(ctx, RunFilter{RepoID: repo.ID}); len(runs) != 1 {
		t.Errorf("a failed CreateRun left %d runs, want 1 (transaction rolled back)", len(runs))
	}
}

func TestListRunsPaging(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	a, b := mustRepo(t, db, "a"), mustRepo(t, db, "b")
	var wantA []int64
	for i := range 25 {
		r, _ := mustRun(t, db, a.ID)
		wantA = append(wantA, r.ID)
		if i%5 == 0 {
			mustRun(t, db, b.ID)
			if _, err := db.SetRunStatus(ctx, r.ID, StatusCompleted, ConclusionFailure); err != nil {
				t.Fatal(err)
			}
		}
	}
	sort.Slice(wantA, func(i, j int) bool { return wantA[i] > wantA[j] })

	tests := []struct {
		name  string
		f     RunFilter
		sizes []int
		want  []int64
	}{
		{"repo a in pages of 10", RunFilter{RepoID: a.ID, Limit: 10}, []int{10, 10, 5}, wantA},
		{"completed of repo a", RunFilter{RepoID: a.ID, Status: StatusCompleted, Limit: 2}, []int{2, 2, 1}, nil},
		{"everything", RunFilter{Limit: 100}, []int{30}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			var sizes []int
			var ids []int64
			for {
				page, err := db.ListRuns(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				sizes = append(sizes, len(page))
				for _, r := range page {
					if tc.f.Status != "" && r.Status != tc.f.Status {
						t.Errorf("run %d has status %s", r.ID, r.Status)
					}
					ids = append(ids, r.ID)
				}
				f.Before = page[len(page)-1].ID
			}
			if diff := cmp.Diff(tc.sizes, sizes); diff != "" {
				t.Errorf("page sizes (-want +got):\n%s", diff)
			}
			if tc.want != nil {
				if diff := cmp.Diff(tc.want, ids); diff != "" {
					t.Errorf("ids (-want +got):\n%s", diff)
				}
			}
			if !sort.SliceIsSorted(ids, func(i, j int) bool { return ids[i] > ids[j] }) {
				t.Errorf("ids not newest first: %v", ids)
			}
		})
	}
}

func TestCancelRun(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	repo := mustRepo(t, db, "app")
	agent := mustAgent(t, db, "a1", 2, "default")
	r, _ := mustRun(t, db, repo.ID, Job{Key: "build", Status: StatusQueued}, Job{Key: "test", Needs: []string{"build"}},
		Job{Key: "lint", Status: StatusQueued})
	running, err := db.Claim(ctx, agent.ID, agent.Labels, 60e9)
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.CancelRun(ctx, r.ID, "cancelled by ann")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusInProgress {
		t.Errorf("run with a running job: status %s, want in_progress until the agent stops", got.Status)
	}
	hb, err := db.Heartbeat(ctx, running.ID, agent.ID, 60e9)
	if err != nil || !hb.CancelRequested {
		t.Fatalf("Heartbeat = %+v, %v; want CancelRequested", hb, err)
	}
	if _, err := db.Complete(ctx, running.ID, agent.ID, ConclusionCancelled, nil); err != nil {
		t.Fatal(err)
	}
	fin, done, err := db.FinishRunIfDone(ctx, r.ID)
	if err != nil || !done {
		t.Fatalf("FinishRunIfDone = %v, %v", done, err)
	}
	jobs, err := db.ListJobs(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, j := range jobs {
		states = append(states, fmt.Sprintf("%s %s %s %s", j.Key, j.Status, j.Conclusion, j.Reason))
	}
	want := []string{"build completed cancelled ", "test completed cancelled cancelled by ann", "lint completed cancelled cancelled by ann"}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
	if fin.Status != StatusCompleted || fin.Conclusion != ConclusionCancelled {
		t.Errorf("run = %s/%s, want completed/cancelled", fin.Status, fin.Conclusion)
	}
}
