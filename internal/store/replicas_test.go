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

// Several server replicas share one database: these tests open two handles on one database
// (two processes' worth of pools, hubs and listeners) and race them.

func twoHandles(t *testing.T) (*DB, *DB) {
	t.Helper()
	dsn := testDSN(t)
	return openAt(t, dsn), openAt(t, dsn)
}

func TestReplicasClaimEachJobOnceAndFinishEachRunOnce(t *testing.T) {
	ctx := context.Background()
	a, b := twoHandles(t)
	repo := mustRepo(t, a, "app")
	const nRuns, perRun, agentsPerReplica = 20, 10, 4
	var runIDs []int64
	for i := range nRuns {
		var jobs []Job
		for k := range perRun {
			jobs = append(jobs, Job{Key: fmt.Sprintf("job-%d", k), Status: StatusQueued})
		}
		r, _ := mustRun(t, a, repo.ID, jobs...)
		runIDs = append(runIDs, r.ID)
		_ = i
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	claimedBy := map[int64][]string{}
	for ri, db := range []*DB{a, b} {
		for n := range agentsPerReplica {
			agent := mustAgent(t, db, fmt.Sprintf("r%d-agent-%d", ri, n), 1, "default")
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
					if _, err := db.Complete(ctx, j.ID, agent.ID, ConclusionSuccess, nil); err != nil {
						t.Errorf("Complete: %v", err)
						return
					}
					// Both replicas try to finish the run; only one may.
					for _, other := range []*DB{a, b} {
						if _, _, err := other.FinishRunIfDone(ctx, j.RunID); err != nil {
							t.Errorf("FinishRunIfDone: %v", err)
						}
					}
				}
			})
		}
	}
	wg.Wait()
	if len(claimedBy) != nRuns*perRun {
		t.Errorf("%d distinct jobs claimed, want %d", len(claimedBy), nRuns*perRun)
	}
	for id, by := range claimedBy {
		if len(by) != 1 {
			t.Errorf("job %d claimed by %v", id, by)
		}
	}
	for _, id := range runIDs {
		want := []string{EventRunQueued, EventRunStarted, EventRunCompleted}
		got := eventKinds(t, a, EventFilter{RunID: id, Kinds: want})
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("run %d events (-want +got):\n%s", id, diff)
		}
		r, err := b.GetRun(ctx, id)
		if err != nil || r.Status != StatusCompleted || r.Conclusion != ConclusionSuccess {
			t.Errorf("run %d = %+v, %v; want completed success", id, r, err)
		}
	}
}

// A cancel on one replica racing claims on another: every job ends up either cancelled before
// it started or leased and asked to stop, never both.
func TestReplicasCancelRacesClaims(t *testing.T) {
	ctx := context.Background()
	a, b := twoHandles(t)
	repo := mustRepo(t, a, "app")
	var jobs []Job
	for k := range 40 {
		jobs = append(jobs, Job{Key: fmt.Sprintf("job-%d", k), Status: StatusQueued})
	}
	run, created := mustRun(t, a, repo.ID, jobs...)
	agent := mustAgent(t, a, "box", 40, "default")
	var wg sync.WaitGroup
	claimed := make(chan int64, len(jobs))
	wg.Go(func() {
		for {
			j, err := a.Claim(ctx, agent.ID, agent.Labels, time.Minute)
			if errors.Is(err, ErrNoJob) {
				return
			}
			if err != nil {
				t.Errorf("Claim: %v", err)
				return
			}
			claimed <- j.ID
		}
	})
	wg.Go(func() {
		<-claimed // cancel once something runs
		if _, err := b.CancelRun(ctx, run.ID, "cancelled by a user"); err != nil {
			t.Errorf("CancelRun: %v", err)
		}
	})
	wg.Wait()
	for _, j := range created {
		got, err := a.GetJob(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		leased := len(eventKinds(t, a, EventFilter{JobID: j.ID, Kinds: []string{EventJobLeased}}))
		completed := len(eventKinds(t, a, EventFilter{JobID: j.ID, Kinds: []string{EventJobCompleted}}))
		switch {
		case leased == 1 && completed == 0:
			if got.Status != StatusInProgress || !got.CancelRequested {
				t.Errorf("leased job %s = %s cancel_requested=%v; want in progress and asked to stop", j.Key, got.Status, got.CancelRequested)
			}
		case leased == 0 && completed == 1:
			if got.Status != StatusCompleted || got.Conclusion != ConclusionCancelled {
				t.Errorf("job %s = %s %s; want completed cancelled", j.Key, got.Status, got.Conclusion)
			}
		default:
			t.Errorf("job %s: %d leases and %d completions; want exactly one of them", j.Key, leased, completed)
		}
	}
}

// A waiter on one replica wakes when another replica commits a change to its topic: the
// queue (an agent long-polling replica B while a webhook on replica A queues work) and a job
// (a browser following a log on B while the agent ships lines through A).
func TestReplicasWakeWaitersAcrossProcesses(t *testing.T) {
	if backend != "postgres" {
		t.Skip("SQLite has one server process: waiters are woken in-process")
	}
	ctx := context.Background()
	a, b := twoHandles(t)
	repo := mustRepo(t, a, "app")
	_, jobs := mustRun(t, a, repo.ID, Job{Key: "build"})
	queue, stopQ := b.Watch(TopicQueue)
	defer stopQ()
	if _, err := a.Enqueue(ctx, []int64{jobs[0].ID}); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, queue, "queue watcher on the other replica")

	logs, stopL := b.Watch(TopicJob(jobs[0].ID))
	defer stopL()
	if _, err := a.AppendLogs(ctx, jobs[0].ID, []LogLine{{Seq: 1, Text: "hello"}}); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, logs, "log follower on the other replica")
	got, err := b.Logs(ctx, jobs[0].ID, 0, 0)
	if err != nil || len(got) != 1 || got[0].Text != "hello" {
		t.Fatalf("Logs on the other replica = %v, %v", got, err)
	}

	// Its own changes reach a handle through its hub, not twice through the listener: a
	// watcher of an untouched topic stays asleep.
	other, stopO := a.Watch(TopicJob(jobs[0].ID + 1000))
	defer stopO()
	if _, err := a.AppendLogs(ctx, jobs[0].ID, []LogLine{{Seq: 2, Text: "again"}}); err != nil {
		t.Fatal(err)
	}
	if closed(other) {
		t.Fatal("a watcher of another job was woken")
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s was not woken", what)
	}
}

// Text from a job (a binary's output, a step name) may hold NUL bytes and invalid UTF-8, which
// SQLite stores as given and Postgres refuses: on Postgres each bad byte becomes U+FFFD, and
// the batch is stored instead of failing the agent's upload again and again.
func TestHostileTextIsStored(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	repo := mustRepo(t, db, "app")
	_, jobs := mustRun(t, db, repo.ID, Job{Key: "build", Status: StatusQueued})
	hostile := "bin\x00ary \xff\xfe text"
	if _, err := db.AppendLogs(ctx, jobs[0].ID, []LogLine{{Seq: 1, Text: hostile}}); err != nil {
		t.Fatalf("AppendLogs: %v", err)
	}
	if _, err := db.SetStep(ctx, Step{JobID: jobs[0].ID, Number: 1, Name: hostile, Status: StatusInProgress}); err != nil {
		t.Fatalf("SetStep: %v", err)
	}
	want := hostile
	if backend == "postgres" {
		want = "bin\uFFFDary \uFFFD text"
	}
	lines, err := db.Logs(ctx, jobs[0].ID, 0, 0)
	if err != nil || len(lines) != 1 {
		t.Fatalf("Logs = %v, %v", lines, err)
	}
	if lines[0].Text != want {
		t.Errorf("log text = %q, want %q", lines[0].Text, want)
	}
	steps, err := db.ListSteps(ctx, jobs[0].ID)
	if err != nil || len(steps) != 1 || steps[0].Name != want {
		t.Errorf("steps = %+v, %v; want name %q", steps, err, want)
	}
	if strings.Contains(lines[0].Text, "\x00") && backend == "postgres" {
		t.Error("a NUL byte reached Postgres")
	}
}
