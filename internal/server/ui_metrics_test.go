package server

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/store"
)

// metricsClock is the store's clock while a test writes history into the past.
type metricsClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *metricsClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		return time.Now()
	}
	return c.t
}

func (c *metricsClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// metricsUIEnv is uiNewEnv with a store whose clock the test sets, so that a history of weeks
// can be recorded in a moment.
func metricsUIEnv(t *testing.T) (*uiEnv, *metricsClock) {
	t.Helper()
	dir := t.TempDir()
	c := &metricsClock{}
	db, err := store.Open(context.Background(), filepath.Join(dir, "db.sqlite"), store.WithClock(c.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys, err := secrets.LoadKey(dir, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	e := &uiEnv{t: t, db: db, keys: keys, sched: &uiFakeScheduler{}, dataDir: dir}
	srv, err := New(Config{DB: db, Keys: keys, Scheduler: e.sched, DataDir: dir, BaseURL: "http://ci.example",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e.http = httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		e.http.CloseClientConnections()
		e.http.Close()
	})
	return e, c
}

func metricsGit(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Dev", "-c", "user.email=dev@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// seedMetricsHistory records eight weeks of a repository's life ending now: a commit every three
// days, each built by a run (whose workflow is named hostile, to check escaping) and deployed
// to production two hours later; every fifth deployment fails its verification and is rolled
// back automatically; one commit is an emergency pin.
func seedMetricsHistory(t *testing.T, e *uiEnv, c *metricsClock, name, hostile string) *store.Repo {
	t.Helper()
	ctx := context.Background()
	repo, err := e.db.CreateRepo(ctx, store.Repo{Name: name, URL: "https://forge.example/acme/" + name + ".git", DefaultBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.PutEnvironment(ctx, repo.ID, cd.Environment{Name: "production", Tier: cd.TierProduction}); err != nil {
		t.Fatal(err)
	}
	mirror := filepath.Join(e.dataDir, "repos", fmt.Sprintf("%d.git", repo.ID))
	work := t.TempDir()
	metricsGit(t, e.dataDir, nil, "init", "-q", "--bare", "-b", "main", mirror)
	metricsGit(t, work, nil, "init", "-q", "-b", "main")
	base := time.Now().UTC().Add(-8 * 7 * 24 * time.Hour)
	var good *cd.Release
	for i := 0; i < 19; i++ {
		at := base.Add(time.Duration(i) * 3 * 24 * time.Hour)
		reqs := "requests>=2\n"
		msg := fmt.Sprintf("change %d", i)
		if i == 7 {
			reqs, msg = "requests==2.31.0\n", "pin requests: 2.32 breaks uploads\n\nSluice-Pin: requests==2.31.0"
		}
		if err := os.WriteFile(filepath.Join(work, "requirements.txt"), []byte(reqs), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, "app.py"), []byte(fmt.Sprintf("V = %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		date := at.Format(time.RFC3339)
		metricsGit(t, work, nil, "add", "-A")
		metricsGit(t, work, []string{"GIT_COMMITTER_DATE=" + date, "GIT_AUTHOR_DATE=" + date}, "commit", "-q", "-m", msg)
		sha := metricsGit(t, work, nil, "rev-parse", "HEAD")
		metricsGit(t, work, nil, "push", "-q", mirror, "main")

		// The run: queued a minute after the commit, its test job waits 20s and runs 3–6 minutes.
		c.set(at.Add(time.Minute))
		run, jobs, err := e.db.CreateRun(ctx, store.Run{RepoID: repo.ID, Workflow: ".github/workflows/ci.yml", WorkflowName: hostile,
			Event: "push", Ref: "refs/heads/main", SHA: sha, Trigger: store.TriggerWebhook},
			[]store.Job{{Key: "test", Name: "test", Status: store.StatusQueued}})
		if err != nil {
			t.Fatal(err)
		}
		start := at.Add(time.Minute + 20*time.Second)
		c.set(start)
		running, done, success := store.StatusInProgress, store.StatusCompleted, store.ConclusionSuccess
		if _, err := e.db.SetRunStatus(ctx, run.ID, store.StatusInProgress, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.UpdateJob(ctx, jobs[0].ID, store.JobUpdate{Status: &running}); err != nil {
			t.Fatal(err)
		}
		tests := []store.TestCase{
			{Name: "tests/test_api.py::test_upload", Outcome: store.TestPassed, Duration: time.Duration(20+i) * time.Second},
			{Name: hostile + "::test_x", Outcome: store.TestPassed, Duration: 5 * time.Second},
		}
		if err := e.db.RecordJobResults(ctx, jobs[0].ID, store.JobResults{Tools: map[string]string{"pip": "25.0"}, Tests: tests}); err != nil {
			t.Fatal(err)
		}
		c.set(start.Add(time.Duration(3+i%4) * time.Minute))
		if _, err := e.db.UpdateJob(ctx, jobs[0].ID, store.JobUpdate{Status: &done, Conclusion: &success}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.SetRunStatus(ctx, run.ID, store.StatusCompleted, success); err != nil {
			t.Fatal(err)
		}

		// The deployment, two hours after the commit.
		a := cd.Artifact{Name: "app.whl", Digest: fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(sha))), Size: 1}
		rel, err := cd.NewRelease(cd.ReleaseSource{Repo: name, Commit: sha, Ref: "refs/heads/main", RunID: run.ID}, []cd.Artifact{a}, at)
		if err != nil {
			t.Fatal(err)
		}
		stored, _, err := e.db.CreateRelease(ctx, repo.ID, rel)
		if err != nil {
			t.Fatal(err)
		}
		deploy := func(r *cd.Release, kind cd.Kind, from time.Time, end cd.State) {
			c.set(from)
			p, err := e.db.CreatePromotion(ctx, repo.ID, cd.Promotion{Env: "production", ReleaseID: r.ID, Kind: kind, StartedBy: "alice", Auto: kind == cd.KindRollback})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.db.SetPromotionState(ctx, p.ID, cd.StateInProgress); err != nil {
				t.Fatal(err)
			}
			c.set(from.Add(5 * time.Minute))
			if end == cd.StateFailure {
				reason := "verification failed: /health answered 500"
				if _, err := e.db.UpdatePromotion(ctx, p.ID, store.PromotionUpdate{Reason: &reason}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := e.db.SetPromotionState(ctx, p.ID, end); err != nil {
				t.Fatal(err)
			}
		}
		if i%5 == 4 && good != nil {
			deploy(stored, cd.KindForward, at.Add(2*time.Hour), cd.StateFailure)
			deploy(good, cd.KindRollback, at.Add(2*time.Hour+6*time.Minute), cd.StateSuccess)
			continue
		}
		deploy(stored, cd.KindForward, at.Add(2*time.Hour), cd.StateSuccess)
		good = stored
	}
	c.set(time.Time{})
	return repo
}

// The page of a repository without deployments says so plainly, with no NaN anywhere.
func TestUIMetricsEmpty(t *testing.T) {
	e, _ := metricsUIEnv(t)
	if _, err := e.db.CreateRepo(context.Background(), store.Repo{Name: "quiet", URL: "https://forge.example/quiet.git"}); err != nil {
		t.Fatal(err)
	}
	cookie := e.signIn(store.ScopeRead)
	res, body := e.get("/repos/quiet/metrics", cookie)
	if res.StatusCode != 200 {
		t.Fatalf("metrics page: %d\n%s", res.StatusCode, body)
	}
	for _, want := range []string{"No environment to measure", "tier: production", "No deployments yet.", "No flaky tests in the window."} {
		if !strings.Contains(body, want) {
			t.Errorf("the empty page lacks %q", want)
		}
	}
	if strings.Contains(body, "NaN") || strings.Contains(body, "Inf") {
		t.Error("the empty page shows NaN or Inf")
	}
	e.db.PutEnvironment(context.Background(), mustRepoID(t, e.db, "quiet"), cd.Environment{Name: "production", Tier: cd.TierProduction})
	if _, body = e.get("/repos/quiet/metrics", cookie); !strings.Contains(body, "No deployments to production yet in the last 90d.") {
		t.Errorf("with a production environment, the page does not say it has no deployments yet:\n%s", body)
	}
	if res, body = e.get("/repos/quiet/metrics?since=forever", cookie); res.StatusCode != 400 || !strings.Contains(body, "want a length like 90d") {
		t.Errorf("a bad since: %d, want 400 saying what to pass", res.StatusCode)
	}
	if res, _ = e.get("/repos/quiet/metrics", nil); res.StatusCode != 303 && res.StatusCode != 302 {
		t.Errorf("without a session: %d, want a redirect to sign in", res.StatusCode)
	}
}

func mustRepoID(t *testing.T, db *store.DB, name string) int64 {
	t.Helper()
	r, err := db.GetRepoByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// Names from pushes (a workflow's name, a test's id) are text on the page, in HTML and in SVG.
func TestUIMetricsEscapesNames(t *testing.T) {
	e, c := metricsUIEnv(t)
	hostile := `ci</text><script>alert(1)</script><text>`
	seedMetricsHistory(t, e, c, "app", hostile)
	_, body := e.get("/repos/app/metrics", e.signIn(store.ScopeRead))
	if strings.Contains(body, "<script>alert(1)") {
		t.Fatal("a workflow name reached the page as markup")
	}
	if !strings.Contains(body, "ci&lt;/text&gt;&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the page does not show the workflow's name as text")
	}
	for _, id := range []string{`id="chart-deployments"`, `id="chart-lead-time"`, `id="chart-pins"`, `id="chart-pipeline-0"`, `id="chart-slowest"`, `<rect class="bar s1"`} {
		if !strings.Contains(body, id) {
			t.Errorf("the page lacks %s", id)
		}
	}
	// The form's choices: a date to compare around and a tool to split by.
	pivot := time.Now().UTC().Add(-4 * 7 * 24 * time.Hour).Format("2006-01-02")
	_, body = e.get("/repos/app/metrics?split_by=pip&compare="+pivot, e.signIn(store.ScopeRead))
	for _, want := range []string{"Jobs by pip version", "<td data-label=\"Version\">25.0</td>", "since " + pivot + " ci&lt;/text&gt;"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page with split_by and compare lacks %q", want)
		}
	}
}
