package scheduler

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

// gitRepo is a work tree whose commits are pushed to a bare repository,
// the "remote" a store.Repo points at.
type gitRepo struct {
	t    *testing.T
	work string
	bare string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	dir := t.TempDir()
	g := &gitRepo{t: t, work: filepath.Join(dir, "work"), bare: filepath.Join(dir, "remote.git")}
	g.git(dir, "init", "-q", "-b", "main", g.work)
	g.git(dir, "init", "-q", "--bare", g.bare)
	g.git(g.work, "remote", "add", "origin", g.bare)
	return g
}

func (g *gitRepo) git(dir string, args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Test", "-c", "user.email=test@example.com",
		"-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (an empty content deletes the file), commits them
// and pushes the commit to branch; it returns the commit's SHA.
func (g *gitRepo) commit(branch, msg string, files map[string]string) string {
	g.t.Helper()
	for name, content := range files {
		p := filepath.Join(g.work, name)
		if content == "" {
			if err := os.Remove(p); err != nil {
				g.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			g.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			g.t.Fatal(err)
		}
	}
	g.git(g.work, "add", "-A")
	g.git(g.work, "commit", "-q", "--allow-empty", "-m", msg)
	sha := g.git(g.work, "rev-parse", "HEAD")
	g.git(g.work, "push", "-q", "--force", "origin", "HEAD:refs/heads/"+branch)
	return sha
}

// harness is one scheduler on a fresh database with one repository and
// one agent that the test drives by hand.
type harness struct {
	t     *testing.T
	ctx   context.Context
	db    *store.DB
	data  string
	s     *Scheduler
	git   *gitRepo
	repo  *store.Repo
	agent *store.Agent
}

// fixedNow keeps every queued_at equal, so claims take jobs in ID order.
func fixedNow() time.Time { return time.Date(2025, 3, 3, 12, 0, 0, 0, time.UTC) }

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessOn(t, "sqlite://"+filepath.Join(t.TempDir(), "db.sqlite"))
}

// newHarnessOn is newHarness on the database at dsn (a fresh one).
func newHarnessOn(t *testing.T, dsn string) *harness {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.WithClock(fixedNow))
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	g := newGitRepo(t)
	repo, err := db.CreateRepo(ctx, store.Repo{Name: "acme/app", URL: g.bare, DefaultBranch: "main"})
	if err != nil {
		t.Fatalf("CreateRepo: %v", err)
	}
	agent, err := db.RegisterAgent(ctx, store.Agent{Name: "a1", Labels: []string{store.LabelDefault}, Parallel: 50,
		TokenHash: []byte("hash-a1")})
	if err != nil {
		t.Fatalf("RegisterAgent: %v", err)
	}
	h := &harness{t: t, ctx: ctx, db: db, data: t.TempDir(), git: g, repo: repo, agent: agent}
	h.s = h.newScheduler()
	return h
}

func (h *harness) newScheduler() *Scheduler {
	s := New(Config{DB: h.db, DataDir: h.data, GitURL: "file:///unused/%d.git"})
	// The scheduler's background work (a run's workflow_run look, deployment timers) stops
	// and is waited for before the database and the repositories go.
	ctx, cancel := context.WithCancel(context.Background())
	s.bg.start(ctx)
	h.t.Cleanup(func() {
		cancel()
		s.bg.wg.Wait()
	})
	return s
}

// pushWorkflows commits the workflow files (name → YAML) under
// .github/workflows plus any other files, and returns the push trigger.
func (h *harness) pushWorkflows(workflows map[string]string) server.Trigger {
	h.t.Helper()
	files := map[string]string{}
	for name, src := range workflows {
		files[".github/workflows/"+name] = src
	}
	sha := h.git.commit("main", "add workflows", files)
	return server.Trigger{Event: "push", Ref: "refs/heads/main", SHA: sha, Source: store.TriggerWebhook, Actor: "alice"}
}

func (h *harness) trigger(tr server.Trigger) []store.Run {
	h.t.Helper()
	runs, err := h.s.Trigger(h.ctx, h.repo, tr)
	if err != nil {
		h.t.Fatalf("Trigger(%+v): %v", tr, err)
	}
	return runs
}

// triggerOne triggers and expects exactly one run.
func (h *harness) triggerOne(tr server.Trigger) *store.Run {
	h.t.Helper()
	runs := h.trigger(tr)
	if len(runs) != 1 {
		h.t.Fatalf("Trigger made %d runs, want 1: %+v", len(runs), runs)
	}
	return &runs[0]
}

func (h *harness) run(id int64) *store.Run {
	h.t.Helper()
	r, err := h.db.GetRun(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// states gives each latest job of the run as "status" or
// "status/conclusion", by key.
func (h *harness) states(runID int64) map[string]string {
	h.t.Helper()
	out := map[string]string{}
	for _, j := range h.jobs(runID) {
		s := j.Status
		if j.Conclusion != "" {
			s += "/" + j.Conclusion
		}
		out[j.Key] = s
	}
	return out
}

func (h *harness) jobs(runID int64) []store.Job {
	h.t.Helper()
	jobs, err := h.db.ListLatestJobs(h.ctx, runID)
	if err != nil {
		h.t.Fatal(err)
	}
	return jobs
}

func (h *harness) job(runID int64, key string) *store.Job {
	h.t.Helper()
	for _, j := range h.jobs(runID) {
		if j.Key == key {
			return &j
		}
	}
	h.t.Fatalf("run %d has no job %q", runID, key)
	return nil
}

func (h *harness) spec(runID int64, key string) *Spec {
	h.t.Helper()
	sp, err := ParseSpec(h.job(runID, key).Spec)
	if err != nil {
		h.t.Fatal(err)
	}
	return sp
}

// claim leases the next queued job (in ID order) and checks it is key.
func (h *harness) claim(key string) *store.Job {
	h.t.Helper()
	j, err := h.db.Claim(h.ctx, h.agent.ID, h.agent.Labels, time.Minute)
	if errors.Is(err, store.ErrNoJob) {
		h.t.Fatalf("claim: no job queued, want %q", key)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	if j.Key != key {
		h.t.Fatalf("claimed job %q (run %d), want %q", j.Key, j.RunID, key)
	}
	return j
}

// complete finishes a claimed job as its agent would and tells the
// scheduler.
func (h *harness) complete(j *store.Job, conclusion string, outputs map[string]string) {
	h.t.Helper()
	if _, err := h.db.Complete(h.ctx, j.ID, h.agent.ID, conclusion, outputs); err != nil {
		h.t.Fatalf("completing %s: %v", j.Key, err)
	}
	if err := h.s.JobFinished(h.ctx, j.ID); err != nil {
		h.t.Fatalf("JobFinished(%s): %v", j.Key, err)
	}
}

// finish claims the next queued job, checks it is key, and completes it.
func (h *harness) finish(key, conclusion string, outputs map[string]string) {
	h.t.Helper()
	h.complete(h.claim(key), conclusion, outputs)
}

// noneQueued checks no job is left to claim.
func (h *harness) noneQueued() {
	h.t.Helper()
	if j, err := h.db.Claim(h.ctx, h.agent.ID, h.agent.Labels, time.Minute); !errors.Is(err, store.ErrNoJob) {
		h.t.Fatalf("claim: got job %v (err %v), want none queued", j, err)
	}
}

func (h *harness) runState(id int64) string {
	h.t.Helper()
	r := h.run(id)
	if r.Conclusion == "" {
		return r.Status
	}
	return r.Status + "/" + r.Conclusion
}
