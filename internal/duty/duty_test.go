package duty

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/testenv"
)

func open(t *testing.T, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// waitUntil polls cond every 20 ms for up to d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two replicas supervise the same duty: it runs on one at a time, and moves to the other when
// the first one's process goes away.
func TestOnceAcrossReplicas(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	a, b := open(t, dsn), open(t, dsn)
	var active, maxActive atomic.Int32
	var mu sync.Mutex
	ranOn := map[string]int{}
	body := func(name string) func(ctx context.Context) {
		return func(ctx context.Context) {
			n := active.Add(1)
			defer active.Add(-1)
			for {
				m := maxActive.Load()
				if n <= m || maxActive.CompareAndSwap(m, n) {
					break
				}
			}
			mu.Lock()
			ranOn[name]++
			mu.Unlock()
			<-ctx.Done()
		}
	}
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	var wg sync.WaitGroup
	o := Options{Retry: 50 * time.Millisecond}
	wg.Go(func() { Run(ctxA, a, o, Duty{Name: "cron", Run: body("a")}) })
	waitUntil(t, 10*time.Second, "the duty to start", func() bool { return active.Load() == 1 })
	wg.Go(func() { Run(ctxB, b, o, Duty{Name: "cron", Run: body("b")}) })
	time.Sleep(300 * time.Millisecond) // several retries by b
	mu.Lock()
	if ranOn["b"] != 0 {
		t.Errorf("the duty ran on both replicas: %v", ranOn)
	}
	mu.Unlock()
	stopA() // replica a stops
	a.Close()
	waitUntil(t, 10*time.Second, "the duty to move to replica b", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return ranOn["b"] == 1
	})
	stopB()
	wg.Wait()
	if maxActive.Load() != 1 {
		t.Errorf("%d copies of the duty ran at once", maxActive.Load())
	}
}

func TestRestartAfterPanicAndStopWithContext(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "db.sqlite"))
	var runs atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, db, Options{Retry: 10 * time.Millisecond}, Duty{Name: "flaky", Run: func(ctx context.Context) {
			if runs.Add(1) == 1 {
				panic("boom")
			}
			<-ctx.Done()
		}})
	}()
	waitUntil(t, 10*time.Second, "the duty to run again after its panic", func() bool { return runs.Load() == 2 })
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
