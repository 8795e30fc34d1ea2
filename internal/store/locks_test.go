package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lockHandles returns two replicas' handles on one database; on SQLite, which serves one
// process, one handle twice (its locks are in-process).
func lockHandles(t *testing.T) (*DB, *DB) {
	if backend == "sqlite" {
		db, _ := newDB(t)
		return db, db
	}
	return twoHandles(t)
}

// Two replicas advancing one run take turns; other runs are not held up.
func TestRunLockAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	a, b := lockHandles(t)
	var inside, maxInside, done atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		db := []*DB{a, b}[i%2]
		wg.Go(func() {
			err := db.WithRunLock(ctx, 7, func(ctx context.Context) error {
				n := inside.Add(1)
				for {
					m := maxInside.Load()
					if n <= m || maxInside.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(5 * time.Millisecond) // hold it long enough for a racer to show
				inside.Add(-1)
				done.Add(1)
				return nil
			})
			if err != nil {
				t.Errorf("WithRunLock: %v", err)
			}
		})
	}
	// Another run's lock is free meanwhile.
	other := make(chan struct{})
	go func() {
		defer close(other)
		if err := b.WithRunLock(ctx, 8, func(context.Context) error { return nil }); err != nil {
			t.Errorf("WithRunLock(8): %v", err)
		}
	}()
	select {
	case <-other:
	case <-time.After(20 * time.Second):
		t.Fatal("the lock of run 8 waited for run 7's")
	}
	wg.Wait()
	if done.Load() != 8 || maxInside.Load() != 1 {
		t.Errorf("%d holders ran, at most %d at once; want 8, one at a time", done.Load(), maxInside.Load())
	}
	// A waiter gives up with its context.
	hold := make(chan struct{})
	held := make(chan struct{})
	go a.WithRunLock(ctx, 9, func(context.Context) error { close(held); <-hold; return nil })
	<-held
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := b.WithRunLock(short, 9, func(context.Context) error { return nil }); err == nil {
		t.Error("took a lock another replica holds")
	}
	close(hold)
	if err := b.WithRunLock(ctx, 9, func(context.Context) error { return nil }); err != nil {
		t.Errorf("after release: %v", err)
	}
}

// A lease is held by one replica at a time, passes on when released, and — on Postgres — is
// reported lost when its connection dies, freeing it for another replica.
func TestLeases(t *testing.T) {
	ctx := context.Background()
	a, b := lockHandles(t)
	la, ok, err := a.TryLease(ctx, "cron")
	if err != nil || !ok {
		t.Fatalf("TryLease = %v, %v", ok, err)
	}
	if _, ok, err := b.TryLease(ctx, "cron"); err != nil || ok {
		t.Fatalf("second TryLease = %v, %v; want refused", ok, err)
	}
	if _, ok, err := b.TryLease(ctx, "poll"); err != nil || !ok {
		t.Fatalf("another lease = %v, %v", ok, err)
	}
	la.Release()
	select {
	case <-la.Lost():
	default:
		t.Error("Lost not closed after Release")
	}
	lb, ok, err := b.TryLease(ctx, "cron")
	if err != nil || !ok {
		t.Fatalf("TryLease after release = %v, %v", ok, err)
	}
	if backend != "postgres" {
		lb.Release()
		return
	}
	// The holder's connection dies (a network cut, a killed replica's session).
	if _, err := a.w.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()
		AND (classid::bigint << 32 | objid::bigint) = $1`, namedKey("lease:cron")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lb.Lost():
	case <-time.After(3 * leaseCheck):
		t.Fatal("a lease whose connection died was not reported lost")
	}
	if _, ok, err := a.TryLease(ctx, "cron"); err != nil || !ok {
		t.Errorf("TryLease after the holder's connection died = %v, %v", ok, err)
	}
}

func TestDeliveryLock(t *testing.T) {
	ctx := context.Background()
	a, b := lockHandles(t)
	release, ok, err := a.TryDeliveryLock(ctx, 3)
	if err != nil || !ok {
		t.Fatalf("TryDeliveryLock = %v, %v", ok, err)
	}
	if _, ok, _ := b.TryDeliveryLock(ctx, 3); ok {
		t.Error("two replicas hold one delivery")
	}
	release()
	r2, ok, err := b.TryDeliveryLock(ctx, 3)
	if err != nil || !ok {
		t.Fatalf("after release = %v, %v", ok, err)
	}
	r2()
}

// A burst of webhooks, each holding its delivery's lock while it locks its run, more of them
// than a pool has connections, does not wedge: the locks held longest come from a pool of
// their own.
func TestLockBurstDoesNotStarve(t *testing.T) {
	if backend != "postgres" {
		t.Skip("SQLite's locks are in-process")
	}
	db, _ := newDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var done atomic.Int32
	for i := range 40 {
		wg.Go(func() {
			release, ok, err := db.TryDeliveryLock(ctx, int64(i))
			if err != nil || !ok {
				t.Errorf("TryDeliveryLock(%d) = %v, %v", i, ok, err)
				return
			}
			defer release()
			if err := db.WithRunLock(ctx, int64(i%3), func(context.Context) error {
				return db.WithLock(ctx, "deployments", func(context.Context) error {
					time.Sleep(time.Millisecond)
					return nil
				})
			}); err != nil {
				t.Errorf("WithRunLock: %v", err)
				return
			}
			done.Add(1)
		})
	}
	wg.Wait()
	if done.Load() != 40 {
		t.Errorf("%d of 40 holders finished", done.Load())
	}
}

// Releasing a run's lock tells its waiters on every replica at once, so one waiting on the
// other replica tries again then rather than at its next poll.
func TestLockReleaseWakesWaitersOnEveryReplica(t *testing.T) {
	if backend == "sqlite" {
		t.Skip("one process: SQLite's locks are in-process")
	}
	ctx := context.Background()
	a, b := twoHandles(t)
	topic := lockTopic(lockKey(lockRun, 7))
	here, stopHere := a.Watch(topic)
	defer stopHere()
	there, stopThere := b.Watch(topic)
	defer stopThere()
	if err := a.WithRunLock(ctx, 7, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("WithRunLock: %v", err)
	}
	waitClosed(t, here, "a waiter on the releasing replica")
	waitClosed(t, there, "a waiter on the other replica")
}
