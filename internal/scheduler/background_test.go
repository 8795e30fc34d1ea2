package scheduler

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Requests to advance one run that arrive while a pass runs share the next pass, and each
// returns only after a pass that began after it asked.
func TestPassesCoalesce(t *testing.T) {
	var p passes
	var started atomic.Int64 // passes begun
	var mu sync.Mutex
	gate := make(chan struct{})
	pass := func(context.Context) error {
		if started.Add(1) == 1 {
			<-gate // the first pass is slow: everyone else queues behind it
		}
		return nil
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.do(context.Background(), 1, pass) })
	for started.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	const n = 50
	for range n {
		wg.Go(func() {
			asked := started.Load()
			if err := p.do(context.Background(), 1, pass); err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if started.Load() <= asked {
				t.Error("returned without a pass that began after the request")
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(gate)
	wg.Wait()
	if got := started.Load(); got > 3 {
		t.Errorf("%d passes for %d requests that queued behind one: want them to share", got, n+1)
	}
	// Other runs do not wait for this one's passes.
	if err := p.do(context.Background(), 2, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if len(p.runs) != 0 {
		t.Errorf("%d runs still tracked after every request returned", len(p.runs))
	}
}
