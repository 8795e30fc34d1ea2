package store

import (
	"context"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock so lease tests never sleep or read the wall clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openAt(t *testing.T, path string, opts ...Option) *DB {
	t.Helper()
	db, err := Open(context.Background(), "sqlite://"+path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newDB(t *testing.T, opts ...Option) (*DB, *fakeClock) {
	t.Helper()
	c := newClock()
	return openAt(t, filepath.Join(t.TempDir(), "db.sqlite"), append([]Option{WithClock(c.Now)}, opts...)...), c
}

func mustRepo(t *testing.T, db *DB, name string) *Repo {
	t.Helper()
	r, err := db.CreateRepo(context.Background(), Repo{Name: name, URL: "file:///srv/" + name})
	if err != nil {
		t.Fatalf("CreateRepo: %v", err)
	}
	return r
}

func mustAgent(t *testing.T, db *DB, name string, parallel int, labels ...string) *Agent {
	t.Helper()
	a, err := db.RegisterAgent(context.Background(), Agent{Name: name, Labels: labels, Parallel: parallel,
		TokenHash: []byte("hash-" + name)})
	if err != nil {
		t.Fatalf("RegisterAgent: %v", err)
	}
	return a
}

func mustRun(t *testing.T, db *DB, repoID int64, jobs ...Job) (*Run, []Job) {
	t.Helper()
	r, js, err := db.CreateRun(context.Background(), Run{RepoID: repoID, Workflow: ".github/workflows/ci.yml",
		Trigger: TriggerWebhook, Event: "push", Ref: "refs/heads/main"}, jobs)
	if err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	return r, js
}

func eventKinds(t *testing.T, db *DB, f EventFilter) []string {
	t.Helper()
	evs, err := db.ListEvents(context.Background(), f)
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

// latestMigration is the highest migration number shipped: several branches add migrations,
// so tests compare with it rather than with a constant.
func latestMigration(t *testing.T) int64 {
	t.Helper()
	names, err := fs.Glob(sqliteMigrations, "migrations/sqlite/*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("no migrations: %v", err)
	}
	var max int64
	for _, n := range names {
		v, err := strconv.ParseInt(strings.SplitN(path.Base(n), "_", 2)[0], 10, 64)
		if err == nil && v > max {
			max = v
		}
	}
	return max
}
