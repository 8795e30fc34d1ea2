package metrics

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/store"
)

// t0 is where test histories start: a Monday, 09:00 UTC.
var t0 = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

// clock is the store's clock in these tests: every event gets the time the test sets.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// history builds a repository's recorded past through the real store (a SQLite file) and a
// real git repository standing in for the server's mirror.
type history struct {
	t     *testing.T
	ctx   context.Context
	db    *store.DB
	clock *clock
	repo  *store.Repo
	bare  string // the mirror
	work  string // where commits are made and pushed from
	n     int
}

func newHistory(t *testing.T) *history {
	t.Helper()
	dir := t.TempDir()
	c := &clock{t: t0}
	db, err := store.Open(context.Background(), filepath.Join(dir, "db.sqlite"), store.WithClock(c.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := &history{t: t, ctx: context.Background(), db: db, clock: c, bare: filepath.Join(dir, "mirror.git"), work: filepath.Join(dir, "work")}
	h.git(dir, "init", "-q", "--bare", "-b", "main", h.bare)
	h.git(dir, "init", "-q", "-b", "main", h.work)
	h.git(h.work, "remote", "add", "origin", h.bare)
	if h.repo, err = db.CreateRepo(h.ctx, store.Repo{Name: "acme/app", URL: "https://forge.example/acme/app.git", DefaultBranch: "main"}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutEnvironment(h.ctx, h.repo.ID, cd.Environment{Name: "staging", Tier: cd.TierStaging}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutEnvironment(h.ctx, h.repo.ID, cd.Environment{Name: "production", Tier: cd.TierProduction}); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *history) git(dir string, args ...string) string {
	h.t.Helper()
	return runGit(h.t, dir, nil, args...)
}

func runGit(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Dev", "-c", "user.email=dev@example.com",
		"-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (an empty content deletes) and commits them at committer time at on
// branch (created from HEAD when new), pushing it to the mirror.
func (h *history) commit(branch string, at time.Time, msg string, files map[string]string) string {
	h.t.Helper()
	h.n++
	if cur := h.git(h.work, "symbolic-ref", "--short", "HEAD"); cur != branch {
		if h.n > 1 && strings.Contains(h.git(h.work, "branch", "--list", branch), branch) {
			h.git(h.work, "checkout", "-q", branch)
		} else {
			h.git(h.work, "checkout", "-q", "-b", branch)
		}
	}
	if files == nil {
		files = map[string]string{"app.py": fmt.Sprintf("VERSION = %d\n", h.n)}
	}
	for name, content := range files {
		p := filepath.Join(h.work, name)
		if content == "" {
			os.Remove(p)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			h.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			h.t.Fatal(err)
		}
	}
	date := at.Format(time.RFC3339)
	runGit(h.t, h.work, nil, "add", "-A")
	runGit(h.t, h.work, []string{"GIT_COMMITTER_DATE=" + date, "GIT_AUTHOR_DATE=" + date}, "commit", "-q", "--allow-empty", "-m", msg)
	h.git(h.work, "push", "-q", "--force", "origin", branch)
	return h.git(h.work, "rev-parse", "HEAD")
}

func (h *history) at(t time.Time) { h.clock.set(t) }

// release records the release of commit built by run (0: none) at time at.
func (h *history) release(commit string, run int64, at time.Time, content string) *cd.Release {
	h.t.Helper()
	h.at(at)
	a := cd.Artifact{Name: "app.whl", Digest: fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(content))), Size: 1}
	r, err := cd.NewRelease(cd.ReleaseSource{Repo: h.repo.Name, Commit: commit, Ref: "refs/heads/main", RunID: run}, []cd.Artifact{a}, at)
	if err != nil {
		h.t.Fatal(err)
	}
	out, _, err := h.db.CreateRelease(h.ctx, h.repo.ID, r)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// promote records a promotion of rel into env created and started at start, ending in state
// end (nothing: still in progress) at start+took.
func (h *history) promote(env string, rel *cd.Release, kind cd.Kind, auto bool, by string, start time.Time, took time.Duration,
	end cd.State, reason string) *cd.Promotion {
	h.t.Helper()
	return h.promoteWith(cd.Promotion{Env: env, ReleaseID: rel.ID, Kind: kind, Auto: auto, StartedBy: by}, start, took, end, reason)
}

// promoteWith is promote for a promotion p made by hand (with its deployment run, say).
func (h *history) promoteWith(want cd.Promotion, start time.Time, took time.Duration, end cd.State, reason string) *cd.Promotion {
	h.t.Helper()
	h.at(start)
	p, err := h.db.CreatePromotion(h.ctx, h.repo.ID, want)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.db.SetPromotionState(h.ctx, p.ID, cd.StateInProgress); err != nil {
		h.t.Fatal(err)
	}
	if end == "" {
		return p
	}
	h.at(start.Add(took))
	if reason != "" {
		if _, err := h.db.UpdatePromotion(h.ctx, p.ID, store.PromotionUpdate{Reason: &reason}); err != nil {
			h.t.Fatal(err)
		}
	}
	if p, err = h.db.SetPromotionState(h.ctx, p.ID, end); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// deploy is a successful forward promotion of commit's release into production.
func (h *history) deploy(commit string, start time.Time, took time.Duration) *cd.Promotion {
	h.t.Helper()
	return h.promote("production", h.release(commit, 0, start, commit), cd.KindForward, false, "alice", start, took, cd.StateSuccess, "")
}

// jobSpec is one job of a run.
type jobSpec struct {
	key, conclusion string
	queue, took     time.Duration // from the run's queue time; how long it ran
	tests           []store.TestCase
	tools           map[string]string
	notStarted      bool
	lock            string // the lock hash the server planned the job with ("": none recorded)
}

// run records a completed run of workflow at commit on ref: queued at queued, its jobs run one
// after another.
func (h *history) run(workflow, ref, sha, event string, queued time.Time, jobs ...jobSpec) *store.Run {
	h.t.Helper()
	h.at(queued)
	specs := make([]store.Job, len(jobs))
	for i, j := range jobs {
		specs[i] = store.Job{Key: j.key, Name: j.key, Status: store.StatusQueued}
		if j.lock != "" {
			specs[i].Spec, _ = json.Marshal(map[string]string{"lock_hash": j.lock})
		}
	}
	r, created, err := h.db.CreateRun(h.ctx, store.Run{RepoID: h.repo.ID, Workflow: ".github/workflows/" + workflow,
		WorkflowName: strings.TrimSuffix(workflow, ".yml"), Event: event, Ref: ref, SHA: sha, Trigger: store.TriggerWebhook}, specs)
	if err != nil {
		h.t.Fatal(err)
	}
	end := queued
	conclusion := store.ConclusionSuccess
	for i, j := range jobs {
		id := created[i].ID
		if j.notStarted {
			h.at(end)
			done, c := store.StatusCompleted, j.conclusion
			if _, err := h.db.UpdateJob(h.ctx, id, store.JobUpdate{Status: &done, Conclusion: &c}); err != nil {
				h.t.Fatal(err)
			}
			continue
		}
		start := queued.Add(j.queue)
		if i == 0 {
			h.at(start)
			if _, err := h.db.SetRunStatus(h.ctx, r.ID, store.StatusInProgress, ""); err != nil {
				h.t.Fatal(err)
			}
		}
		h.at(start)
		running := store.StatusInProgress
		if _, err := h.db.UpdateJob(h.ctx, id, store.JobUpdate{Status: &running}); err != nil {
			h.t.Fatal(err)
		}
		if j.tests != nil || j.tools != nil {
			if err := h.db.RecordJobResults(h.ctx, id, store.JobResults{Tools: j.tools, Tests: j.tests}); err != nil {
				h.t.Fatal(err)
			}
		}
		end = start.Add(j.took)
		h.at(end)
		done, c := store.StatusCompleted, j.conclusion
		if _, err := h.db.UpdateJob(h.ctx, id, store.JobUpdate{Status: &done, Conclusion: &c}); err != nil {
			h.t.Fatal(err)
		}
		if j.conclusion == store.ConclusionFailure {
			conclusion = store.ConclusionFailure
		}
	}
	h.at(end)
	if r, err = h.db.SetRunStatus(h.ctx, r.ID, store.StatusCompleted, conclusion); err != nil {
		h.t.Fatal(err)
	}
	return r
}

// compute runs Compute at now over the window since.
func (h *history) compute(now time.Time, since time.Duration, opts Options) *Report {
	h.t.Helper()
	opts.Now, opts.Since = now, now.Add(-since)
	rep, err := Compute(h.ctx, h.db, Repo{ID: h.repo.ID, Name: h.repo.Name, URL: h.repo.URL, DefaultBranch: "main", GitDir: h.bare}, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	return rep
}

func secs(d time.Duration) *Seconds { s := Seconds(d); return &s }

func rate(num, den int) Rate { return rateOf(num, den) }
