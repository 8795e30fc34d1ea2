package jobrunner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/agent"
	"github.com/sluice-ci/sluice/internal/artifacts"
	"github.com/sluice-ci/sluice/internal/cache"
	"github.com/sluice-ci/sluice/internal/jobrunner"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

const cacheWorkflow = `on: push
jobs:
  save:
    runs-on: saver
    steps:
      - run: mkdir -p deps/sub && echo hello > deps/sub/f
      - uses: actions/cache@v4
        id: c
        with:
          path: deps
          key: deps-v1
  restore:
    runs-on: restorer
    outputs:
      hit: ${{ steps.c.outputs.cache-hit }}
      matched: ${{ steps.c.outputs.cache-matched-key }}
      content: ${{ steps.read.outputs.content }}
    steps:
      - uses: actions/cache@v4
        id: c
        with:
          path: deps
          key: deps-v1
      - id: read
        run: echo "content=$(cat deps/sub/f)" >> "$GITHUB_OUTPUT"
      - uses: actions/cache/save@v4
        with:
          path: deps
          key: deps-v1
`

// A cache saved by a job on one remote agent is restored by a job on
// another, which shares nothing with the first but the server.
func TestCacheTravelsBetweenRemoteAgents(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	ctx := context.Background()
	repoDir, sha := commitWorkflow(t, cacheWorkflow)

	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
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
	caches, err := cache.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{DB: db, Keys: keys, Artifacts: arts, Cache: caches, DataDir: t.TempDir(),
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	admin, hash, err := secrets.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateToken(ctx, store.Token{Name: "agents", Hash: hash, Scope: store.ScopeRegister}); err != nil {
		t.Fatal(err)
	}
	repo, err := db.CreateRepo(ctx, store.Repo{Name: "demo", URL: "file://" + repoDir})
	if err != nil {
		t.Fatal(err)
	}

	states := map[string]string{}
	for _, name := range []string{"saver", "restorer"} {
		states[name] = t.TempDir()
		runAgent(t, ts.URL, admin, name, states[name])
	}

	outputs := map[string]map[string]string{}
	ids := map[string]int64{}
	for _, job := range []string{"save", "restore"} {
		j := runJob(t, db, repo.ID, repoDir, sha, job)
		if j.Conclusion != store.ConclusionSuccess {
			t.Fatalf("job %s: %s (%s); log:\n%s", job, j.Conclusion, j.Reason, jobLog(t, db, j.ID))
		}
		outputs[job], ids[job] = j.Outputs, j.ID
	}
	// Entries are immutable: saving the restored key again is refused
	// before anything is archived, and the step still succeeds.
	if log := jobLog(t, db, ids["restore"]); !strings.Contains(log, "Cache with key deps-v1 already exists") {
		t.Errorf("restore job's log lacks the refused save:\n%s", log)
	}
	want := map[string]string{"hit": "true", "matched": "deps-v1", "content": "hello"}
	if diff := cmp.Diff(want, outputs["restore"]); diff != "" {
		t.Errorf("restore job outputs (-want +got):\n%s", diff)
	}
	// The save went to the run's ref within the server's repository identity.
	save, _ := cache.Scopes(cache.ServerIdentity(repo.ID, ""), "refs/heads/main", "", "main")
	entries, err := caches.List(save)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Key != "deps-v1" {
		t.Errorf("server cache entries = %+v, want deps-v1", entries)
	}
	// Nothing went to the agents' own stores.
	for name, dir := range states {
		if _, err := os.Stat(filepath.Join(dir, "cache", "actions")); !os.IsNotExist(err) {
			t.Errorf("agent %s has a local cache store (stat: %v)", name, err)
		}
	}
}

// commitWorkflow makes a repository whose one commit holds workflow.
func commitWorkflow(t *testing.T, workflow string) (dir, sha string) {
	t.Helper()
	dir = t.TempDir()
	wf := filepath.Join(dir, ".github", "workflows", "ci.yml")
	if err := os.MkdirAll(filepath.Dir(wf), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wf, []byte(workflow), 0o644); err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	git("add", ".")
	git("commit", "-q", "-m", "ci")
	return dir, git("rev-parse", "HEAD")
}

func runAgent(t *testing.T, url, admin, name, state string) {
	t.Helper()
	_, tok, err := agent.Register(context.Background(), url, admin, name, []string{name}, 1)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	run := jobrunner.New(jobrunner.Config{WorkDir: work, StateDir: state, Token: tok})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agent.Run(ctx, agent.Config{Server: url, Token: tok, Name: name, Labels: []string{name}, Parallel: 1,
			WorkDir: work, StateDir: state, Run: run, Log: slog.New(slog.DiscardHandler)})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent %s: %v", name, err)
		}
	})
}

// runJob queues job of the workflow in a run of its own, for the agent
// named by its runs-on, and waits for it to complete.
func runJob(t *testing.T, db *store.DB, repoID int64, repoDir, sha, job string) *store.Job {
	t.Helper()
	ctx := context.Background()
	run, _, err := db.CreateRun(ctx, store.Run{RepoID: repoID, Workflow: ".github/workflows/ci.yml",
		Trigger: store.TriggerManual, Event: "push", Ref: "refs/heads/main", SHA: sha}, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := json.Marshal(jobspec.Spec{
		Run: jobspec.Run{ID: fmt.Sprint(run.ID), Number: run.Number, RepoURL: repoDir, Repository: "o/demo", RepoID: repoID,
			DefaultBranch: "main", SHA: sha, Ref: "refs/heads/main", Event: "push", WorkflowPath: ".github/workflows/ci.yml"},
		Job: jobspec.Job{Key: job, Name: job, JobID: job, WorkflowPath: ".github/workflows/ci.yml", WorkflowSource: cacheWorkflow,
			Strategy: jobspec.Strategy{FailFast: true, JobTotal: 1, MaxParallel: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	label := map[string]string{"save": "saver", "restore": "restorer"}[job]
	jobs, err := db.AddJobs(ctx, run.ID, []store.Job{{Key: job, Name: job, Labels: []string{label},
		Status: store.StatusQueued, Spec: spec}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		j, err := db.GetJob(ctx, jobs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status == store.StatusCompleted {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s did not complete; log:\n%s", job, jobLog(t, db, j.ID))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func jobLog(t *testing.T, db *store.DB, jobID int64) string {
	t.Helper()
	lines, err := db.Logs(context.Background(), jobID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.Kind + " " + l.Text + "\n")
	}
	return b.String()
}
