package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/store"
)

// apiFakeScheduler records triggers and makes one run with one queued job for
// each, so that the API has real rows to show.
type apiFakeScheduler struct {
	db *store.DB

	mu       sync.Mutex
	triggers []Trigger
	cancels  []int64
	reruns   []int64
	// during runs inside Trigger, before it records anything.
	during func(Trigger) error
}

func (f *apiFakeScheduler) Trigger(ctx context.Context, repo *store.Repo, t Trigger) ([]store.Run, error) {
	if f.during != nil {
		if err := f.during(t); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	f.triggers = append(f.triggers, t)
	f.mu.Unlock()
	wf := t.Workflow
	if wf == "" {
		wf = ".github/workflows/ci.yml"
	}
	run, _, err := f.db.CreateRun(ctx, store.Run{RepoID: repo.ID, Workflow: wf, WorkflowName: "CI", Event: t.Event,
		Ref: t.Ref, SHA: t.SHA, Trigger: t.Source, Actor: t.Actor, Inputs: t.Inputs, DeliveryID: t.DeliveryID},
		[]store.Job{{Key: "test", Name: "test", Status: store.StatusQueued}})
	if err != nil {
		return nil, err
	}
	return []store.Run{*run}, nil
}

func (f *apiFakeScheduler) JobFinished(context.Context, int64) error { return nil }

func (f *apiFakeScheduler) Cancel(ctx context.Context, runID int64) error {
	f.mu.Lock()
	f.cancels = append(f.cancels, runID)
	f.mu.Unlock()
	_, err := f.db.CancelRun(ctx, runID, "cancelled through the API")
	return err
}

func (f *apiFakeScheduler) Rerun(ctx context.Context, runID int64, failedOnly bool) (*store.Run, error) {
	f.mu.Lock()
	f.reruns = append(f.reruns, runID)
	f.mu.Unlock()
	// As the scheduler does: the run's next attempt.
	run, _, err := f.db.RerunRun(ctx, runID, store.TriggerRerun, "", []store.Job{{Key: "test", Status: store.StatusQueued}})
	return run, err
}

func (f *apiFakeScheduler) recorded() []Trigger {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Trigger(nil), f.triggers...)
}

// apiEnv is a real server (real store on a temp SQLite file) behind httptest.
// Every response body is kept, so that a test can assert that a secret value
// never left the server.
type apiEnv struct {
	t       *testing.T
	db      *store.DB
	keys    *secrets.Keyring
	sched   *apiFakeScheduler
	srv     *Server
	http    *httptest.Server
	dataDir string
	admin   string // an admin token

	mu     sync.Mutex
	bodies bytes.Buffer
}

func newAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	keys, err := secrets.LoadKey(dir, func(string) string { return "" })
	if err != nil {
		t.Fatalf("LoadKey: %v", err)
	}
	e := &apiEnv{t: t, db: db, keys: keys, sched: &apiFakeScheduler{db: db}, dataDir: dir}
	e.srv, err = New(Config{DB: db, Keys: keys, Scheduler: e.sched, DataDir: dir, BaseURL: "http://ci.example",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h := e.srv.Handler()
	e.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&apiTeeWriter{ResponseWriter: w, env: e}, r)
	}))
	t.Cleanup(e.http.Close)
	e.admin = e.token("test-admin", store.ScopeAdmin)
	return e
}

// apiTeeWriter copies a response body into the env's record of all bodies.
type apiTeeWriter struct {
	http.ResponseWriter
	env *apiEnv
}

func (w *apiTeeWriter) Write(b []byte) (int, error) {
	w.env.mu.Lock()
	w.env.bodies.Write(b)
	w.env.mu.Unlock()
	return w.ResponseWriter.Write(b)
}

func (w *apiTeeWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// allBodies is every response body the server wrote so far.
func (e *apiEnv) allBodies() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.bodies.String()
}

func (e *apiEnv) token(name, scope string) string {
	e.t.Helper()
	return e.tokenFor(name, scope, "")
}

// tokenFor makes a token of identity (a person) named name.
func (e *apiEnv) tokenFor(name, scope, identity string) string {
	e.t.Helper()
	tok, hash, err := secrets.NewToken()
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.db.CreateToken(context.Background(), store.Token{Name: name, Hash: hash, Scope: scope, Identity: identity}); err != nil {
		e.t.Fatalf("CreateToken: %v", err)
	}
	return tok
}

// do sends a request with token (none when "") and a JSON body when body is
// not nil, and returns the status and body.
func (e *apiEnv) do(method, path, token string, body any, hdr ...string) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case []byte:
			rd = bytes.NewReader(b)
		case string:
			rd = strings.NewReader(b)
		default:
			js, err := json.Marshal(body)
			if err != nil {
				e.t.Fatal(err)
			}
			rd = bytes.NewReader(js)
		}
	}
	req, err := http.NewRequest(method, e.http.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("reading %s %s: %v", method, path, err)
	}
	return resp.StatusCode, out
}

// mustDo is do that fails the test unless the status is want, decoding the
// JSON answer into v when v is not nil.
func (e *apiEnv) mustDo(want int, method, path, token string, body, v any) {
	e.t.Helper()
	code, out := e.do(method, path, token, body)
	if code != want {
		e.t.Fatalf("%s %s = %d %s, want %d", method, path, code, out, want)
	}
	if v != nil {
		if err := json.Unmarshal(out, v); err != nil {
			e.t.Fatalf("decoding %s %s: %v (%s)", method, path, err, out)
		}
	}
}

// addRepo registers a repository through the API.
func (e *apiEnv) addRepo(in RepoInput) RepoView {
	e.t.Helper()
	var v RepoView
	e.mustDo(http.StatusCreated, "POST", "/api/v1/repos", e.admin, in, &v)
	return v
}

// mustRunWithJob makes a run of repo with one job in the given status.
func (e *apiEnv) mustRunWithJob(repoID int64, ref string) (*store.Run, store.Job) {
	e.t.Helper()
	run, jobs, err := e.db.CreateRun(context.Background(), store.Run{RepoID: repoID, Workflow: ".github/workflows/ci.yml",
		WorkflowName: "CI", Event: "push", Ref: ref, SHA: strings.Repeat("a", 40), Trigger: store.TriggerWebhook},
		[]store.Job{{Key: "test", Name: "test", Status: store.StatusQueued}})
	if err != nil {
		e.t.Fatalf("CreateRun: %v", err)
	}
	return run, jobs[0]
}

// claimAndFinish leases job to a fresh agent and completes it with conclusion.
func (e *apiEnv) claim(name string) (*store.Agent, *store.Job) {
	e.t.Helper()
	ctx := context.Background()
	a, err := e.db.RegisterAgent(ctx, store.Agent{Name: name, TokenHash: secrets.HashToken(name), Parallel: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	j, err := e.db.Claim(ctx, a.ID, nil, 60_000_000_000)
	if errors.Is(err, store.ErrNoJob) {
		e.t.Fatal("no job to claim")
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return a, j
}
