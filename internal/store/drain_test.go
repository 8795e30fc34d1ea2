package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestDrainAndQueueByLabels(t *testing.T) {
	ctx := context.Background()
	db, clock := newDB(t)
	repo := mustRepo(t, db, "app")
	box := mustAgent(t, db, "box", 2, "default")
	gpu := mustAgent(t, db, "gpu", 1, "default", "gpu")
	mustAgent(t, db, "gone", 4, "default")
	clock.Advance(2 * time.Minute) // "gone" goes offline
	for _, a := range []*Agent{box, gpu} {
		if err := db.TouchAgent(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	mustRun(t, db, repo.ID, Job{Key: "a", Status: StatusQueued, Labels: []string{"ubuntu-latest"}},
		Job{Key: "b", Status: StatusQueued, Labels: []string{"ubuntu-latest"}},
		Job{Key: "c", Status: StatusQueued, Labels: []string{"gpu"}},
		Job{Key: "d", Status: StatusQueued, Labels: []string{"arm64"}})

	a, err := db.SetAgentDraining(ctx, gpu.ID, true)
	if err != nil || !a.Draining {
		t.Fatalf("SetAgentDraining = %+v, %v", a, err)
	}
	if _, err := db.Claim(ctx, gpu.ID, gpu.Labels, time.Minute); !errors.Is(err, ErrDraining) {
		t.Fatalf("a draining agent's Claim: %v, want ErrDraining", err)
	}
	if _, err := db.Claim(ctx, box.ID, box.Labels, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := db.QueueByLabels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []LabelQueue{
		{Labels: []string{"arm64"}, Queued: 1},
		{Labels: []string{"gpu"}, Queued: 1}, // its only agent drains
		{Labels: []string{"ubuntu-latest"}, Queued: 1, Running: 1, AgentsOnline: 1, FreeSlots: 1},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(LabelQueue{}, "OldestQueued")); diff != "" {
		t.Errorf("QueueByLabels (-want +got):\n%s", diff)
	}
	for _, q := range got {
		if q.OldestQueued == nil {
			t.Errorf("%v: no oldest queued time", q.Labels)
		}
	}
	reasons := map[string]string{}
	pending, err := db.PendingJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pending {
		reasons[p.Job.Key] = p.Reason
	}
	if reasons["c"] != "all matching agents are busy (gpu draining)" {
		t.Errorf("reason of the gpu job: %q", reasons["c"])
	}
	// Registering again (an agent restarting) keeps the drain; undraining lets it claim.
	if _, err := db.RegisterAgent(ctx, Agent{Name: "gpu", Labels: gpu.Labels, TokenHash: []byte("hash-gpu2"), Parallel: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Claim(ctx, gpu.ID, gpu.Labels, time.Minute); !errors.Is(err, ErrDraining) {
		t.Errorf("after re-registering: %v, want still draining", err)
	}
	if _, err := db.SetAgentDraining(ctx, gpu.ID, false); err != nil {
		t.Fatal(err)
	}
	j, err := db.Claim(ctx, gpu.ID, gpu.Labels, time.Minute)
	if err != nil || j.Key != "b" { // the oldest job it can run
		t.Fatalf("after undraining: %v, %v; want job b", j, err)
	}
	if diff := cmp.Diff([]string{EventAgentUpdated, EventAgentUpdated}, eventKinds(t, db, EventFilter{Kinds: []string{EventAgentUpdated}})); diff != "" {
		t.Errorf("agent.updated events (-want +got):\n%s", diff)
	}
}
