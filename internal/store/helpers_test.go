package store

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/testenv"
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

// backend is the database the suite runs against: TestMain runs every test on SQLite, then
// again on Postgres.
var backend = "sqlite"

func TestMain(m *testing.M) {
	code := m.Run()
	if code != 0 {
		os.Exit(code)
	}
	if testenv.PostgresAdminDSN() == "" {
		if testenv.RequirePostgres() {
			fmt.Println("store: no PostgreSQL test server (run scripts/postgres-setup.sh)")
			os.Exit(1)
		}
		fmt.Println("store: no PostgreSQL test server: the suite ran on SQLite only")
		os.Exit(0)
	}
	fmt.Println("store: the same suite on PostgreSQL")
	backend = "postgres"
	os.Exit(m.Run())
}

// testDSN names a new, empty database of the backend under test.
func testDSN(t *testing.T) string {
	t.Helper()
	if backend == "postgres" {
		return testenv.PostgresDB(t)
	}
	return "sqlite://" + filepath.Join(t.TempDir(), "db.sqlite")
}

func openAt(t *testing.T, dsn string, opts ...Option) *DB {
	t.Helper()
	db, err := Open(context.Background(), dsn, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newDB(t *testing.T, opts ...Option) (*DB, *fakeClock) {
	t.Helper()
	c := newClock()
	return openAt(t, testDSN(t), append([]Option{WithClock(c.Now)}, opts...)...), c
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

// latestVersion is the highest migration number of db's dialect.
func latestVersion(t *testing.T, db *DB) int64 {
	t.Helper()
	_, fsys, _ := db.d.migrations()
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("listing migrations: %v", err)
	}
	var max int64
	for _, n := range names {
		v, err := strconv.ParseInt(strings.SplitN(n, "_", 2)[0], 10, 64)
		if err != nil {
			t.Fatalf("migration %s: %v", n, err)
		}
		max = maxInt(max, v)
	}
	return max
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
