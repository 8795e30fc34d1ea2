package fslock

import (
	"context"
	"time"
)

// LockContext waits for the lock on path until ctx ends, checking every
// poll: unlike Lock, a caller that must give up (a cancelled deployment)
// is never stuck in the wait.
func LockContext(ctx context.Context, path string, poll time.Duration) (unlock func(), err error) {
	for {
		unlock, ok, err := TryLock(path)
		if err != nil || ok {
			return unlock, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}
