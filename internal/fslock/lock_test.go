//go:build unix

package fslock

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestTryLockAndLockContext(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	unlock, ok, err := TryLock(p)
	if err != nil || !ok {
		t.Fatalf("first TryLock = %v, %v; want the lock", ok, err)
	}
	if _, ok, err := TryLock(p); err != nil || ok {
		t.Fatalf("second TryLock = %v, %v; want busy", ok, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := LockContext(ctx, p, 10*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockContext while held = %v; want the context's error", err)
	}
	unlock()
	again, err := LockContext(context.Background(), p, 10*time.Millisecond)
	if err != nil {
		t.Fatalf("LockContext after unlock: %v", err)
	}
	again()
}
