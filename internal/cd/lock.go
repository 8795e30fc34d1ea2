package cd

import (
	"context"
	"fmt"
	"sync"
)

// Lock serialises promotions per environment within one process: one holder per environment,
// and waiters get it in the order they asked. The zero value is ready to use. (The server holds
// the same lock in its database; this is for embedded use and for tests of the rule.)
type Lock struct {
	mu     sync.Mutex
	queues map[string][]chan struct{} // per environment: the holder first, then waiters in order
}

// Acquire blocks until env is free and this caller is first in line, or ctx ends. The returned
// function releases the lock; call it exactly once.
func (l *Lock) Acquire(ctx context.Context, env string) (release func(), err error) {
	turn := make(chan struct{})
	l.mu.Lock()
	if l.queues == nil {
		l.queues = map[string][]chan struct{}{}
	}
	l.queues[env] = append(l.queues[env], turn)
	if len(l.queues[env]) == 1 {
		close(turn)
	}
	l.mu.Unlock()

	release = sync.OnceFunc(func() { l.leave(env, turn) })
	select {
	case <-turn:
		return release, nil
	case <-ctx.Done():
		// Leaving hands the turn on if it arrived meanwhile, so nobody waits behind a ghost.
		release()
		return nil, fmt.Errorf("waiting for the %s deployment lock: %w", env, ctx.Err())
	}
}

// leave removes turn from env's queue and, if it was the holder, wakes the next in line.
func (l *Lock) leave(env string, turn chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.queues[env]
	for i, c := range q {
		if c != turn {
			continue
		}
		q = append(q[:i:i], q[i+1:]...)
		if i == 0 && len(q) > 0 {
			close(q[0])
		}
		break
	}
	if len(q) == 0 {
		delete(l.queues, env)
	} else {
		l.queues[env] = q
	}
}

// StateQueued reports how many callers hold or wait for env's lock.
func (l *Lock) Queued(env string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queues[env])
}
