package scheduler

import (
	"context"
	"sync"
)

// Graph decisions and promotion decisions are made under locks of the database (store.WithRunLock,
// the "deployments" lock), not of this process, so any replica of the server may make them: two
// jobs of one run finishing on two replicas at once never both enqueue the same dependent.

// deploymentsLock serialises promotion decisions (gates, the per-environment lock, outcomes)
// across replicas. It may be taken while holding a run's lock, never the other way.
const deploymentsLock = "deployments"

func (s *Scheduler) lockDeployments(ctx context.Context) (func(), error) {
	return s.cfg.DB.Lock(ctx, deploymentsLock)
}

// Run keeps the scheduler's own goroutines (a run advanced after a deployment decision, a
// verification, a gate's timer) under ctx: they stop when it ends, and Run returns once they
// have. Call it once, for the life of the server.
func (s *Scheduler) Run(ctx context.Context) {
	s.bg.start(ctx)
	<-ctx.Done()
	s.bg.wg.Wait()
}

// background runs goroutines under the context Run was given.
type background struct {
	mu  sync.Mutex
	ctx context.Context // nil until Run
	wg  sync.WaitGroup
}

func (b *background) start(ctx context.Context) {
	b.mu.Lock()
	b.ctx = ctx
	b.mu.Unlock()
}

// Go runs fn in a goroutine under Run's context. Before Run (tests that drive a scheduler
// directly) fn gets the caller's context without its cancellation: the work outlives the
// request that asked for it.
func (b *background) Go(ctx context.Context, fn func(ctx context.Context)) {
	b.mu.Lock()
	base := b.ctx
	if base == nil {
		base = context.WithoutCancel(ctx)
	}
	if base.Err() != nil {
		b.mu.Unlock()
		return
	}
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		fn(base)
	}()
}
