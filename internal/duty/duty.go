// Package duty runs the server's background work — cron, polling, the job-lease reaper,
// promotion re-checks, log archiving, replaying webhooks — once across all replicas: each duty
// runs on the replica holding its lease in the database, is restarted when it returns or
// panics, moves to another replica when its holder dies or loses the database, and stops with
// the process.
package duty

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sluice-ci/sluice/internal/store"
)

// Duty is background work. Run loops until ctx ends; it is started again if it returns early.
type Duty struct {
	Name string
	Run  func(ctx context.Context)
}

// Leaser grants leases; *store.DB is one.
type Leaser interface {
	TryLease(ctx context.Context, name string) (*store.Lease, bool, error)
}

// Options tune Run; zero values take the defaults.
type Options struct {
	// Retry is how often a replica without a duty's lease asks for it again (default 2s): how
	// long a duty may pause when its holder dies.
	Retry time.Duration
	Log   *slog.Logger
}

// Run supervises duties until ctx ends, then waits for them to return.
func Run(ctx context.Context, l Leaser, o Options, duties ...Duty) {
	if o.Retry <= 0 {
		o.Retry = 2 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	var wg sync.WaitGroup
	for _, d := range duties {
		wg.Go(func() { supervise(ctx, l, o, d) })
	}
	wg.Wait()
}

func supervise(ctx context.Context, l Leaser, o Options, d Duty) {
	wait := func(t time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(t):
			return true
		}
	}
	for ctx.Err() == nil {
		lease, ok, err := l.TryLease(ctx, d.Name)
		if err != nil && ctx.Err() == nil {
			o.Log.Warn("asking for a duty's lease", "duty", d.Name, "err", err)
		}
		if !ok {
			if !wait(o.Retry) {
				return
			}
			continue
		}
		o.Log.Info("took a duty", "duty", d.Name)
		held(ctx, lease, o, d)
		lease.Release()
		if ctx.Err() == nil && !wait(time.Second) { // a duty that keeps failing must not spin
			return
		}
	}
}

// held runs d while lease holds, recovering a panic.
func held(ctx context.Context, lease *store.Lease, o Options, d Duty) {
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lease.Lost():
			o.Log.Warn("lost a duty's lease; stopping it here", "duty", d.Name)
			cancel()
		case <-dctx.Done():
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			o.Log.Error("duty panicked; restarting it", "duty", d.Name, "panic", fmt.Sprint(r))
		}
	}()
	d.Run(dctx)
	if ctx.Err() == nil && dctx.Err() == nil {
		o.Log.Warn("duty returned; restarting it", "duty", d.Name)
	}
}

// Every is a Duty body that calls fn every interval until ctx ends.
func Every(interval time.Duration, fn func(ctx context.Context)) func(ctx context.Context) {
	return func(ctx context.Context) {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fn(ctx)
			}
		}
	}
}
