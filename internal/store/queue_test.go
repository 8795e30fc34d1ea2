package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLabelsMatch(t *testing.T) {
	tests := []struct {
		agent, job []string
		want       bool
	}{
		{[]string{"default"}, nil, true},
		{nil, nil, true},
		{[]string{"default"}, []string{"ubuntu-latest"}, true},
		{[]string{"default"}, []string{"ubuntu-22.04"}, true},
		{[]string{"default"}, []string{"self-hosted", "linux", "x64"}, true},
		{[]string{"Default"}, []string{"Ubuntu-Latest"}, true},
		{[]string{"gpu"}, []string{"ubuntu-latest"}, false},
		{[]string{"default"}, []string{"self-hosted", "gpu"}, false},
		{[]string{"default", "gpu"}, []string{"self-hosted", "gpu"}, true},
		{[]string{"self-hosted", "gpu"}, []string{"self-hosted", "gpu"}, true},
		{[]string{"default"}, []string{"windows-latest"}, false},
		{[]string{"default"}, []string{"macos-latest"}, false},
	}
	for _, tc := range tests {
		if got := LabelsMatch(tc.agent, tc.job); got != tc.want {
			t.Errorf("LabelsMatch(%v, %v) = %v, want %v", tc.agent, tc.job, got, tc.want)
		}
	}
}

func TestClaimRouting(t *testing.T) {
	ctx := context.Background()
	db, clock := newDB(t)
	repo := mustRepo(t, db, "app")
	def := mustAgent(t, db, "def", 4, "default")
	gpu := mustAgent(t, db, "gpu", 4, "gpu", "linux")
	// Queue one job at a time so the queue order is the creation order.
	for _, j := range []Job{
		{Key: "cuda", Labels: []string{"gpu"}},
		{Key: "plain", Labels: []string{"ubuntu-latest"}},
		{Key: "nolabel"},
		{Key: "win", Labels: []string{"windows-latest"}},
		{Key: "gpu-linux", Labels: []string{"linux", "gpu"}},
	} {
		j.Status = StatusQueued
		mustRun(t, db, repo.ID, j)
		clock.Advance(time.Millisecond)
	}
	claim := func(a *Agent) string {
		j, err := db.Claim(ctx, a.ID, a.Labels, time.Minute)
		if errors.Is(err, ErrNoJob) {
			return "none"
		}
		if err != nil {
			t.Fatalf("Claim: %v", err)
		}
		if j.Status != StatusInProgress || *j.AgentID != a.ID || !j.LeaseUntil.Equal(clock.Now().Add(time.Minute)) {
			t.Errorf("claimed job = %+v", j)
		}
		return j.Key
	}
	var got []string
	for _, a := range []*Agent{def, gpu, def, gpu, def, gpu} {
		got = append(got, a.Name+":"+claim(a))
	}
	want := []string{"def:plain", "gpu:cuda", "def:nolabel", "gpu:gpu-linux", "def:none", "gpu:none"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	if _, err := db.Claim(ctx, 9999, []string{"windows-latest"}, time.Minute); err == nil {
		t.Error("Claim by an unknown agent succeeded")
	}
}

func TestConcurrentClaimsEachJobOnce(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	repo := mustRepo(t, db, "app")
	const nJobs, nAgents = 200, 4
	for i := range nJobs / 10 {
		var jobs []Job
		for k := range 10 {
			jobs = append(jobs, Job{Key: fmt.Sprintf("job-%d-%d", i, k), Status: StatusQueued, Labels: []string{"ubuntu-latest"}})
		}
		mustRun(t, db, repo.ID, jobs...)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	claimedBy := map[int64][]string{}
	for a := range nAgents {
		agent := mustAgent(t, db, fmt.Sprintf("agent-%d", a), 1, "default")
		wg.Go(func() {
			for {
				j, err := db.Claim(ctx, agent.ID, agent.Labels, time.Minute)
				if errors.Is(err, ErrNoJob) {
					return
				}
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				mu.Lock()
				claimedBy[j.ID] = append(claimedBy[j.ID], agent.Name)
				mu.Unlock()
				if _, err := db.Complete(ctx, j.ID, agent.ID, ConclusionSuccess, map[string]string{"by": agent.Name}); err != nil {
					t.Errorf("Complete: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if len(claimedBy) != nJobs {
		t.Errorf("%d distinct jobs claimed, want %d", len(claimedBy), nJobs)
	}
	for id, by := range claimedBy {
		if len(by) != 1 {
			t.Errorf("job %d claimed by %v", id, by)
		}
		j, err := db.GetJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status != StatusCompleted || j.Outputs["by"] != by[0] {
			t.Errorf("job %d = %s %v, want completed by %s", id, j.Status, j.Outputs, by[0])
		}
	}
	if n := len(eventKinds(t, db, EventFilter{Kinds: []string{EventJobLeased}, Limit: 1000})); n != nJobs {
		t.Errorf("%d job.leased events, want %d", n, nJobs)
	}
}

func TestHeartbeatExtendsAndRejects(t *testing.T) {
	ctx := context.Background()
	db, clock := newDB(t)
	repo := mustRepo(t, db, "app")
	a1, a2 := mustAgent(t, db, "a1", 1, "default"), mustAgent(t, db, "a2", 1, "default")
	mustRun(t, db, repo.ID, Job{Key: "build", Status: StatusQueued})
	j, err := db.Claim(ctx, a1.ID, a1.Labels, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(50 * time.Second)
	hb, err := db.Heartbeat(ctx, j.ID, a1.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if want := clock.Now().Add(time.Minute); !hb.LeaseUntil.Equal(want) {
		t.Errorf("lease after heartbeat = %v, want %v", hb.LeaseUntil, want)
	}
	if _, err := db.Heartbeat(ctx, j.ID, a2.ID, time.Minute); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("heartbeat by another agent: err = %v, want ErrLeaseLost", err)
	}
	// The extended lease holds past the original deadline.
	clock.Advance(30 * time.Second)
	if lost, err := db.ExpireLeases(ctx, clock.Now(), true); err != nil || len(lost) != 0 {
		t.Fatalf("ExpireLeases within the lease = %v, %v", lost, err)
	}
	// a1 goes silent; its lease runs out; a2 takes the retry.
	clock.Advance(time.Minute)
	if _, err := db.ExpireLeases(ctx, clock.Now(), true); err != nil {
		t.Fatal(err)
	}
	retry, err := db.Claim(ctx, a2.ID, a2.Labels, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if retry.Key != "build" || retry.Attempt != 2 || retry.ID == j.ID {
		t.Errorf("retry = %+v", retry)
	}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"a1 heartbeat on its lost job", func() error { _, err := db.Heartbeat(ctx, j.ID, a1.ID, time.Minute); return err }()},
		{"a1 complete of its lost job", func() error { _, err := db.Complete(ctx, j.ID, a1.ID, ConclusionSuccess, nil); return err }()},
		{"a1 heartbeat on a2's retry", func() error { _, err := db.Heartbeat(ctx, retry.ID, a1.ID, time.Minute); return err }()},
	} {
		if !errors.Is(tc.err, ErrLeaseLost) {
			t.Errorf("%s: err = %v, want ErrLeaseLost", tc.name, tc.err)
		}
	}
	if _, err := db.Heartbeat(ctx, retry.ID, a2.ID, time.Minute); err != nil {
		t.Errorf("a2 heartbeat on its job: %v", err)
	}
	lostJob, _ := db.GetJob(ctx, j.ID)
	if lostJob.Conclusion != ConclusionFailure {
		t.Errorf("late Complete changed the lost job: %+v", lostJob)
	}
}

func TestExpireLeases(t *testing.T) {
	tests := []struct {
		name        string
		retry       bool
		maxAttempts int
		losses      int // how many times the job is lost in a row
		wantKeys    []string
	}{
		{"retry once", true, 2, 1, []string{"build#1 completed failure", "build#2 queued "}},
		{"retry at most once", true, 2, 2, []string{"build#1 completed failure", "build#2 completed failure"}},
		{"no retry", false, 2, 1, []string{"build#1 completed failure"}},
		{"three attempts allowed", true, 3, 2, []string{"build#1 completed failure", "build#2 completed failure", "build#3 queued "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, clock := newDB(t, WithMaxAttempts(tc.maxAttempts))
			repo := mustRepo(t, db, "app")
			agent := mustAgent(t, db, "box", 1, "default")
			run, _ := mustRun(t, db, repo.ID, Job{Key: "build", Status: StatusQueued, Labels: []string{"ubuntu-latest"}})
			for range tc.losses {
				j, err := db.Claim(ctx, agent.ID, agent.Labels, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				lastBeat := clock.Now()
				clock.Advance(2 * time.Minute)
				lost, err := db.ExpireLeases(ctx, clock.Now(), tc.retry)
				if err != nil {
					t.Fatal(err)
				}
				if len(lost) != 1 || lost[0].ID != j.ID {
					t.Fatalf("lost = %+v, want job %d", lost, j.ID)
				}
				wantReason := fmt.Sprintf(`agent lost: no heartbeat since %s (agent "box"`, lastBeat.Format(time.RFC3339))
				if !strings.HasPrefix(lost[0].Reason, wantReason) {
					t.Errorf("reason = %q, want prefix %q", lost[0].Reason, wantReason)
				}
				evs, err := db.ListEvents(ctx, EventFilter{JobID: j.ID, Kinds: []string{EventJobAgentLost}})
				if err != nil || len(evs) != 1 || !strings.Contains(string(evs[0].Data), "agent lost") {
					t.Errorf("agent_lost events of job %d = %+v, %v", j.ID, evs, err)
				}
			}
			jobs, err := db.ListJobs(ctx, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, j := range jobs {
				got = append(got, fmt.Sprintf("%s#%d %s %s", j.Key, j.Attempt, j.Status, j.Conclusion))
				if diff := cmp.Diff([]string{"ubuntu-latest"}, j.Labels); diff != "" {
					t.Errorf("retry lost its labels: %s", diff)
				}
			}
			if diff := cmp.Diff(tc.wantKeys, got); diff != "" {
				t.Errorf("job rows (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecoverAfterCrash(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	path := testDSN(t)
	db := openAt(t, path, WithClock(clock.Now))
	repo := mustRepo(t, db, "app")
	agent := mustAgent(t, db, "box", 4, "default")

	// Run 1: one job done, one running when the server dies.
	run1, _ := mustRun(t, db, repo.ID, Job{Key: "a", Status: StatusQueued}, Job{Key: "b", Status: StatusQueued})
	// Run 2: all jobs done but the server died before completing the run.
	run2, _ := mustRun(t, db, repo.ID, Job{Key: "c", Status: StatusQueued})
	// Run 3: a job whose agent keeps heartbeating across the restart.
	run3, _ := mustRun(t, db, repo.ID, Job{Key: "d", Status: StatusQueued})
	claimed := map[string]*Job{}
	for range 4 {
		j, err := db.Claim(ctx, agent.ID, agent.Labels, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		claimed[j.Key] = j
	}
	for _, k := range []string{"a", "c"} {
		if _, err := db.Complete(ctx, claimed[k].ID, agent.ID, ConclusionSuccess, nil); err != nil {
			t.Fatal(err)
		}
	}
	db.Close() // the crash: nothing after the last commit happens

	clock.Advance(90 * time.Second)
	db = openAt(t, path, WithClock(clock.Now), WithMaxAttempts(2))
	// d's agent reconnected and heartbeated before recovery ran.
	if _, err := db.Heartbeat(ctx, claimed["d"].ID, agent.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	rec, err := db.RecoverAfterCrash(ctx, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	var lost, finished []string
	for _, j := range rec.Lost {
		lost = append(lost, j.Key)
	}
	for _, r := range rec.FinishedRuns {
		finished = append(finished, fmt.Sprintf("%d %s", r.Number, r.Conclusion))
	}
	if diff := cmp.Diff([]string{"b"}, lost); diff != "" {
		t.Errorf("lost (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{fmt.Sprintf("%d success", run2.Number)}, finished); diff != "" {
		t.Errorf("finished runs (-want +got):\n%s", diff)
	}
	states := func(runID int64) []string {
		jobs, err := db.ListJobs(ctx, runID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, j := range jobs {
			out = append(out, fmt.Sprintf("%s#%d %s %s", j.Key, j.Attempt, j.Status, j.Conclusion))
		}
		return out
	}
	if diff := cmp.Diff([]string{"a#1 completed success", "b#1 completed failure", "b#2 queued "}, states(run1.ID)); diff != "" {
		t.Errorf("run 1 jobs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"d#1 in_progress "}, states(run3.ID)); diff != "" {
		t.Errorf("run 3 jobs (-want +got):\n%s", diff)
	}

	// The retry is lost too: no attempts left, so the run ends as failed with the cause recorded.
	if _, err := db.Claim(ctx, agent.ID, agent.Labels, time.Minute); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	if rec, err = db.RecoverAfterCrash(ctx, clock.Now()); err != nil {
		t.Fatal(err)
	}
	r1, _ := db.GetRun(ctx, run1.ID)
	if r1.Status != StatusCompleted || r1.Conclusion != ConclusionFailure {
		t.Errorf("run 1 = %s/%s, want completed/failure", r1.Status, r1.Conclusion)
	}
	if len(rec.Lost) != 2 { // b#2 and d (no heartbeat for two minutes)
		t.Errorf("second recovery lost %d jobs, want 2", len(rec.Lost))
	}
}

func TestPendingJobsReasons(t *testing.T) {
	ctx := context.Background()
	db, clock := newDB(t, WithAgentOnlineWindow(time.Minute))
	repo := mustRepo(t, db, "app")
	_, jobs := mustRun(t, db, repo.ID,
		Job{Key: "build", Status: StatusQueued},
		Job{Key: "cuda", Status: StatusQueued, Labels: []string{"gpu"}},
		Job{Key: "arm", Status: StatusQueued, Labels: []string{"arm64"}},
		Job{Key: "test", Needs: []string{"build", "cuda"}},
		Job{Key: "deploy", Needs: []string{"test"}, PendingReason: "concurrency group prod is busy"},
	)
	reasons := func() map[string]string {
		ps, err := db.PendingJobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, p := range ps {
			out[p.Job.Key] = p.Reason
		}
		return out
	}
	if diff := cmp.Diff(map[string]string{
		"build":  "no agent is registered",
		"cuda":   "no agent has labels: gpu",
		"arm":    "no agent has labels: arm64",
		"test":   "waiting for needs: build, cuda",
		"deploy": "concurrency group prod is busy",
	}, reasons()); diff != "" {
		t.Errorf("no agents (-want +got):\n%s", diff)
	}

	def := mustAgent(t, db, "def", 1, "default")
	mustAgent(t, db, "armbox", 1, "arm64")
	clock.Advance(2 * time.Minute) // both agents now look offline
	def, _ = db.GetAgent(ctx, def.ID)
	if err := db.TouchAgent(ctx, def.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Claim(ctx, def.ID, def.Labels, time.Minute); err != nil { // takes build
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{
		"cuda":   "no agent has labels: gpu",
		"arm":    "no matching agent is online (armbox)",
		"test":   "waiting for needs: build, cuda",
		"deploy": "concurrency group prod is busy",
	}, reasons()); diff != "" {
		t.Errorf("def busy, armbox offline (-want +got):\n%s", diff)
	}
	if _, err := db.Complete(ctx, jobs[0].ID, def.ID, ConclusionSuccess, nil); err != nil {
		t.Fatal(err)
	}
	mustAgent(t, db, "gpubox", 1, "gpu") // registering counts as being seen
	mustRun(t, db, repo.ID, Job{Key: "more", Status: StatusQueued})
	if diff := cmp.Diff(map[string]string{
		"cuda":   "waiting for a free agent to claim it (gpubox)",
		"arm":    "no matching agent is online (armbox)",
		"test":   "waiting for needs: cuda",
		"deploy": "concurrency group prod is busy",
		"more":   "waiting for a free agent to claim it (def, gpubox)",
	}, reasons()); diff != "" {
		t.Errorf("after build finished (-want +got):\n%s", diff)
	}
	// Fill def so "more" finds every matching agent busy.
	if j, err := db.Claim(ctx, def.ID, def.Labels, time.Minute); err != nil || j.Key != "more" {
		t.Fatalf("Claim = %+v, %v", j, err)
	}
	mustRun(t, db, repo.ID, Job{Key: "later", Status: StatusQueued, Labels: []string{"ubuntu-latest"}})
	if got := reasons()["later"]; got != "all matching agents are busy (def 1/1)" {
		t.Errorf("later: %q", got)
	}
}
