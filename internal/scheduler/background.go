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
// It reports false, running nothing, once Run's context has ended.
func (b *background) Go(ctx context.Context, fn func(ctx context.Context)) bool {
	b.mu.Lock()
	base := b.ctx
	if base == nil {
		base = context.WithoutCancel(ctx)
	}
	if base.Err() != nil {
		b.mu.Unlock()
		return false
	}
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		fn(base)
	}()
	return true
}

// passes coalesces requests to advance one run: while a pass runs, the requests that arrive
// wait for the one pass that starts after it, which serves them all (each pass reads the run
// afresh, so it sees every change any of them came for). Two hundred legs of a matrix ending
// together make a few passes, not two hundred, and each caller still returns only once a pass
// that began after its request has ended.
type passes struct {
	mu   sync.Mutex
	runs map[int64]*runPasses
}

type runPasses struct {
	cond      *sync.Cond
	requested uint64 // requests so far
	served    uint64 // requests the last finished pass covered
	running   bool
	err       error // of the last finished pass
	users     int
}

func (p *passes) do(ctx context.Context, runID int64, pass func(ctx context.Context) error) error {
	p.mu.Lock()
	if p.runs == nil {
		p.runs = map[int64]*runPasses{}
	}
	r := p.runs[runID]
	if r == nil {
		r = &runPasses{cond: sync.NewCond(&p.mu)}
		p.runs[runID] = r
	}
	r.users++
	r.requested++
	mine := r.requested
	defer func() {
		if r.users--; r.users == 0 {
			delete(p.runs, runID)
		}
		p.mu.Unlock()
	}()
	for r.served < mine {
		if r.running {
			r.cond.Wait()
			continue
		}
		r.running = true
		upTo := r.requested
		p.mu.Unlock()
		err := pass(ctx)
		p.mu.Lock()
		r.running = false
		r.cond.Broadcast()
		if err != nil && ctx.Err() != nil {
			// This caller's context ended its pass, which served nobody: a waiter runs its own.
			return err
		}
		r.served, r.err = upTo, err
	}
	return r.err
}
