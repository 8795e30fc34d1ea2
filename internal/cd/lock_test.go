package cd

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// waitQueued polls until n callers hold or wait for env's lock; it bounds nothing on timing.
func waitQueued(t *testing.T, l *Lock, env string, n int) {
	t.Helper()
	for l.Queued(env) != n {
		time.Sleep(time.Millisecond)
	}
}

func TestLockOrderAndExclusion(t *testing.T) {
	var l Lock
	ctx := context.Background()
	release, err := l.Acquire(ctx, "production")
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var (
		mu      sync.Mutex
		order   []int
		inside  int
		overlap bool
		wg      sync.WaitGroup
	)
	// Waiters enqueue one at a time so their order is known; then they run as the lock passes.
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rel, err := l.Acquire(ctx, "production")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside++
			overlap = overlap || inside > 1
			order = append(order, i)
			mu.Unlock()
			time.Sleep(time.Millisecond) // widen the window an interleaving would need
			mu.Lock()
			inside--
			mu.Unlock()
			rel()
		}()
		waitQueued(t, &l, "production", i+2)
	}
	// Another environment is not blocked by production's queue.
	other, err := l.Acquire(ctx, "staging")
	if err != nil {
		t.Fatal(err)
	}
	other()
	release()
	wg.Wait()
	if overlap {
		t.Error("two promotions held the production lock at once")
	}
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("lock order mismatch (-want +got):\n%s", diff)
	}
	if q := l.Queued("production"); q != 0 {
		t.Errorf("Queued after all released = %d", q)
	}
}

func TestLockCancelledWaiterLeavesQueue(t *testing.T) {
	var l Lock
	hold, err := l.Acquire(context.Background(), "production")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := l.Acquire(ctx, "production")
		errc <- err
	}()
	waitQueued(t, &l, "production", 2)
	got := make(chan struct{})
	go func() {
		rel, err := l.Acquire(context.Background(), "production")
		if err != nil {
			t.Error(err)
		}
		close(got)
		rel()
	}()
	waitQueued(t, &l, "production", 3)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Acquire = %v, want context.Canceled", err)
	}
	hold()
	<-got  // the third caller gets the lock although the second gave up
	hold() // releasing twice is harmless
}
