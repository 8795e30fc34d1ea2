package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/testenv"
)

// fakeForge stands in for GitHub's API: it records every call and answers pull requests
// and commit statuses the way GitHub does.
type fakeForge struct {
	URL   string
	mu    sync.Mutex
	calls []forgeCall
}

type forgeCall struct {
	Method, Path, Auth string
	Body               map[string]any
}

func newFakeForge(t *testing.T) *fakeForge {
	t.Helper()
	f := &fakeForge{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		f.mu.Lock()
		f.calls = append(f.calls, forgeCall{r.Method, r.URL.Path, r.Header.Get("Authorization"), body})
		n := len(f.calls)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		if strings.HasSuffix(r.URL.Path, "/pulls") {
			json.NewEncoder(w).Encode(map[string]any{"number": n, "html_url": f.URL + "/acme/app/pull/" + strconv.Itoa(n)})
			return
		}
		w.Write([]byte(`{"id": 1}`))
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *fakeForge) pulls() []forgeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []forgeCall
	for _, c := range f.calls {
		if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/pulls") {
			out = append(out, c)
		}
	}
	return out
}

// depsCheckWorkflow installs exactly what uv.lock pins from the local index and fails when
// delta's release is the breaking one: the repository's own test, run by sluice.
func depsCheckWorkflow() string {
	return `name: ci
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: import what uv.lock pins
        run: |
          python3 - <<'EOF'
          import os, sys, tomllib, urllib.request
          lock = tomllib.load(open("uv.lock", "rb"))
          for p in lock["package"]:
              if "registry" not in p.get("source", {}):
                  continue
              print(p["name"], p["version"])
              for w in p.get("wheels", []):
                  path = os.path.join(os.environ["RUNNER_TEMP"], w["url"].rsplit("/", 1)[1])
                  urllib.request.urlretrieve(w["url"], path)
                  sys.path.insert(0, path)
          import delta
          print("delta", "OK" if delta.OK else "broken")
          sys.exit(0 if delta.OK else 1)
          EOF
`
}

// gitHost serves bare repositories under root over git's smart HTTP, pushes included, as a
// forge hosts them: the URL names owner/name as a forge's does.
func gitHost(t *testing.T) (root, url string) {
	t.Helper()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git")
	}
	root = t.TempDir()
	h := &cgi.Handler{Path: gitBin, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return root, srv.URL
}

// hostedRepo makes root/owner/name.git with files on main, pushable over HTTP.
func hostedRepo(t *testing.T, root, full string, files map[string]string) *gitRepo {
	t.Helper()
	g := &gitRepo{bare: filepath.Join(root, full+".git"), work: filepath.Join(t.TempDir(), "work")}
	runGit(t, root, "init", "--quiet", "--bare", "-b", "main", g.bare)
	runGit(t, g.bare, "config", "http.receivepack", "true")
	runGit(t, root, "init", "--quiet", "-b", "main", g.work)
	runGit(t, g.work, "remote", "add", "origin", g.bare)
	g.commit(t, files, "first commit")
	return g
}

func (s *srv) deps(t *testing.T, repo string) server.DepsView {
	t.Helper()
	var v server.DepsView
	if err := json.Unmarshal([]byte(s.getRaw(t, "/api/v1/repos/"+repo+"/deps")), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestScheduledDependencyUpdates drives the server's dependency updates end to end: a real
// index with a breaking release, real lock tools, the repository's own workflow run by the
// embedded agent, pull requests on a fake GitHub that records the calls (one found failing by
// bisection, with the breaking package named), and an auto-merge on green.
func TestScheduledDependencyUpdates(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs a package index and lock tools")
	}
	lockPy := testenv.LockTools(t)
	ctx := context.Background()
	idx := testenv.StartLocalIndex(t, ctx, testenv.PypiTools(t))
	old := time.Now().Add(-400 * 24 * time.Hour)
	for _, w := range []testenv.WheelSpec{
		{Name: "alpha", Version: "1.0.0"}, {Name: "beta", Version: "1.0.0"}, {Name: "delta", Version: "1.0.0", Module: "OK = True\n"},
	} {
		w.Uploaded = old
		testenv.WriteWheel(t, idx.Packages, w)
	}
	simple := idx.URL + "/simple"
	pyproject := func(deps string) string {
		return "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\ndependencies = [" + deps + "]\n\n[[tool.uv.index]]\nurl = \"" + simple + "\"\ndefault = true\n"
	}
	lock := func(files map[string]string) map[string]string {
		dir := t.TempDir()
		testenv.WriteFiles(t, dir, files)
		testenv.Run(t, ctx, dir, []string{"UV_CACHE_DIR=" + t.TempDir(), "UV_PYTHON_DOWNLOADS=never"}, lockPy, "-m", "uv", "lock", "-q")
		b, err := os.ReadFile(filepath.Join(dir, "uv.lock"))
		if err != nil {
			t.Fatal(err)
		}
		files["uv.lock"] = string(b)
		return files
	}
	appFiles := lock(map[string]string{
		"pyproject.toml":           pyproject(`"alpha", "beta", "delta"`),
		".sluice/deps.yml":         "mode: pull-request\ngroups:\n  - name: runtime\n    patterns: [beta, delta]\n",
		".github/workflows/ci.yml": depsCheckWorkflow(),
	})
	svcFiles := lock(map[string]string{
		"pyproject.toml":           pyproject(`"beta", "delta"`),
		".sluice/deps.yml":         "mode: merge\nschedule: off\ngroups:\n  - name: safe\n    patterns: [beta]\n",
		".github/workflows/ci.yml": depsCheckWorkflow(),
	})
	// The new releases: delta 1.1.0 breaks the app's test.
	day := 24 * time.Hour
	for _, w := range []testenv.WheelSpec{
		{Name: "alpha", Version: "2.0.0", Uploaded: time.Now().Add(-9 * day)},
		{Name: "beta", Version: "1.0.1", Uploaded: time.Now().Add(-8 * day)},
		{Name: "delta", Version: "1.1.0", Uploaded: time.Now().Add(-7 * day), Module: "OK = False\n"},
	} {
		testenv.WriteWheel(t, idx.Packages, w)
	}

	forge := newFakeForge(t)
	s := startServer(t, 2, "--deps-every", "1s")
	root, host := gitHost(t)
	app := hostedRepo(t, root, "acme/app", appFiles)
	svc := hostedRepo(t, root, "acme/svc", svcFiles)
	s.mustCLI(t, "repo", "add", "app", "--url", host+"/acme/app.git", "--default-branch", "main", "--forge", "github", "--status-token", "ghp-test", "--api-url", forge.URL+"/api/v3")
	s.mustCLI(t, "repo", "add", "svc", "--url", host+"/acme/svc.git", "--default-branch", "main")
	// The schedules: app's fires (weekly, the repository is new enough that the next Monday
	// may be days away), so both are started on demand, as a user would from the API.
	for _, name := range []string{"app", "svc"} {
		req, _ := http.NewRequest(http.MethodPost, s.url+"/api/v1/repos/"+name+"/deps/update", nil)
		req.Header.Set("Authorization", "Bearer "+s.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("starting the update of %s: %s", name, resp.Status)
		}
	}
	ended := func(repo string, groups ...string) map[string]store.DepUpdate {
		return waitFor(t, repo+"'s updates to end", 5*time.Minute, func() (map[string]store.DepUpdate, bool, error) {
			v := s.deps(t, repo)
			out := map[string]store.DepUpdate{}
			for _, u := range v.Updates {
				out[u.Group] = u
			}
			for _, g := range groups {
				if u, ok := out[g]; !ok || u.Active() {
					return out, false, nil
				}
			}
			return out, true, nil
		})
	}
	t.Cleanup(func() {
		if t.Failed() {
			for j := int64(1); j <= 6; j++ {
				t.Logf("log of job %d:\n%s", j, s.jobLog(t, j))
			}
		}
	})
	appUpdates := ended("app", "runtime", "alpha")
	runtime := appUpdates["runtime"]
	if runtime.State != store.DepPROpen || !strings.Contains(runtime.Finding, "delta 1.0.0 → 1.1.0 breaks the build") {
		t.Errorf("runtime group: state %s, finding %q, detail %q", runtime.State, runtime.Finding, runtime.Detail)
	}
	if a := appUpdates["alpha"]; a.State != store.DepPROpen {
		t.Errorf("alpha group: state %s, detail %q", a.State, a.Detail)
	}
	pulls := forge.pulls()
	if len(pulls) != 2 {
		t.Fatalf("pull requests opened: %+v", pulls)
	}
	var sawFailing bool
	for _, p := range pulls {
		if p.Path != "/api/v3/repos/acme/app/pulls" {
			t.Errorf("pull request path %s", p.Path)
		}
		if p.Auth != "Bearer ghp-test" {
			t.Errorf("pull request auth %q", p.Auth)
		}
		if p.Body["base"] != "main" || !strings.HasPrefix(p.Body["head"].(string), "sluice/deps/") {
			t.Errorf("pull request branches: %v", p.Body)
		}
		body, _ := p.Body["body"].(string)
		if p.Body["head"] == "sluice/deps/runtime" {
			sawFailing = true
			if !strings.Contains(body, "delta 1.0.0 → 1.1.0 breaks the build") || !strings.Contains(body, "The update fails") || !strings.Contains(body, "| `beta` | 1.0.0 → 1.0.1 |") {
				t.Errorf("failing pull request body:\n%s", body)
			}
		}
	}
	if !sawFailing {
		t.Error("no pull request for the failing runtime group")
	}
	// The branch carries the update commit with its trailer.
	trailer := strings.TrimSpace(runGit(t, app.bare, "log", "-1", "--format=%(trailers:key=Sluice-Update,valueonly)", "refs/heads/sluice/deps/runtime"))
	if trailer != "runtime" {
		t.Errorf("Sluice-Update trailer on the branch: %q", trailer)
	}

	svcUpdates := ended("svc", "safe")
	if u := svcUpdates["safe"]; u.State != store.DepMerged {
		t.Fatalf("svc's update: state %s detail %q", u.State, u.Detail)
	}
	mainLock := runGit(t, svc.bare, "show", "main:uv.lock")
	if !strings.Contains(mainLock, "name = \"beta\"\nversion = \"1.0.1\"") || !strings.Contains(mainLock, "name = \"delta\"\nversion = \"1.0.0\"") {
		t.Errorf("svc's main after the merge:\n%s", mainLock)
	}
	v := s.deps(t, "svc")
	if v.Status == nil || v.Status.Packages != 2 || v.Status.OldestName == "" {
		t.Errorf("svc's status: %+v", v.Status)
	}
}
