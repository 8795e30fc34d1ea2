package store

import (
	"context"
	"testing"
	"time"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestWatch(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	repo := mustRepo(t, db, "app")
	agent := mustAgent(t, db, "box", 1, "default")

	queue, stopQueue := db.Watch(TopicQueue)
	defer stopQueue()
	_, jobs := mustRun(t, db, repo.ID, Job{Key: "build"}) // waiting: not claimable yet
	if closed(queue) {
		t.Fatal("queue woken by a waiting job")
	}
	jobCh, stopJob := db.Watch(TopicJob(jobs[0].ID))
	defer stopJob()
	other, stopOther := db.Watch(TopicJob(jobs[0].ID + 1000))
	defer stopOther()
	if _, err := db.Enqueue(ctx, []int64{jobs[0].ID}); err != nil {
		t.Fatal(err)
	}
	if !closed(queue) || !closed(jobCh) {
		t.Fatal("Enqueue did not wake queue and job watchers")
	}
	if closed(other) {
		t.Fatal("a watcher of another job was woken")
	}

	if _, err := db.Claim(ctx, agent.ID, agent.Labels, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Complete(ctx, jobs[0].ID, agent.ID, ConclusionSuccess, nil); err != nil {
		t.Fatal(err)
	}

	// A claimer blocked on an empty queue wakes up when work arrives.
	got := make(chan string, 1)
	idle := make(chan struct{}, 1)
	go func() {
		for {
			ch, stop := db.Watch(TopicQueue)
			j, err := db.Claim(ctx, agent.ID, agent.Labels, time.Minute)
			if err == nil {
				stop()
				got <- j.Key
				return
			}
			select {
			case idle <- struct{}{}:
			default:
			}
			<-ch
			stop()
		}
	}()
	<-idle
	mustRun(t, db, repo.ID, Job{Key: "late", Status: StatusQueued})
	select {
	case k := <-got:
		if k != "late" {
			t.Fatalf("claimed %s", k)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("claimer never woke up for the late job")
	}

	// stop unregisters: the hub holds no waiter afterwards.
	stopOther()
	ch, stop := db.Watch(TopicRun(1), TopicEvents)
	stop()
	stop()
	db.hub.mu.Lock()
	n := len(db.hub.waiters)
	db.hub.mu.Unlock()
	if n != 0 {
		t.Errorf("%d topics still have waiters after stop", n)
	}
	if closed(ch) {
		t.Error("stopped channel was closed")
	}
}
