package scheduler

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSyncMirrorWaitsForAFetchUnderWay: an agent's fetch must not be served from a mirror that
// another fetch is still writing. git writes a small fetch's objects loose and one by one, a
// commit before its tree, so "the commit is there" proves nothing while a fetch runs; serving it
// then failed checkouts with "possible repository corruption on the remote side".
func TestSyncMirrorWaitsForAFetchUnderWay(t *testing.T) {
	g := newGitRepo(t)
	sha := g.commit("main", "first", map[string]string{"a.txt": "a\n"})
	s := &Scheduler{mirror: mirror{dir: filepath.Join(t.TempDir(), "repos"), locks: &sync.Map{}}}
	if _, err := s.mirror.fetch(context.Background(), 1, g.bare); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.mirror.path(1)); err != nil {
		t.Fatal(err)
	}
	unlock := s.mirror.lock(1) // a fetch under way: the commit is there, the rest may not be
	var released atomic.Bool
	done := make(chan error, 1)
	go func() {
		err := s.SyncMirror(context.Background(), 1, []string{sha})
		if !released.Load() {
			t.Error("SyncMirror answered while a fetch into the mirror was under way")
		}
		done <- err
	}()
	time.Sleep(300 * time.Millisecond) // time for a SyncMirror that does not wait to answer
	released.Store(true)
	unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
