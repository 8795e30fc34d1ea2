package metrics

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/delivery"
	"github.com/sluice-ci/sluice/internal/store"
)

// computeThreeWays computes the report from the store, through a fresh cache and through the
// same cache again (warm: the mirror's answers remembered), and fails unless all three agree.
func computeThreeWays(t *testing.T, h *history, opts Options) *Report {
	t.Helper()
	repo := Repo{ID: h.repo.ID, Name: h.repo.Name, URL: h.repo.URL, DefaultBranch: "main", GitDir: h.bare}
	direct, err := Compute(h.ctx, h.db, repo, opts)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(direct)
	cache := &Cache{Margin: -1}
	for _, what := range []string{"cold", "warm"} {
		cached, err := Compute(h.ctx, cache.With(h.db), repo, opts)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := json.Marshal(cached); string(got) != string(want) {
			t.Errorf("%s cache: figures differ from the store's (-store +cache):\n%s", what, cmp.Diff(string(want), string(got)))
		}
	}
	return direct
}

// pyproject is a project declaring attrs, with more tables after.
func pyproject(dep, more string) string {
	return "[project]\nname = \"app\"\nversion = \"1.0\"\ndependencies = [\"" + dep + "\"]\n" + more
}

// The rules that make a default-branch failure a dependency incident, one history each: c1 green
// (run1, t0+1m to t0+3m), c2 red (run2, t0+1h1m to t0+1h4m), c3 (a code change) green again
// (run3, t0+2h1m to t0+2h3m). An incident lasts from run2's end to run3's: 59m. The lock hash
// each run records is the one the server computes from the commit's tree.
func TestDependencyIncidentRules(t *testing.T) {
	base := map[string]string{"app.py": "v = 1\n", "requirements.txt": "attrs>=23\n",
		"pyproject.toml": pyproject("attrs>=23", "[tool.pytest.ini_options]\naddopts = \"-q\"\n"), "uv.lock": "version = 1\n# attrs 23.2.0\n"}
	viaGit := pyproject("attrs>=23", "[tool.uv.sources]\nattrs = { git = \"https://forge.example/attrs.git\", tag = \"24.1\" }\n"+
		"[tool.pytest.ini_options]\naddopts = \"-q\"\n")
	tests := []struct {
		name   string
		change map[string]string
		noLock bool     // the runs were planned with no lock hash recorded
		files  []string // the incident's files; nil: no incident
		byLock bool     // found by the resolved set (the lock hash) rather than the files alone
	}{
		{name: "declared: a requirements file only", change: map[string]string{"requirements.txt": "attrs==23.1.0\n"},
			files: []string{"requirements.txt"}},
		{name: "declared: pyproject's dependencies and the lock",
			change: map[string]string{"pyproject.toml": pyproject("attrs>=24", "[tool.pytest.ini_options]\naddopts = \"-q\"\n"),
				"uv.lock": "version = 1\n# attrs 24.1.0\n"},
			files: []string{"pyproject.toml", "uv.lock"}},
		{name: "resolved: a git source in pyproject and the lock",
			change: map[string]string{"pyproject.toml": viaGit, "uv.lock": "version = 1\n# attrs 24.1 from git\n"},
			files:  []string{"pyproject.toml", "uv.lock"}, byLock: true},
		{name: "resolved, but the runs recorded no lock hash", noLock: true,
			change: map[string]string{"pyproject.toml": viaGit, "uv.lock": "version = 1\n# attrs 24.1 from git\n"}},
		{name: "pyproject beyond its dependency tables, the lock unchanged",
			change: map[string]string{"pyproject.toml": pyproject("attrs>=23", "[tool.pytest.ini_options]\naddopts = \"-x\"\n")}},
		{name: "the lock and code", change: map[string]string{"uv.lock": "version = 1\n# attrs 24.1.0\n", "app.py": "v = 2\n"}},
		{name: "code only", change: map[string]string{"app.py": "v = 2\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistory(t)
			main := "refs/heads/main"
			lockOf := func() string {
				if tt.noLock {
					return ""
				}
				return delivery.LockHash(h.work)
			}
			c1 := h.commit("main", t0, "c1", base)
			lock1 := lockOf()
			h.run("ci.yml", main, c1, "push", t0.Add(mn), jobSpec{key: "test", conclusion: store.ConclusionSuccess, took: 2 * mn, lock: lock1})
			c2 := h.commit("main", t0.Add(hr), "c2", tt.change)
			lock2 := lockOf()
			run2 := h.run("ci.yml", main, c2, "push", t0.Add(hr+mn), jobSpec{key: "test", conclusion: store.ConclusionFailure, took: 3 * mn, lock: lock2})
			c3 := h.commit("main", t0.Add(2*hr), "c3", map[string]string{"app.py": "v = 3\n"})
			lock3 := lockOf()
			run3 := h.run("ci.yml", main, c3, "push", t0.Add(2*hr+mn), jobSpec{key: "test", conclusion: store.ConclusionSuccess, took: 2 * mn, lock: lock3})

			rep := computeThreeWays(t, h, Options{Now: t0.Add(24 * hr), Since: t0.Add(-24 * hr)})
			want := Dependencies{Definition: defDependencies, Incidents: []Incident{}}
			if tt.files != nil {
				in := Incident{Kind: "pipeline", Workflow: ".github/workflows/ci.yml", WorkflowName: "ci", Run: run2.ID, RunNumber: run2.Number,
					Commit: c2, Before: c1, Files: tt.files, Start: t0.Add(hr + 4*mn), FixedBy: run3.ID, FixedCommit: c3,
					FixedAt: ptr(t0.Add(2*hr + 3*mn)), Duration: secs(59 * mn)}
				if tt.byLock {
					in.Lock = &LockChange{Before: lock1, After: lock2}
				}
				want.Incidents = []Incident{in}
				want.MTTR = Stats{N: 1, Median: secs(59 * mn), P90: secs(59 * mn)}
			}
			if diff := cmp.Diff(want, rep.Dependencies); diff != "" {
				t.Errorf("dependency incidents (-want +got):\n%s", diff)
			}
			if tt.byLock && lock1 == lock2 {
				t.Fatalf("the history is wrong: the lock hash %s did not change", lock1)
			}
		})
	}
}

// A failed production deployment is a dependency incident when the change since the
// environment's last good deployment is one. d1 deploys c1 (t0 to t0+10m); d2 deploys c2 (t0+1h
// to t0+1h10m); when restored, a rollback to c1's release runs t0+1h15m to t0+1h20m: the
// incident lasts from d2's end to the rollback's, 10m.
func TestDependencyIncidentsOfDeployments(t *testing.T) {
	base := map[string]string{"app.py": "v = 1\n", "requirements.txt": "attrs>=23\n",
		"pyproject.toml": pyproject("attrs>=23", ""), "uv.lock": "version = 1\n# attrs 23.2.0\n"}
	viaGit := map[string]string{"pyproject.toml": pyproject("attrs>=23", "[tool.uv.sources]\nattrs = { git = \"https://forge.example/attrs.git\" }\n"),
		"uv.lock": "version = 1\n# attrs from git\n"}
	tests := []struct {
		name     string
		change   map[string]string
		end      cd.State // how d2 ended
		reason   string
		restored bool // rolled back to c1's release
		runs     bool // the deployments ran as runs, which recorded the lock hash
		files    []string
		byLock   bool
	}{
		{name: "dependency-only change fails verification, rolled back", change: map[string]string{"requirements.txt": "attrs==23.1.0\n"},
			end: cd.StateFailure, reason: "verification failed: /health answered sick", restored: true, files: []string{"requirements.txt"}},
		{name: "dependency-only change deployed, rolled back by hand", change: map[string]string{"requirements.txt": "attrs==23.1.0\n"},
			end: cd.StateSuccess, restored: true, files: []string{"requirements.txt"}},
		{name: "dependency-only change fails, not restored yet", change: map[string]string{"requirements.txt": "attrs==23.1.0\n"},
			end: cd.StateFailure, reason: "verification failed", files: []string{"requirements.txt"}},
		{name: "code change fails", change: map[string]string{"app.py": "v = 2\n"}, end: cd.StateFailure, reason: "verification failed",
			restored: true},
		{name: "dependency-only change succeeds and stays", change: map[string]string{"requirements.txt": "attrs==23.1.0\n"},
			end: cd.StateSuccess},
		{name: "resolved: a git source and the lock, deployed by runs", change: viaGit, end: cd.StateFailure, reason: "verification failed",
			restored: true, runs: true, files: []string{"pyproject.toml", "uv.lock"}, byLock: true},
		{name: "resolved, deployed with no runs to say", change: viaGit, end: cd.StateFailure, reason: "verification failed",
			restored: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistory(t)
			// deployRun is a deployment's run at sha, planned with lock: what the server starts
			// for a promotion (0 when the deployments ran no runs).
			deployRun := func(sha, lock string, at time.Time) int64 {
				if !tt.runs {
					return 0
				}
				h.at(at)
				spec, _ := json.Marshal(map[string]string{"lock_hash": lock})
				r, _, err := h.db.CreateRun(h.ctx, store.Run{RepoID: h.repo.ID, Workflow: ".github/workflows/deploy.yml", Event: "workflow_dispatch",
					Ref: "refs/heads/main", SHA: sha, Trigger: store.TriggerPromotion}, []store.Job{{Key: "deploy", Status: store.StatusQueued, Spec: spec}})
				if err != nil {
					t.Fatal(err)
				}
				return r.ID
			}
			c1 := h.commit("main", t0.Add(-hr), "c1", base)
			lock1 := delivery.LockHash(h.work)
			run1 := deployRun(c1, lock1, t0)
			rel1 := h.release(c1, run1, t0, "bytes of c1")
			h.promoteWith(cd.Promotion{Env: "production", ReleaseID: rel1.ID, Kind: cd.KindForward, StartedBy: "alice", RunID: run1},
				t0, 10*mn, cd.StateSuccess, "")
			c2 := h.commit("main", t0.Add(30*mn), "c2", tt.change)
			lock2 := delivery.LockHash(h.work)
			run2 := deployRun(c2, lock2, t0.Add(hr))
			d2 := h.promoteWith(cd.Promotion{Env: "production", ReleaseID: h.release(c2, run2, t0.Add(hr), "bytes of c2").ID,
				Kind: cd.KindForward, StartedBy: "alice", RunID: run2}, t0.Add(hr), 10*mn, tt.end, tt.reason)
			var back *cd.Promotion
			if tt.restored {
				back = h.promote("production", rel1, cd.KindRollback, false, "bob", t0.Add(hr+15*mn), 5*mn, cd.StateSuccess, "")
			}

			rep := computeThreeWays(t, h, Options{Now: t0.Add(24 * hr), Since: t0.Add(-24 * hr)})
			want := Dependencies{Definition: defDependencies, Incidents: []Incident{}}
			if tt.files != nil {
				in := Incident{Kind: "deployment", Env: "production", Promotion: d2.ID, Commit: c2, Before: c1, Files: tt.files,
					Start: t0.Add(hr + 10*mn)}
				if tt.byLock {
					in.Lock = &LockChange{Before: lock1, After: lock2}
				}
				if back != nil {
					in.FixedBy, in.FixedCommit, in.FixedAt, in.Duration = back.ID, c1, ptr(t0.Add(hr+20*mn)), secs(10*mn)
					want.MTTR = Stats{N: 1, Median: secs(10 * mn), P90: secs(10 * mn)}
				} else {
					want.Open = 1
				}
				want.Incidents = []Incident{in}
			}
			if diff := cmp.Diff(want, rep.Dependencies); diff != "" {
				t.Errorf("dependency incidents (-want +got):\n%s", diff)
			}
		})
	}
}
