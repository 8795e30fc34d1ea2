package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

// fakeScheduler makes one run with one queued job per trigger.
type fakeScheduler struct {
	db       *store.DB
	mu       sync.Mutex
	triggers []server.Trigger
}

func (f *fakeScheduler) Trigger(ctx context.Context, repo *store.Repo, t server.Trigger) ([]store.Run, error) {
	f.mu.Lock()
	f.triggers = append(f.triggers, t)
	f.mu.Unlock()
	run, _, err := f.db.CreateRun(ctx, store.Run{RepoID: repo.ID, Workflow: t.Workflow, Event: t.Event, Ref: t.Ref,
		Trigger: t.Source, Inputs: t.Inputs}, []store.Job{{Key: "build", Name: "build", Status: store.StatusQueued}})
	if err != nil {
		return nil, err
	}
	return []store.Run{*run}, nil
}

func (f *fakeScheduler) JobFinished(context.Context, int64) error { return nil }

func (f *fakeScheduler) Cancel(ctx context.Context, id int64) error {
	_, err := f.db.CancelRun(ctx, id, "cancelled")
	return err
}

func (f *fakeScheduler) Rerun(ctx context.Context, id int64, failedOnly bool) (*store.Run, error) {
	old, err := f.db.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	run, _, err := f.db.CreateRun(ctx, store.Run{RepoID: old.RepoID, Workflow: old.Workflow, Trigger: store.TriggerRerun},
		[]store.Job{{Key: "build", Status: store.StatusQueued}})
	return run, err
}

type testEnv struct {
	db     *store.DB
	c      *Client
	url    string
	bodies *bytes.Buffer
	mu     *sync.Mutex
}

// newEnv serves a real server; wrap, when not nil, wraps its handler.
func newEnv(t *testing.T, wrap func(http.Handler) http.Handler) *testEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys, err := secrets.LoadKey(dir, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{DB: db, Keys: keys, Scheduler: &fakeScheduler{db: db}, DataDir: dir,
		BaseURL: "http://ci.example", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var boot bytes.Buffer
	if err := server.Bootstrap(ctx, db, dir, func(string) string { return "" }, &boot); err != nil {
		t.Fatal(err)
	}
	token := strings.Fields(boot.String())[len(strings.Fields(boot.String()))-1]
	h := srv.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return &testEnv{db: db, c: New(hs.URL+"/", token), url: hs.URL}
}

func TestClientRoundTrips(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	c := e.c
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	repo, err := c.AddRepo(ctx, server.RepoInput{Name: "demo", URL: "file:///srv/demo.git", DefaultBranch: "main", WebhookSecret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if !repo.HasWebhookSecret || repo.Name != "demo" {
		t.Errorf("AddRepo = %+v", repo)
	}
	repos, err := c.ListRepos(ctx)
	if err != nil || len(repos) != 1 {
		t.Fatalf("ListRepos = %+v, %v", repos, err)
	}
	if _, err := c.GetRepo(ctx, "nope"); !IsNotFound(err) {
		t.Errorf("GetRepo(nope) error = %v, want not found", err)
	}

	runs, err := c.Dispatch(ctx, "demo", "ci.yml", "", map[string]string{"x": "1"})
	if err != nil || len(runs) != 1 {
		t.Fatalf("Dispatch = %+v, %v", runs, err)
	}
	listed, err := c.ListRuns(ctx, RunsQuery{Repo: "demo", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{runs[0].ID}, runIDs(listed)); diff != "" {
		t.Errorf("ListRuns (-want +got):\n%s", diff)
	}
	detail, err := c.GetRun(ctx, runs[0].ID)
	if err != nil || detail.Run.Repo != "demo" || detail.Run.Workflow != ".github/workflows/ci.yml" || len(detail.Jobs) != 1 {
		t.Fatalf("GetRun = %+v, %v", detail, err)
	}
	cancelled, err := c.Cancel(ctx, runs[0].ID)
	if err != nil || cancelled.Conclusion != store.ConclusionCancelled {
		t.Fatalf("Cancel = %+v, %v", cancelled, err)
	}
	again, err := c.Rerun(ctx, runs[0].ID, true)
	if err != nil || again.ID == runs[0].ID {
		t.Fatalf("Rerun = %+v, %v", again, err)
	}
	evs, err := c.RunEvents(ctx, runs[0].ID, 0)
	if err != nil || len(evs) == 0 {
		t.Fatalf("RunEvents = %d, %v", len(evs), err)
	}

	if _, err := c.SetSecret(ctx, "demo", "api_key", "value-123"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetSecret(ctx, "", "GLOBAL", "value-456"); err != nil {
		t.Fatal(err)
	}
	secs, err := c.ListSecrets(ctx, "demo")
	if err != nil || len(secs) != 1 || secs[0].Name != "API_KEY" {
		t.Fatalf("ListSecrets = %+v, %v", secs, err)
	}
	if err := c.DeleteSecret(ctx, "", "GLOBAL"); err != nil {
		t.Fatal(err)
	}

	tk, err := c.CreateToken(ctx, "reader", store.ScopeRead, "")
	if err != nil || !secrets.ValidTokenFormat(tk.Token) {
		t.Fatalf("CreateToken = %+v, %v", tk, err)
	}
	reader := New(e.url, tk.Token)
	if _, err := reader.ListRuns(ctx, RunsQuery{}); err != nil {
		t.Errorf("the new read token cannot list runs: %v", err)
	}
	var apiErr *Error
	if _, err := reader.AddRepo(ctx, server.RepoInput{Name: "x", URL: "file:///x"}); !errors.As(err, &apiErr) || apiErr.Status != http.StatusForbidden || apiErr.Message == "" {
		t.Errorf("read token AddRepo error = %v, want 403 with a message", err)
	}
	toks, err := c.ListTokens(ctx)
	if err != nil || len(toks) != 2 {
		t.Fatalf("ListTokens = %+v, %v", toks, err)
	}
	if err := c.DeleteToken(ctx, tk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := reader.ListRuns(ctx, RunsQuery{}); !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Errorf("revoked token error = %v, want 401", err)
	}

	if _, err := e.db.RegisterAgent(ctx, store.Agent{Name: "a1", TokenHash: []byte("h"), Parallel: 2, Labels: []string{"default"}}); err != nil {
		t.Fatal(err)
	}
	agents, err := c.ListAgents(ctx)
	if err != nil || len(agents) != 1 || agents[0].Name != "a1" || !agents[0].Online {
		t.Fatalf("ListAgents = %+v, %v", agents, err)
	}
	q, err := c.Queue(ctx)
	if err != nil || len(q.Pending) != 1 {
		t.Fatalf("Queue = %+v, %v", q, err)
	}
	if err := c.DeleteRepo(ctx, "demo"); err != nil {
		t.Fatal(err)
	}
}

func runIDs(runs []server.RunView) []int64 {
	var out []int64
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

// abortFirstStream breaks the first log stream after its first event, as a
// dropped connection would.
func abortFirstStream(streams *atomic.Int32) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler { return abortFirst(h, streams) }
}

func abortFirst(h http.Handler, streams *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/logs/stream") && streams.Add(1) == 1 {
			h.ServeHTTP(&abortingWriter{ResponseWriter: w}, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

type abortingWriter struct {
	http.ResponseWriter
	events int
}

func (w *abortingWriter) Write(b []byte) (int, error) {
	if w.events >= 1 {
		panic(http.ErrAbortHandler)
	}
	w.events += strings.Count(string(b), "\n\n")
	return w.ResponseWriter.Write(b)
}

func (w *abortingWriter) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

func TestFollowLogsResumesAfterABrokenStream(t *testing.T) {
	var streams atomic.Int32
	e := newEnv(t, abortFirstStream(&streams))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := e.c.AddRepo(ctx, server.RepoInput{Name: "demo", URL: "file:///srv/demo.git", DefaultBranch: "main"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Dispatch(ctx, "demo", "ci.yml", "", nil); err != nil {
		t.Fatal(err)
	}
	agent, err := e.db.RegisterAgent(ctx, store.Agent{Name: "a", TokenHash: []byte("h"), Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	job, err := e.db.Claim(ctx, agent.ID, nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	appendLines := func(from, to int64) {
		var ls []store.LogLine
		for s := from; s <= to; s++ {
			ls = append(ls, store.LogLine{Seq: s, Time: time.Unix(0, 0), Text: fmt.Sprintf("line %d", s)})
		}
		if _, err := e.db.AppendLogs(ctx, job.ID, ls); err != nil {
			t.Error(err)
		}
	}
	appendLines(1, 3)
	var got []string
	end, err := e.c.FollowLogs(ctx, job.ID, 0, func(l store.LogLine) error {
		got = append(got, l.Text)
		if l.Seq == 3 {
			// The job writes more and finishes while we follow.
			appendLines(4, 6)
			if _, err := e.db.Complete(ctx, job.ID, agent.ID, store.ConclusionSuccess, nil); err != nil {
				t.Error(err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"line 1", "line 2", "line 3", "line 4", "line 5", "line 6"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if n := streams.Load(); n != 2 {
		t.Errorf("%d stream connections, want 2 (one broken, one resumed)", n)
	}
	if end.Conclusion != store.ConclusionSuccess || end.Last != 6 {
		t.Errorf("end = %+v", end)
	}
	lines, err := e.c.Logs(ctx, job.ID, 4, 0)
	if err != nil || len(lines) != 2 || lines[0].Seq != 5 {
		t.Errorf("Logs(after 4) = %+v, %v", lines, err)
	}
}
