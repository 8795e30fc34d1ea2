package agent

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/artifacts"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

// harness is a real server (store on temp SQLite, real handler on 127.0.0.1) that tests can
// kill and start again on the same address.
type harness struct {
	t     *testing.T
	db    *store.DB
	keys  *secrets.Keyring
	sched *fakeScheduler
	arts  *artifacts.Store
	admin string
	repo  *store.Repo
	addr  string
	ts    *httptest.Server
	logs  *logSink
	// wrap, when set before start, stands between agents and the server.
	wrap func(http.Handler) http.Handler
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	keys, err := secrets.NewKeyring(make([]byte, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	arts, err := artifacts.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tok, hash, err := secrets.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateToken(ctx, store.Token{Name: "agents", Hash: hash, Scope: store.ScopeRegister}); err != nil {
		t.Fatal(err)
	}
	repo, err := db.CreateRepo(ctx, store.Repo{Name: "demo", URL: "file:///srv/demo"})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, db: db, keys: keys, sched: &fakeScheduler{}, arts: arts, admin: tok, repo: repo, logs: &logSink{}}
	h.start()
	t.Cleanup(h.kill)
	return h
}

func (h *harness) url() string { return "http://" + h.addr }

// start serves a fresh server.Server on the harness address (a new one the first time).
func (h *harness) start() {
	h.t.Helper()
	srv, err := server.New(server.Config{DB: h.db, Keys: h.keys, Scheduler: h.sched, Artifacts: h.arts,
		DataDir: h.t.TempDir(), BaseURL: "http://example.invalid", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		h.t.Fatalf("server.New: %v", err)
	}
	addr := h.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	// The old listener's port is free once it is closed; retry briefly in case the kernel lags.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err = net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		h.t.Fatalf("listening on %s: %v", addr, err)
	}
	h.addr = ln.Addr().String()
	handler := srv.Handler()
	if h.wrap != nil {
		handler = h.wrap(handler)
	}
	h.ts = &httptest.Server{Listener: ln, Config: &http.Server{Handler: handler}}
	h.ts.Start()
}

// kill drops every connection and stops serving, as a crashed server would.
func (h *harness) kill() {
	if h.ts == nil {
		return
	}
	h.ts.CloseClientConnections()
	h.ts.Close()
	h.ts = nil
}

// register registers an agent and runs it until the test ends.
func (h *harness) runAgent(name string, labels []string, parallel int, run JobRunner) int64 {
	h.t.Helper()
	id, tok, err := Register(context.Background(), h.url(), h.admin, name, labels, parallel)
	if err != nil {
		h.t.Fatalf("Register: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Server: h.url(), Token: tok, Name: name, Labels: labels, Parallel: parallel, Run: run,
			Log: slog.New(h.logs), HeartbeatEvery: 50 * time.Millisecond})
	}()
	h.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("agent %s: Run: %v", name, err)
		}
	})
	return id
}

// queueJob creates a run with one queued job.
func (h *harness) queueJob(key string, labels []string, spec string) store.Job {
	h.t.Helper()
	_, jobs, err := h.db.CreateRun(context.Background(), store.Run{RepoID: h.repo.ID, Workflow: ".github/workflows/ci.yml",
		Trigger: store.TriggerManual, Event: "push", Ref: "refs/heads/main"},
		[]store.Job{{Key: key, Name: key, Labels: labels, Status: store.StatusQueued, Spec: []byte(spec)}})
	if err != nil {
		h.t.Fatalf("CreateRun: %v", err)
	}
	return jobs[0]
}

// waitJob polls job id until done says so, and returns it.
func (h *harness) waitJob(id int64, what string, done func(*store.Job) bool) *store.Job {
	h.t.Helper()
	var j *store.Job
	waitFor(h.t, what, func() bool {
		var err error
		j, err = h.db.GetJob(context.Background(), id)
		if err != nil {
			h.t.Fatalf("GetJob: %v", err)
		}
		return done(j)
	})
	return j
}

func completed(j *store.Job) bool { return j.Status == store.StatusCompleted }

// waitJobFor is waitJob with its own timeout.
func (h *harness) waitJobFor(id int64, what string, timeout time.Duration, done func(*store.Job) bool) *store.Job {
	h.t.Helper()
	var j *store.Job
	waitForWithin(h.t, what, timeout, func() bool {
		var err error
		j, err = h.db.GetJob(context.Background(), id)
		if err != nil {
			h.t.Fatalf("GetJob: %v", err)
		}
		return done(j)
	})
	return j
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitForWithin(t, what, 20*time.Second, cond)
}

func waitForWithin(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recv waits for a value on ch.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

type fakeScheduler struct {
	mu       sync.Mutex
	finished []int64
}

func (f *fakeScheduler) Trigger(context.Context, *store.Repo, server.Trigger) ([]store.Run, error) {
	return nil, nil
}

func (f *fakeScheduler) JobFinished(_ context.Context, jobID int64) error {
	f.mu.Lock()
	f.finished = append(f.finished, jobID)
	f.mu.Unlock()
	return nil
}

func (f *fakeScheduler) Cancel(context.Context, int64) error { return nil }

func (f *fakeScheduler) Rerun(context.Context, int64, bool) (*store.Run, error) { return nil, nil }

func (f *fakeScheduler) wasFinished(id int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.finished, id)
}

// logSink records the agent's log messages so tests can wait for what it went through.
type logSink struct {
	mu   sync.Mutex
	msgs []string
}

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }

func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	s.mu.Lock()
	s.msgs = append(s.msgs, r.Message)
	s.mu.Unlock()
	return nil
}

func (s *logSink) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *logSink) WithGroup(string) slog.Handler      { return s }

func (s *logSink) has(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}
