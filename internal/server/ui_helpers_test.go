package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-ci/sluice/internal/artifacts"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/store"
)

// uiFakeScheduler records triggers, cancels and re-runs; cancelling leaves
// the store alone so that a test decides when the run is seen as cancelled.
type uiFakeScheduler struct {
	mu          sync.Mutex
	triggers    []Trigger
	triggerRuns []store.Run // what Trigger returns
	triggerErr  error
	cancels     []int64
	reruns      []string // "ID" or "ID failed"
	rerunTo     *store.Run
}

func (f *uiFakeScheduler) Trigger(_ context.Context, _ *store.Repo, t Trigger) ([]store.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.triggers = append(f.triggers, t)
	return f.triggerRuns, f.triggerErr
}

func (f *uiFakeScheduler) triggerCalls() []Trigger {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Trigger(nil), f.triggers...)
}
func (f *uiFakeScheduler) JobFinished(context.Context, int64) error { return nil }

func (f *uiFakeScheduler) Cancel(_ context.Context, runID int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancels = append(f.cancels, runID)
	return nil
}

func (f *uiFakeScheduler) Rerun(_ context.Context, runID int64, failedOnly bool) (*store.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rec := strconv.FormatInt(runID, 10)
	if failedOnly {
		rec += " failed"
	}
	f.reruns = append(f.reruns, rec)
	return f.rerunTo, nil
}

func (f *uiFakeScheduler) cancelled() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.cancels...)
}

func (f *uiFakeScheduler) rerunCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.reruns...)
}

// uiEnv is the whole server (all routes) on a temp SQLite store behind httptest.
type uiEnv struct {
	t       *testing.T
	db      *store.DB
	keys    *secrets.Keyring
	sched   *uiFakeScheduler
	arts    *artifacts.Store
	dataDir string
	http    *httptest.Server
}

func uiNewEnv(t *testing.T) *uiEnv {
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
	arts, err := artifacts.Open(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatalf("artifacts.Open: %v", err)
	}
	e := &uiEnv{t: t, db: db, keys: keys, sched: &uiFakeScheduler{}, arts: arts, dataDir: dir}
	srv, err := New(Config{DB: db, Keys: keys, Scheduler: e.sched, Artifacts: arts, DataDir: dir,
		BaseURL: "http://ci.example", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.http = httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		// Streams (SSE) a browser left open must not hold Close up.
		e.http.CloseClientConnections()
		e.http.Close()
	})
	return e
}

// apiToken stores a new API token of scope and returns it.
func (e *uiEnv) apiToken(name, scope string) string {
	e.t.Helper()
	tok, hash, err := secrets.NewToken()
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.db.CreateToken(context.Background(), store.Token{Name: name, Hash: hash, Scope: scope}); err != nil {
		e.t.Fatalf("CreateToken: %v", err)
	}
	return tok
}

// uiClient does not follow redirects, so tests see them.
func uiClient() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signIn signs in with a fresh API token of scope through the form and
// returns the session cookie.
func (e *uiEnv) signIn(scope string) *http.Cookie {
	e.t.Helper()
	res := e.post("/signin", nil, url.Values{"token": {e.apiToken("t-"+scope, scope)}, "next": {"/"}})
	for _, c := range res.Cookies() {
		if c.Name == SessionCookie {
			return c
		}
	}
	e.t.Fatalf("sign-in answered %d without a session cookie", res.StatusCode)
	return nil
}

func (e *uiEnv) get(path string, c *http.Cookie) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.http.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if c != nil {
		req.AddCookie(c)
	}
	res, err := uiClient().Do(req)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("reading GET %s: %v", path, err)
	}
	return res, string(b)
}

func (e *uiEnv) post(path string, c *http.Cookie, form url.Values) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.http.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c != nil {
		req.AddCookie(c)
	}
	res, err := uiClient().Do(req)
	if err != nil {
		e.t.Fatalf("POST %s: %v", path, err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// uiCSRF is the CSRF token of the session behind cookie c.
func uiCSRF(c *http.Cookie) string { return uiCSRFToken(c.Value) }

type uiSeed struct {
	repo *store.Repo
	run  *store.Run
	jobs map[string]store.Job // by key
}

// seedRun stores a repo (once per name) and a run of it with jobs given as
// key → needs; job statuses are set afterwards with setJob.
func (e *uiEnv) seedRun(repoName string, jobs []store.Job) *uiSeed {
	e.t.Helper()
	ctx := context.Background()
	repo, err := e.db.GetRepoByName(ctx, repoName)
	if err != nil {
		if repo, err = e.db.CreateRepo(ctx, store.Repo{Name: repoName, URL: "https://git.example/" + repoName + ".git"}); err != nil {
			e.t.Fatalf("CreateRepo: %v", err)
		}
	}
	run, out, err := e.db.CreateRun(ctx, store.Run{RepoID: repo.ID, Workflow: ".github/workflows/ci.yml", WorkflowName: "CI",
		Event: "push", Ref: "refs/heads/main", SHA: "0123456789abcdef0123456789abcdef01234567", Title: "Add the frobnicator",
		Trigger: store.TriggerWebhook, Actor: "alice"}, jobs)
	if err != nil {
		e.t.Fatalf("CreateRun: %v", err)
	}
	s := &uiSeed{repo: repo, run: run, jobs: map[string]store.Job{}}
	for _, j := range out {
		s.jobs[j.Key] = j
	}
	return s
}

func (e *uiEnv) setJob(id int64, status, conclusion string) {
	e.t.Helper()
	u := store.JobUpdate{Status: &status}
	if conclusion != "" {
		u.Conclusion = &conclusion
	}
	if _, err := e.db.UpdateJob(context.Background(), id, u); err != nil {
		e.t.Fatalf("UpdateJob: %v", err)
	}
}

func (e *uiEnv) appendLogs(jobID int64, from int64, texts ...string) {
	e.t.Helper()
	lines := make([]store.LogLine, len(texts))
	for i, t := range texts {
		lines[i] = store.LogLine{Seq: from + int64(i), Step: 1, Text: t}
	}
	if _, err := e.db.AppendLogs(context.Background(), jobID, lines); err != nil {
		e.t.Fatalf("AppendLogs: %v", err)
	}
}
