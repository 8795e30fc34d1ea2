package e2e

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "modernc.org/sqlite"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/metrics"
	"github.com/sluice-ci/sluice/internal/python"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/testreport"
)

// The project the scripted history runs: a check of its requirements, pytest (with one test
// whose outcome the test decides through an HTTP endpoint), and a wheel built by hand, then a
// production deployment of pushes, verified by a command that reads the release's HEALTH file.
const (
	metricsWorkflow = `name: ci
on: [push, workflow_dispatch]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: python3 check_deps.py
      - run: python3 -m pytest -q -p no:cacheprovider tests
      - run: python3 build.py
      - uses: actions/upload-artifact@v4
        with: {name: app, path: dist/}
  deploy:
    needs: build
    if: github.event_name == 'push'
    runs-on: ubuntu-latest
    environment: production
    steps:
      - run: echo "deploying ${{ github.sha }}"
`
	metricsEnvironments = `environments:
  production:
    tier: production
    branches: [main]
    hotfix: ['hotfix/*']
    auto-rollback: true
    verify:
      command: {run: sh verify.sh, timeout: 1m}
`
	metricsCheckDeps = `import sys
reqs = open("requirements.txt").read()
if "requests==2.0.0" in reqs:
    sys.exit("requests 2.0.0 cannot talk to our API: use 2.31 or later")
print("requirements ok")
`
	metricsBuild = `import pathlib, sys, time, zipfile
version = pathlib.Path("VERSION").read_text().strip()
files = {"app/__init__.py": pathlib.Path("app.py").read_text()}
if "--stamp" in sys.argv:
    files["app/BUILT"] = str(time.time_ns())
pathlib.Path("dist").mkdir(exist_ok=True)
with zipfile.ZipFile(f"dist/app-{version}-py3-none-any.whl", "w") as z:
    for name, text in sorted(files.items()):
        z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), text)
`
)

func metricsTests(flakyURL string) string {
	return `import time, urllib.request

def test_ok():
    assert 1 + 1 == 2

def test_slow():
    time.sleep(0.3)

def test_flaky():
    assert urllib.request.urlopen("` + flakyURL + `", timeout=10).read() == b"pass"
`
}

// flakySwitch answers "pass", or "fail" once after being armed.
type flakySwitch struct {
	mu    sync.Mutex
	armed bool
}

func (f *flakySwitch) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.armed {
		f.armed = false
		io.WriteString(w, "fail")
		return
	}
	io.WriteString(w, "pass")
}

func (f *flakySwitch) arm() {
	f.mu.Lock()
	f.armed = true
	f.mu.Unlock()
}

// metricsRepo is the history's repository: a work tree pushing to a bare one, through signed
// webhooks.
type metricsRepo struct {
	t            *testing.T
	s            *srv
	g            *gitRepo
	name, secret string
	tips         map[string]string // branch → last pushed commit
	deliveries   int
	commitTimes  map[string]time.Time
	subjects     map[string]string
}

// push commits files on branch at committer time at, pushes it, delivers the signed webhook and
// returns the commit and the one run it started.
func (m *metricsRepo) push(branch string, at time.Time, msg string, files map[string]string) (string, int64) {
	t := m.t
	t.Helper()
	if cur := strings.TrimSpace(runGit(t, m.g.work, "symbolic-ref", "--short", "HEAD")); cur != branch {
		if _, ok := m.tips[branch]; ok {
			runGit(t, m.g.work, "checkout", "-q", branch)
		} else {
			runGit(t, m.g.work, "checkout", "-q", "-b", branch)
		}
	}
	for name, content := range files {
		p := filepath.Join(m.g.work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runGit(t, m.g.work, "add", "-A")
	date := at.Format(time.RFC3339)
	cmd := exec.Command("git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "-c", "commit.gpgsign=false",
		"commit", "-q", "--allow-empty", "-m", msg)
	cmd.Dir = m.g.work
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_COMMITTER_DATE="+date, "GIT_AUTHOR_DATE="+date)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git commit: %v\n%s", err, out)
	}
	runGit(t, m.g.work, "push", "-q", "origin", branch)
	sha := strings.TrimSpace(runGit(t, m.g.work, "rev-parse", "HEAD"))
	before, ok := m.tips[branch]
	if !ok {
		before = zeroSHA
	}
	m.tips[branch] = sha
	m.commitTimes[sha] = at.UTC()
	m.subjects[sha] = strings.SplitN(msg, "\n", 2)[0]
	m.deliveries++
	body, err := json.Marshal(map[string]any{
		"ref": "refs/heads/" + branch, "before": before, "after": sha,
		"repository":  map[string]any{"full_name": "e2e/" + m.name, "clone_url": m.g.url(), "default_branch": "main"},
		"head_commit": map[string]any{"id": sha, "message": msg}, "commits": []any{map[string]any{"id": sha, "message": msg}},
		"sender": map[string]any{"login": "dev"}, "pusher": map[string]any{"name": "dev"},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Content-Type": {"application/json"}, "X-Gitea-Event": {"push"},
		"X-Gitea-Delivery": {fmt.Sprintf("%s-%d", m.name, m.deliveries)}}
	k, v := forge.Sign(forge.Gitea, body, []byte(m.secret))
	h.Set(k, v)
	a := m.s.postHook(t, forge.Gitea, m.name, h, body)
	if a.Status != http.StatusAccepted || len(a.Runs) != 1 {
		t.Fatalf("push of %s to %s: %d %s, want one run", sha[:8], branch, a.Status, a.raw)
	}
	return sha, a.Runs[0]
}

// promotionTimes reads, from the server's event log, when each promotion entered each state:
// the raw facts the figures below are worked out from by hand.
func promotionTimes(t *testing.T, dbPath string) map[int64]map[cd.State]time.Time {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT time, data FROM events WHERE kind = 'promotion.state' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]map[cd.State]time.Time{}
	for rows.Next() {
		var at int64
		var data string
		if err := rows.Scan(&at, &data); err != nil {
			t.Fatal(err)
		}
		var ev struct {
			Promotion int64    `json:"promotion"`
			To        cd.State `json:"to"`
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatal(err)
		}
		if out[ev.Promotion] == nil {
			out[ev.Promotion] = map[cd.State]time.Time{}
		}
		if _, ok := out[ev.Promotion][ev.To]; !ok {
			out[ev.Promotion][ev.To] = time.Unix(0, at).UTC()
		}
	}
	return out
}

// nearestRank is the percentile the figures use, written out again: the value at rank
// ceil(p/100 * n) of the sorted values.
func nearestRank(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := (p*len(s) + 99) / 100
	return s[rank-1]
}

func ms(d time.Duration) float64 { return float64(d.Round(time.Millisecond).Milliseconds()) / 1000 }

func statsOf(ds []time.Duration) [3]float64 {
	if len(ds) == 0 {
		return [3]float64{}
	}
	return [3]float64{float64(len(ds)), ms(nearestRank(ds, 50)), ms(nearestRank(ds, 90))}
}

func gotStats(st metrics.Stats) [3]float64 {
	if st.Median == nil {
		return [3]float64{float64(st.N)}
	}
	return [3]float64{float64(st.N), st.Median.Float(), st.P90.Float()}
}

func share(num, den int) float64 { return float64(int(float64(num)/float64(den)*10000+0.5)) / 10000 }

// TestMetricsScriptedHistory runs a history through a real server and checks every figure the
// metrics API gives against the same figure worked out here by hand from the raw facts: commit
// times the test chose, run and job times the API reports, and promotion state times from the
// event log. The history: three deployments, one after a flaky test's re-run; a rollback by hand;
// a release that fails verification and is rolled back automatically; a hotfix; a dependency-only
// commit that breaks the build and its fix (an emergency pin); a rebuild of the same commit; and
// verify-repro runs, one of which finds a mismatch.
func TestMetricsScriptedHistory(t *testing.T) {
	t.Parallel()
	flaky := &flakySwitch{}
	fs := httptest.NewServer(flaky)
	t.Cleanup(fs.Close)
	s := startServer(t, 2)
	name := "metrics" + randomHex(t, 3)
	base := time.Now().UTC().Truncate(time.Second).Add(-6*24*time.Hour - time.Hour)
	g, _ := newGitRepo(t, map[string]string{"README": "metrics e2e\n"})
	// The first commit (README) is replaced as main's start by c1 below: its push is the one the
	// server sees first, so both belong to the first deployment.
	readme := strings.TrimSpace(runGit(t, g.work, "rev-parse", "HEAD"))
	readmeAt, err := time.Parse(time.RFC3339, strings.TrimSpace(runGit(t, g.work, "log", "-1", "--format=%cI")))
	if err != nil {
		t.Fatal(err)
	}
	s.addRepo(t, name, g, "s3cret")
	m := &metricsRepo{t: t, s: s, g: g, name: name, secret: "s3cret", tips: map[string]string{"main": readme},
		commitTimes: map[string]time.Time{readme: readmeAt.UTC()}, subjects: map[string]string{}}
	c := s.client()
	ctx := context.Background()
	wait := func(run int64) *server.RunDetail { return s.waitRunDone(t, run, 3*time.Minute) }
	lastProm := func() int64 {
		ps := s.deployments(t, name, "production")
		if len(ps) == 0 {
			return 0
		}
		return ps[0].ID
	}

	// c1: the project. Deployed: D1.
	c1, run1 := m.push("main", base, "c1: the app", map[string]string{
		".github/workflows/ci.yml": metricsWorkflow, ".sluice/environments.yml": metricsEnvironments,
		"check_deps.py": metricsCheckDeps, "build.py": metricsBuild, "tests/test_app.py": metricsTests(fs.URL),
		"verify.sh": "grep -q healthy HEALTH\n", "HEALTH": "healthy\n", "VERSION": "1.0\n", "app.py": "V = 1\n",
		"requirements.txt": "requests>=2.31\n"})
	if d := wait(run1); d.Run.Conclusion != store.ConclusionSuccess {
		t.Fatalf("run 1: %s\n%s", d.Run.Conclusion, describeJobs(d))
	}
	d1 := s.waitPromotion(t, name, "production", "", cd.StateSuccess, 2*time.Minute)

	// c2: test_flaky fails once; a re-run of the same commit passes and deploys: D2.
	flaky.arm()
	c2, run2 := m.push("main", base.Add(24*time.Hour), "c2: faster", map[string]string{"app.py": "V = 2\n", "VERSION": "2.0\n"})
	if d := wait(run2); d.Run.Conclusion != store.ConclusionFailure {
		t.Fatalf("run 2 (flaky): %s, want failure\n%s", d.Run.Conclusion, describeJobs(d))
	}
	rerun, err := c.Rerun(ctx, run2, false)
	if err != nil {
		t.Fatal(err)
	}
	if d := wait(rerun.ID); d.Run.Conclusion != store.ConclusionSuccess {
		t.Fatalf("re-run of run 2: %s\n%s", d.Run.Conclusion, describeJobs(d))
	}
	d2 := s.waitPromotionAfter(t, name, "production", "", cd.StateSuccess, d1.ID, 2*time.Minute)

	// A rollback by hand: R1 restores D1's release.
	out, err := s.cli(t, "", "rollback", "production", "--repo", name, "--wait")
	if err != nil {
		t.Fatalf("sluice rollback: %v\n%s", err, out)
	}
	r1 := s.waitPromotionAfter(t, name, "production", d1.ReleaseID, cd.StateSuccess, d2.ID, 2*time.Minute)

	// c3 is sick: D3 fails its verification and R2 rolls back by itself.
	c3, run3 := m.push("main", base.Add(48*time.Hour), "c3: new health check", map[string]string{"HEALTH": "sick\n", "app.py": "V = 3\n", "VERSION": "3.0\n"})
	wait(run3)
	r2 := s.waitPromotionAfter(t, name, "production", d1.ReleaseID, cd.StateSuccess, r1.ID, 3*time.Minute)
	var d3 cd.Promotion
	for _, p := range s.deployments(t, name, "production") {
		if p.ID > r1.ID && p.ID < r2.ID && p.Kind == cd.KindForward {
			d3 = p
		}
	}
	if d3.State != cd.StateFailure || !r2.Auto || r2.Kind != cd.KindRollback {
		t.Fatalf("D3 %+v, R2 %+v: want a failed deployment rolled back automatically", d3, r2)
	}

	// c4 fixes it: D4. A hotfix (c5, on hotfix/login) follows within hours: H1.
	c4, run4 := m.push("main", base.Add(72*time.Hour), "c4: healthy again", map[string]string{"HEALTH": "healthy\n", "app.py": "V = 4\n", "VERSION": "4.0\n"})
	wait(run4)
	d4 := s.waitPromotionAfter(t, name, "production", "", cd.StateSuccess, r2.ID, 2*time.Minute)
	c5, run5 := m.push("hotfix/login", base.Add(96*time.Hour), "c5: hotfix login", map[string]string{"app.py": "V = 5\n", "VERSION": "4.0.1\n"})
	wait(run5)
	h1 := s.waitPromotionAfter(t, name, "production", "", cd.StateSuccess, d4.ID, 2*time.Minute)
	if h1.Kind != cd.KindHotfix {
		t.Fatalf("the hotfix branch's promotion is %s, want hotfix", h1.Kind)
	}

	// c6 touches only requirements.txt and breaks the build; c7 fixes it, pinning urllib3 with
	// a Sluice-Pin trailer: D5.
	runGit(t, g.work, "checkout", "-q", "main")
	c6, run6 := m.push("main", base.Add(120*time.Hour), "c6: pin requests", map[string]string{"requirements.txt": "requests==2.0.0\n"})
	if d := wait(run6); d.Run.Conclusion != store.ConclusionFailure {
		t.Fatalf("run 6 (broken requirements): %s, want failure\n%s", d.Run.Conclusion, describeJobs(d))
	}
	before6 := lastProm()
	c7, run7 := m.push("main", base.Add(132*time.Hour), "c7: unpin requests, cap urllib3\n\nSluice-Pin: urllib3<2\nSluice-Pin-Reason: urllib3 2 drops our TLS setup",
		map[string]string{"requirements.txt": "requests>=2.31\nurllib3<2\n", "app.py": "V = 7\n", "VERSION": "4.1\n"})
	wait(run7)
	d5 := s.waitPromotionAfter(t, name, "production", "", cd.StateSuccess, before6, 2*time.Minute)

	// The same commit built again by a dispatched run: the same bytes.
	rebuild := s.dispatch(t, name, "ci.yml")
	if d := wait(rebuild.ID); d.Run.Conclusion != store.ConclusionSuccess {
		t.Fatalf("rebuild: %s\n%s", d.Run.Conclusion, describeJobs(d))
	}
	// verify-repro: D5's release rebuilds identical; the hotfix's, rebuilt with a time stamp
	// in it, does not.
	if out, err := s.cli(t, "", "verify-repro", fmt.Sprint(run7), "--source", g.work,
		"--build-cmd", `python3 build.py && cp dist/*.whl "$OUT"/`); err != nil {
		t.Fatalf("verify-repro of run %d: %v\n%s", run7, err, out)
	}
	if out, err := s.cli(t, "", "verify-repro", fmt.Sprint(run5), "--source", g.work,
		"--build-cmd", `python3 build.py --stamp && cp dist/*.whl "$OUT"/`); err == nil || !strings.Contains(out, "NOT reproducible") {
		t.Fatalf("verify-repro of the stamped rebuild: %v\n%s, want a mismatch", err, out)
	}

	// The figures.
	var rep metrics.Report
	if err := c.Do(ctx, "GET", "/api/v1/repos/"+name+"/metrics?since=7d", nil, &rep); err != nil {
		t.Fatal(err)
	}
	times := promotionTimes(t, filepath.Join(s.data, "sluice.db"))
	succ := func(p cd.Promotion) time.Time { return times[p.ID][cd.StateSuccess] }
	ended := func(p cd.Promotion) time.Time {
		if at, ok := times[p.ID][cd.StateFailure]; ok {
			return at
		}
		return succ(p)
	}
	dora := rep.DORA

	// Deployment frequency: D1, D2, R1, R2, D4, H1, D5 succeeded, in that order.
	deployed := []cd.Promotion{d1, d2, r1, r2, d4, h1, d5}
	var wantIDs, gotIDs []int64
	days := map[string]bool{}
	for _, p := range deployed {
		wantIDs = append(wantIDs, p.ID)
		days[succ(p).Format("2006-01-02")] = true
	}
	for _, dp := range dora.Frequency.Deployments {
		gotIDs = append(gotIDs, dp.Promotion)
	}
	if diff := cmp.Diff(wantIDs, gotIDs); diff != "" {
		t.Errorf("deployments (-want +got):\n%s", diff)
	}
	bucket := "weekly" // one full week: the days with a deployment in it decide
	if len(days) >= 3 {
		bucket = "daily"
	}
	if dora.Frequency.Count != 7 || dora.Frequency.PerDay != 1 || dora.Frequency.PerWeek != 7 || dora.Frequency.Bucket != bucket {
		t.Errorf("frequency %d, %v/day, %v/week, %s; want 7, 1, 7, %s", dora.Frequency.Count, dora.Frequency.PerDay,
			dora.Frequency.PerWeek, dora.Frequency.Bucket, bucket)
	}

	// Lead time, per commit (oldest commit first within a deployment): the first deployment
	// brought c1 and the README commit pushed before the repository was added; D2 c2; D4
	// c3 (whose own deployment failed) and c4; H1 c5; D5 c6 and c7.
	type lead struct {
		Commit    string
		Promotion int64
		Lead      float64
	}
	brought := []struct {
		p       cd.Promotion
		commits []string
	}{{d1, []string{c1, readme}}, {d2, []string{c2}}, {d4, []string{c3, c4}}, {h1, []string{c5}}, {d5, []string{c6, c7}}}
	var wantLeads []lead
	var leads []time.Duration
	for _, b := range brought {
		for _, cm := range b.commits {
			d := succ(b.p).Sub(m.commitTimes[cm])
			wantLeads = append(wantLeads, lead{cm, b.p.ID, ms(d)})
			leads = append(leads, d)
		}
	}
	var gotLeads []lead
	for _, cl := range dora.LeadTime.Commits {
		gotLeads = append(gotLeads, lead{cl.Commit, cl.Promotion, metrics.Seconds(cl.Lead).Float()})
	}
	if diff := cmp.Diff(wantLeads, gotLeads); diff != "" {
		t.Errorf("lead times (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(statsOf(leads), gotStats(dora.LeadTime.Stats)); diff != "" {
		t.Errorf("lead time n, median, p90 (-want +got):\n%s", diff)
	}

	// Change fail rate: of D1, D2, D3, D4, H1, D5, three needed intervention: D2 (rolled back
	// by hand: R1), D3 (verification; R2), D4 (its next promotion is the hotfix H1, within 24h;
	// D1 and D2 had been replaced by then).
	type failure struct {
		Promotion int64
		Why       []string
		By        int64
		Recovery  float64
	}
	wantFails := []failure{
		{d2.ID, []string{fmt.Sprintf("rolled back by %s (promotion #%d)", r1.StartedBy, r1.ID)}, r1.ID, ms(succ(r1).Sub(succ(d2)))},
		{d3.ID, []string{"failed verification", fmt.Sprintf("rolled back automatically (promotion #%d)", r2.ID)}, r2.ID, ms(succ(r2).Sub(ended(d3)))},
		{d4.ID, []string{fmt.Sprintf("followed by hotfix promotion #%d within 24h", h1.ID)}, h1.ID, ms(succ(h1).Sub(succ(d4)))},
	}
	var gotFails []failure
	for _, f := range dora.ChangeFailRate.Failures {
		rec := 0.0
		if f.Recovery != nil {
			rec = f.Recovery.Float()
		}
		gotFails = append(gotFails, failure{f.Promotion, f.Why, f.RecoveredBy, rec})
	}
	if diff := cmp.Diff(wantFails, gotFails); diff != "" {
		t.Errorf("failed deployments (-want +got):\n%s", diff)
	}
	if r := dora.ChangeFailRate; r.Num != 3 || r.Den != 6 || *r.Value != 0.5 {
		t.Errorf("change fail rate %d/%d = %v, want 3/6", r.Num, r.Den, *r.Value)
	}
	recoveries := []time.Duration{succ(r1).Sub(succ(d2)), succ(r2).Sub(ended(d3)), succ(h1).Sub(succ(d4))}
	if diff := cmp.Diff(statsOf(recoveries), gotStats(dora.Recovery.Stats)); diff != "" || dora.Recovery.Open != 0 {
		t.Errorf("recovery (open %d) (-want +got):\n%s", dora.Recovery.Open, diff)
	}
	// Rework: R1, R2 and H1 of the seven deployments.
	if r := dora.Rework; r.Num != 3 || r.Den != 7 || *r.Value != share(3, 7) {
		t.Errorf("rework %d/%d = %v, want 3/7", r.Num, r.Den, *r.Value)
	}

	// Runs as the API reports them: the raw facts of the pipeline figures.
	runs := s.runsCLI(t, name)
	details := map[int64]*server.RunDetail{}
	// earlier holds the jobs of runs' attempts before their current one (a re-run is the
	// run's next attempt): their tests and tools count too.
	earlier := map[int64][]server.JobView{}
	for _, r := range runs {
		d, err := c.GetRun(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		details[r.ID] = d
		for n := 1; n < len(d.Attempts); n++ {
			a, err := c.GetRunAttempt(ctx, r.ID, n)
			if err != nil {
				t.Fatal(err)
			}
			earlier[r.ID] = append(earlier[r.ID], a.Jobs...)
		}
	}
	// allJobs are a run's jobs of every attempt, kept ones (a re-run of failed jobs carries
	// them over) once.
	allJobs := func(d *server.RunDetail) []server.JobView {
		var out []server.JobView
		for _, j := range append(append([]server.JobView(nil), earlier[d.Run.ID]...), d.Jobs...) {
			if j.KeptFrom == nil {
				out = append(out, j)
			}
		}
		return out
	}

	// Dependency incident: run6 failed after run4 (the last green run of ci on main: the hotfix
	// ran on its branch, rollbacks are deployment runs), on a change of requirements.txt only;
	// run7 was green again.
	f6, f7 := *details[run6].Run.FinishedAt, *details[run7].Run.FinishedAt
	wantInc := []metrics.Incident{{Kind: "pipeline", Workflow: ".github/workflows/ci.yml", WorkflowName: "ci", Run: run6,
		RunNumber: details[run6].Run.Number, Commit: c6, Before: c4, Files: []string{"requirements.txt"}, Start: f6,
		FixedBy: run7, FixedCommit: c7, FixedAt: &f7, Duration: secondsPtr(f7.Sub(f6).Round(time.Millisecond))}}
	if diff := cmp.Diff(wantInc, rep.Dependencies.Incidents); diff != "" {
		t.Errorf("dependency incidents (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(statsOf([]time.Duration{f7.Sub(f6)}), gotStats(rep.Dependencies.MTTR)); diff != "" {
		t.Errorf("dependency MTTR (-want +got):\n%s", diff)
	}

	// Reproducibility: D5's release (c7) was rebuilt identical by the dispatched run and by
	// verify-repro; the hotfix's differs under verify-repro. 1 of 2.
	type verdict struct {
		Release      string
		Reproducible bool
		Evidence     []string
	}
	var gotRepro []verdict
	for _, r := range rep.Reproducibility.Releases {
		gotRepro = append(gotRepro, verdict{r.Release, r.Reproducible, r.Evidence})
	}
	wantRepro := []verdict{
		{h1.ReleaseID, false, []string{"verify-repro: differs (app-4.0.1-py3-none-any.whl)"}},
		{d5.ReleaseID, true, []string{fmt.Sprintf("run %d built the same bytes", rebuild.ID), "verify-repro: identical"}},
	}
	if diff := cmp.Diff(wantRepro, gotRepro); diff != "" {
		t.Errorf("reproducibility (-want +got):\n%s", diff)
	}
	if r := rep.Reproducibility.Rate; r.Num != 1 || r.Den != 2 {
		t.Errorf("reproducibility %d/%d, want 1/2", r.Num, r.Den)
	}

	// Emergency pins: c6 (an exact pin, no trailer) and c7 (the trailer and its cap); rollbacks
	// R1 and R2.
	wantPins := []metrics.Pin{
		{Commit: c6, Subject: m.subjects[c6], Author: "Dev", At: m.commitTimes[c6],
			Changes: []python.PinChange{{File: "requirements.txt", Package: "requests", Kind: python.PinExact, From: ">=2.31", To: "==2.0.0"}}},
		{Commit: c7, Subject: m.subjects[c7], Author: "Dev", At: m.commitTimes[c7], Trailer: []string{"urllib3<2"},
			Reason:  "urllib3 2 drops our TLS setup",
			Changes: []python.PinChange{{File: "requirements.txt", Package: "urllib3", Kind: python.PinUpperBound, To: "<2"}}},
	}
	if diff := cmp.Diff(wantPins, rep.Pins.Pins); diff != "" {
		t.Errorf("pins (-want +got):\n%s", diff)
	}
	var gotRollbacks []int64
	for _, rb := range rep.Pins.Rollbacks {
		gotRollbacks = append(gotRollbacks, rb.Promotion)
	}
	if diff := cmp.Diff([]int64{r1.ID, r2.ID}, gotRollbacks); diff != "" {
		t.Errorf("rollbacks (-want +got):\n%s", diff)
	}
	wantMonths := map[string][2]int{}
	for _, cm := range []string{c6, c7} {
		k := m.commitTimes[cm].Format("2006-01")
		wantMonths[k] = [2]int{wantMonths[k][0] + 1, wantMonths[k][1]}
	}
	for _, p := range []cd.Promotion{r1, r2} {
		k := succ(p).Format("2006-01")
		wantMonths[k] = [2]int{wantMonths[k][0], wantMonths[k][1] + 1}
	}
	gotMonths := map[string][2]int{}
	for _, mc := range rep.Pins.Months {
		if mc.Pins+mc.Rollbacks > 0 {
			gotMonths[mc.Month] = [2]int{mc.Pins, mc.Rollbacks}
		}
	}
	if diff := cmp.Diff(wantMonths, gotMonths); diff != "" {
		t.Errorf("pins and rollbacks per month (-want +got):\n%s", diff)
	}

	// Pipelines of ci: every run but the deployment runs of rollbacks, from their API times;
	// before and after c4 (runs of c4, c5 (its hotfix branch), c6, c7 and the rebuild are after).
	var walls, queues, before, after []time.Duration
	ok, total := 0, 0
	afterC4 := map[string]bool{c4: true, c5: true, c6: true, c7: true}
	for _, r := range runs {
		if r.Trigger == store.TriggerPromotion {
			continue
		}
		total++
		if r.Conclusion == store.ConclusionSuccess {
			ok++
		}
		wall := r.FinishedAt.Sub(*r.StartedAt)
		walls = append(walls, wall)
		queues = append(queues, r.StartedAt.Sub(r.QueuedAt))
		if afterC4[r.SHA] {
			after = append(after, wall)
		} else {
			before = append(before, wall)
		}
	}
	if len(rep.Pipelines.Workflows) != 1 {
		t.Fatalf("pipelines %+v, want ci only", rep.Pipelines.Workflows)
	}
	ci := rep.Pipelines.Workflows[0]
	if ci.Runs != total || ci.SuccessRate.Num != ok || ci.SuccessRate.Den != total {
		t.Errorf("ci: %d runs, %d/%d green; want %d, %d/%d", ci.Runs, ci.SuccessRate.Num, ci.SuccessRate.Den, total, ok, total)
	}
	if diff := cmp.Diff([][3]float64{statsOf(walls), statsOf(queues)}, [][3]float64{gotStats(ci.Wall), gotStats(ci.Queue)}); diff != "" {
		t.Errorf("ci wall and queue (-want +got):\n%s", diff)
	}
	var cmpRep metrics.Report
	if err := c.Do(ctx, "GET", "/api/v1/repos/"+name+"/metrics?since=7d&compare="+c4[:12], nil, &cmpRep); err != nil {
		t.Fatal(err)
	}
	ch := cmpRep.Pipelines.Workflows[0].Compare
	if diff := cmp.Diff([][3]float64{statsOf(before), statsOf(after)}, [][3]float64{gotStats(ch.Before), gotStats(ch.After)}); diff != "" {
		t.Errorf("ci before and after c4 (-want +got):\n%s", diff)
	}
	b50, a50 := nearestRank(before, 50), nearestRank(after, 50)
	pct := math.Round(float64(a50-b50)/float64(b50)*1000) / 10
	if ch.P50Change == nil || *ch.P50Change != pct || !strings.HasPrefix(ch.Summary, "since "+c4[:12]+" ci is ") {
		t.Errorf("compare: %v%% %q, want %v%%", ch.P50Change, ch.Summary, pct)
	}

	// Tests: test_flaky failed on c2 and passed there in the re-run; its job reported tests on
	// c1, c2, c3, c4, c5 and c7 (run6 stopped before pytest). Flake rate 1/6, last seen when
	// run2's build ended in its first attempt.
	first2, err := c.GetRunAttempt(ctx, run2, 1)
	if err != nil {
		t.Fatal(err)
	}
	build2 := jobByKey(t, first2, "build")
	if len(rep.Tests.Flaky) != 1 {
		t.Fatalf("flaky tests %+v, want one", rep.Tests.Flaky)
	}
	ft := rep.Tests.Flaky[0]
	if !strings.HasSuffix(ft.Name, "test_flaky") || ft.Job != ".github/workflows/ci.yml / build" || ft.Flakes != 1 || ft.Commits != 6 ||
		*ft.Rate.Value != share(1, 6) || !ft.LastSeen.Equal(*build2.FinishedAt) || !slices.Equal(ft.Examples, []string{c2}) {
		t.Errorf("flaky test %+v, want test_flaky on %s, 1 of 6, last seen %s", ft, c2[:8], build2.FinishedAt)
	}
	// Slowest tests, from the reports the server kept (DATA/jobs/<id>/tests.json): the mean
	// duration of each test's passes.
	sum, n := map[string]time.Duration{}, map[string]int{}
	for _, d := range details {
		for _, j := range allJobs(d) {
			b, err := os.ReadFile(filepath.Join(s.data, "jobs", fmt.Sprint(j.ID), "tests.json"))
			if err != nil {
				continue
			}
			var tr testreport.Report
			if err := json.Unmarshal(b, &tr); err != nil {
				t.Fatal(err)
			}
			for _, tc := range tr.Cases {
				if tc.Status == testreport.StatusPassed {
					sum[tc.ID()] += tc.Duration
					n[tc.ID()]++
				}
			}
		}
	}
	type slow struct {
		Name string
		Runs int
		Mean time.Duration
	}
	var wantSlow, gotSlow []slow
	for id := range sum {
		wantSlow = append(wantSlow, slow{id, n[id], sum[id] / time.Duration(n[id])})
	}
	slices.SortFunc(wantSlow, func(a, b slow) int {
		if a.Mean != b.Mean {
			return map[bool]int{true: -1, false: 1}[a.Mean > b.Mean]
		}
		return strings.Compare(a.Name, b.Name)
	})
	for i := range wantSlow {
		wantSlow[i].Mean = wantSlow[i].Mean.Round(time.Millisecond) // the API gives milliseconds
	}
	for _, st := range rep.Tests.Slowest {
		gotSlow = append(gotSlow, slow{st.Name, st.Runs, time.Duration(st.Mean)})
	}
	if diff := cmp.Diff(wantSlow, gotSlow); diff != "" || len(wantSlow) != 3 {
		t.Errorf("slowest tests (-want +got):\n%s", diff)
	}

	// Tool versions: every job that ran recorded the sluice that ran it.
	var tools metrics.Report
	if err := c.Do(ctx, "GET", "/api/v1/repos/"+name+"/metrics?since=7d&split_by=sluice", nil, &tools); err != nil {
		t.Fatal(err)
	}
	jobs, failedJobs := 0, 0
	for _, d := range details {
		for _, j := range allJobs(d) {
			if j.StartedAt != nil && (j.Conclusion == store.ConclusionSuccess || j.Conclusion == store.ConclusionFailure) {
				jobs++
				if j.Conclusion == store.ConclusionFailure {
					failedJobs++
				}
			}
		}
	}
	if ts := tools.Tools; ts == nil || len(ts.Versions) != 1 || ts.Versions[0].Version != "dev" || ts.Versions[0].Jobs != jobs ||
		ts.Versions[0].Failures != failedJobs || ts.Unknown != 0 {
		t.Errorf("jobs by sluice version %+v, want %d jobs (%d failed) of sluice dev", tools.Tools, jobs, failedJobs)
	}

	// The same figures as CSV, on /metrics, and in the server's log.
	out, err = s.cli(t, "", "metrics", "--repo", name, "--since", "7d", "--csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"deployments": "7", "change_fail_rate": "0.5", "rework_rate": fmt.Sprint(share(3, 7))}
	for _, row := range rows {
		if row[0] == "dora" && row[3] == "" {
			if v, ok := want[row[2]]; ok {
				if row[4] != v {
					t.Errorf("CSV %s = %s, want %s", row[2], row[4], v)
				}
				delete(want, row[2])
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("CSV lacks %v", want)
	}
	scrape := s.getRaw(t, "/metrics")
	if !strings.Contains(scrape, fmt.Sprintf(`sluice_deployments{env="production",repo="%s"} 7`, name)) ||
		!strings.Contains(scrape, fmt.Sprintf(`sluice_change_fail_rate{env="production",repo="%s"} 0.5`, name)) {
		t.Errorf("/metrics lacks the repository's deployments and change fail rate")
	}
	if log := s.proc.output(); !strings.Contains(log, `msg="sluice server starting" version=dev`) {
		t.Errorf("the server did not log its version at start")
	}
	_ = c3
}

func secondsPtr(d time.Duration) *metrics.Seconds {
	s := metrics.Seconds(d)
	return &s
}
