package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/executor/container"
)

// serviceImage is the image the example service's deployments run.
const serviceImage = "localhost/sluice/python:3.11"

// requireContainers skips (or, with SLUICE_REQUIRE_CONTAINERS=1, fails)
// when no container engine answers or the service image is missing.
func requireContainers(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e, err := container.Connect(ctx, "")
	if err == nil {
		defer e.Close()
		err = e.EnsureImage(ctx, serviceImage, nil, nil)
	}
	if err != nil {
		if os.Getenv("SLUICE_REQUIRE_CONTAINERS") == "1" {
			t.Fatalf("SLUICE_REQUIRE_CONTAINERS=1 but: %v", err)
		}
		t.Skipf("skipping: no container engine or image (scripts/podman-setup.sh, scripts/build-images.sh): %v", err)
	}
}

// serviceBuild is the service's build: a wheel of its package, written by
// hand (zipfile, fixed times) so that the test needs no build backend from
// PyPI. The package carries the version and what /health answers.
const serviceBuild = `import base64, hashlib, pathlib, zipfile
version = pathlib.Path("app/VERSION").read_text().strip()
health = pathlib.Path("app/HEALTH").read_text().strip()
files = {
    "svc/__init__.py": f"VERSION = {version!r}\nHEALTH = {health!r}\n",
    f"svc-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: svc\nVersion: {version}\n",
    f"svc-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: build.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
for name, text in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
    record.append(f"{name},sha256={digest},{len(text.encode())}")
record.append(f"svc-{version}.dist-info/RECORD,,")
files[f"svc-{version}.dist-info/RECORD"] = "\n".join(record) + "\n"
pathlib.Path("dist").mkdir(exist_ok=True)
with zipfile.ZipFile(f"dist/svc-{version}-py3-none-any.whl", "w", zipfile.ZIP_DEFLATED) as z:
    for name, text in files.items():
        z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), text)
`

// serviceWorkflow builds the service's wheel and deploys it to staging, then
// production, as a container answering the wheel's VERSION on / and its
// HEALTH on /health.
func serviceWorkflow(name string, stagingPort, prodPort int) string {
	deploy := func(env string, port int) string {
		return fmt.Sprintf(`    runs-on: ubuntu-latest
    environment:
      name: %[1]s
      url: http://127.0.0.1:%[2]d/
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: app
          path: dist
      - id: v
        shell: python
        run: |
          import glob, os, zipfile
          (wheel,) = glob.glob("dist/svc-*.whl")
          ns = {}
          exec(zipfile.ZipFile(wheel).read("svc/__init__.py"), ns)
          with open(os.environ["GITHUB_OUTPUT"], "a") as out:
              out.write(f"version={ns['VERSION']}\nhealth={ns['HEALTH']}\n")
      - uses: sluice/deploy-container@v1
        with:
          name: %[3]s-%[1]s
          image: %[4]s
          ports: "%[2]d:8000"
          env: |
            VERSION=${{ steps.v.outputs.version }}
            HEALTH=${{ steps.v.outputs.health }}
          cmd: sh -c 'mkdir -p /srv && echo "$VERSION" > /srv/index.html && echo "$HEALTH" > /srv/health && cd /srv && exec python3 -m http.server 8000'
          options: --health-cmd "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 8000), 1)'" --health-interval 1s --health-retries 60
`, env, port, name, serviceImage)
	}
	return `name: ci
on: [push, workflow_dispatch]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: python3 build.py
      - uses: actions/upload-artifact@v4
        with:
          name: app
          path: dist/
  staging:
    needs: build
` + deploy("staging", stagingPort) + `  production:
    needs: staging
` + deploy("production", prodPort)
}

func serviceEnvironments(stagingPort, prodPort int) string {
	return fmt.Sprintf(`strategy: trunk
environments:
  staging:
    verify:
      http: {url: "http://127.0.0.1:%d/", status: 200, retries: 10, timeout: 2s}
  production:
    reviewers: [alice, bob, carol]
    required-approvals: 2
    auto-rollback: true
    verify:
      http: {url: "http://127.0.0.1:%d/health", contains: healthy, retries: 2, timeout: 2s}
`, stagingPort, prodPort)
}

// token creates an API token named name with write scope.
func (s *srv) tokenFor(t *testing.T, name string) string {
	t.Helper()
	out := strings.TrimSpace(s.mustCLI(t, "token", "create", name, "--scope", "write"))
	fields := strings.Fields(out)
	return fields[len(fields)-1]
}

// cliAs runs a CLI command with another token.
func (s *srv) cliAs(t *testing.T, token string, args ...string) (string, error) {
	t.Helper()
	return s.cli(t, "", append(args, "--token", token)...)
}

func (s *srv) deployments(t *testing.T, repo, env string) []cd.Promotion {
	t.Helper()
	out := s.mustCLI(t, "deployments", env, "--repo", repo, "--json")
	var ps []cd.Promotion
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		t.Fatalf("decoding sluice deployments --json %q: %v", out, err)
	}
	return ps
}

// waitPromotion waits for the newest promotion of env to be of release
// (any release when "") and in state.
func (s *srv) waitPromotion(t *testing.T, repo, env, release string, state cd.State, timeout time.Duration) cd.Promotion {
	t.Helper()
	return s.waitPromotionAfter(t, repo, env, release, state, 0, timeout)
}

// waitPromotionAfter is waitPromotion for a promotion newer than #after.
func (s *srv) waitPromotionAfter(t *testing.T, repo, env, release string, state cd.State, after int64, timeout time.Duration) cd.Promotion {
	t.Helper()
	return waitFor(t, fmt.Sprintf("a %s promotion to %s", state, env), timeout, func() (cd.Promotion, bool, error) {
		ps := s.deployments(t, repo, env)
		if len(ps) == 0 || ps[0].ID <= after {
			return cd.Promotion{}, false, fmt.Errorf("no new promotion yet")
		}
		p := ps[0]
		// Another release's promotion may end otherwise on the way (a failed
		// release is newest until its automatic rollback is created).
		if p.State.Terminal() && p.State != state && p.State != cd.StateInactive && (release == "" || p.ReleaseID == release) {
			t.Fatalf("promotion #%d to %s ended %s (%s), want %s", p.ID, env, p.State, p.Reason, state)
		}
		if p.State == state && (release == "" || p.ReleaseID == release) {
			return p, true, nil
		}
		return p, false, fmt.Errorf("newest is #%d %s (%s)", p.ID, p.State, p.Reason)
	})
}

func answer(url string) string {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

func waitAnswer(t *testing.T, url, want string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s to answer %q", url, want), 60*time.Second, func() (string, bool, error) {
		if got := answer(url); got != want {
			return got, false, fmt.Errorf("answers %q", got)
		}
		return want, true, nil
	})
}

func removeContainers(names ...string) {
	for _, n := range names {
		_ = exec.Command("podman", "rm", "-f", "--ignore", n).Run()
	}
}

// TestServiceThroughStagingToProduction is issue 7's walk: a service's
// release goes to staging by itself, to production after two of three
// reviewers approve (the author cannot), a broken release is rolled back by
// itself when production's verification fails, a rollback by command
// restores the release before, and a tampered release is refused.
func TestServiceThroughStagingToProduction(t *testing.T) {
	requireContainers(t)
	t.Parallel()
	s := startServer(t, 2)
	stagingPort, prodPort := freePort(t), freePort(t)
	name := "svc" + randomHex(t, 4)
	t.Cleanup(func() { removeContainers(name+"-staging", name+"-production") })
	staging, prod := fmt.Sprintf("http://127.0.0.1:%d/", stagingPort), fmt.Sprintf("http://127.0.0.1:%d/", prodPort)

	g, _ := newGitRepo(t, map[string]string{
		".github/workflows/ci.yml": serviceWorkflow(name, stagingPort, prodPort),
		".sluice/environments.yml": serviceEnvironments(stagingPort, prodPort),
		"build.py":                 serviceBuild,
		"app/VERSION":              "1.0.0\n",
		"app/HEALTH":               "healthy\n",
	})
	s.addRepo(t, name, g, "s3cret")
	alice, bob, carol := s.tokenFor(t, "alice"), s.tokenFor(t, "bob"), s.tokenFor(t, "carol")

	// release ships one version: staging by itself, production once two
	// reviewers other than its author approve.
	release := func(version string) string {
		t.Helper()
		var last int64
		if out, err := s.cli(t, "", "deployments", "staging", "--repo", name, "--json"); err == nil {
			var ps []cd.Promotion
			if json.Unmarshal([]byte(out), &ps) == nil && len(ps) > 0 {
				last = ps[0].ID
			}
		}
		out, err := s.cliAs(t, alice, "dispatch", name, "ci.yml", "--json")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, `"id"`) {
			t.Fatalf("dispatch printed %q", out)
		}
		p := s.waitPromotionAfter(t, name, "staging", "", cd.StateSuccess, last, 3*time.Minute)
		if got := answer(staging); got != version {
			t.Fatalf("staging answers %q after promotion #%d, want %q", got, p.ID, version)
		}
		if p.URL != staging {
			t.Errorf("staging promotion URL %q, want %q (environment.url)", p.URL, staging)
		}
		w := s.waitPromotion(t, name, "production", p.ReleaseID, cd.StateWaiting, time.Minute)
		id := fmt.Sprint(w.ID)
		if out, err := s.cliAs(t, alice, "approve", id); err == nil || !strings.Contains(err.Error(), "cannot approve") {
			t.Fatalf("alice approving her own promotion: %q, %v; want a refusal", out, err)
		}
		if _, err := s.cliAs(t, bob, "approve", id, "--comment", "looks good"); err != nil {
			t.Fatal(err)
		}
		if got := s.deployments(t, name, "production")[0]; got.State != cd.StateWaiting || len(got.Approvals) != 1 {
			t.Fatalf("after one approval: %s with %d approvals, want waiting with 1", got.State, len(got.Approvals))
		}
		if _, err := s.cliAs(t, carol, "approve", id); err != nil {
			t.Fatal(err)
		}
		return p.ReleaseID
	}

	r1 := release("1.0.0")
	s.waitPromotion(t, name, "production", r1, cd.StateSuccess, 3*time.Minute)
	waitAnswer(t, prod, "1.0.0")

	g.commit(t, map[string]string{"app/VERSION": "2.0.0\n"}, "v2")
	r2 := release("2.0.0")
	s.waitPromotion(t, name, "production", r2, cd.StateSuccess, 3*time.Minute)
	waitAnswer(t, prod, "2.0.0")

	// 3.0.0 deploys, but production's verification reads "sick" on
	// /health: sluice rolls production back to 2.0.0 by itself.
	g.commit(t, map[string]string{"app/VERSION": "3.0.0\n", "app/HEALTH": "sick\n"}, "v3")
	r3 := release("3.0.0")
	back := s.waitPromotion(t, name, "production", r2, cd.StateSuccess, 4*time.Minute)
	if back.Kind != cd.KindRollback || !back.Auto {
		t.Errorf("production's newest promotion %+v, want an automatic rollback", back)
	}
	waitAnswer(t, prod, "2.0.0")
	hist := s.deployments(t, name, "production")
	var failed bool
	for _, h := range hist {
		if h.ReleaseID == r3 && h.State == cd.StateFailure && strings.Contains(h.Reason, "verification") {
			failed = true
		}
	}
	if !failed {
		t.Errorf("production history has no failed verification of 3.0.0: %+v", hist)
	}

	// A rollback by command restores the release before the current one,
	// once two reviewers other than the one who asked approve it.
	out, err := s.cliAs(t, bob, "rollback", "production", "--repo", name, "--json")
	if err != nil {
		t.Fatalf("sluice rollback: %v\n%s", err, out)
	}
	var rb cd.Promotion
	if err := json.Unmarshal([]byte(out), &rb); err != nil || rb.Kind != cd.KindRollback || rb.ReleaseID != r1 {
		t.Fatalf("sluice rollback --json: %q (%v), want a rollback to %s", out, err, r1)
	}
	for _, tok := range []string{alice, carol} {
		if _, err := s.cliAs(t, tok, "approve", fmt.Sprint(rb.ID)); err != nil {
			t.Fatal(err)
		}
	}
	s.waitPromotion(t, name, "production", r1, cd.StateSuccess, time.Minute)
	waitAnswer(t, prod, "1.0.0")

	// Tampering with 2.0.0's stored artifact makes its promotion refused.
	tamperArtifacts(t, filepath.Join(s.data, "artifacts"), "svc-2.0.0-py3-none-any.whl")
	out, err = s.cliAs(t, bob, "promote", r2, "--to", "production", "--repo", name)
	if err == nil || !strings.Contains(err.Error(), "digest") {
		t.Fatalf("promoting a tampered release: %q, %v; want a digest mismatch", out, err)
	}
	if got := answer(prod); got != "1.0.0" {
		t.Errorf("production answers %q after a refused promotion, want 1.0.0", got)
	}
}

// tamperArtifacts appends a byte to the file named base in every stored
// artifact zip: what a disk fault or an attacker with access to the data
// directory would do.
func tamperArtifacts(t *testing.T, dir, base string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".zip") {
			return err
		}
		zr, err := zip.OpenReader(p)
		if err != nil {
			return nil
		}
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		changed := false
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if filepath.Base(f.Name) == base {
				b, changed = append(b, 0), true
			}
			w, err := zw.Create(f.Name)
			if err != nil {
				return err
			}
			_, _ = w.Write(b)
		}
		zr.Close()
		if err := zw.Close(); err != nil {
			return err
		}
		if changed {
			n++
			return os.WriteFile(p, buf.Bytes(), 0o644)
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("tampering with %s in %s: %d zips changed, %v", base, dir, n, err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	addr := freeAddr(t)
	var port int
	if _, err := fmt.Sscanf(addr[strings.LastIndex(addr, ":")+1:], "%d", &port); err != nil {
		t.Fatalf("port of %s: %v", addr, err)
	}
	return port
}

// TestConcurrentPromotionsSerialise promotes two releases to one
// environment at once: the second deployment starts only after the first
// ended, whatever the number of free agents.
func TestConcurrentPromotionsSerialise(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	s := startServer(t, 3)
	wf := `name: ci
on: workflow_dispatch
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/upload-artifact@v4
        with: {name: app, path: VERSION}
  deploy:
    needs: build
    runs-on: ubuntu-latest
    environment: staging
    steps:
      - uses: actions/download-artifact@v4
        with: {name: app}
      - run: |
          v=$(cat VERSION)
          python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1])' "` + rec.URL + `/?e=start-$v"
          sleep 1
          python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1])' "` + rec.URL + `/?e=end-$v"
`
	g, _ := newGitRepo(t, map[string]string{".github/workflows/ci.yml": wf, "VERSION": "1\n"})
	s.addRepo(t, "serial", g, "s3cret")
	var rels []string
	for _, v := range []string{"1", "2"} {
		if v != "1" {
			g.commit(t, map[string]string{"VERSION": v + "\n"}, "v"+v)
		}
		run := s.dispatch(t, "serial", "ci.yml")
		if d := s.waitRunDone(t, run.ID, 2*time.Minute); d.Run.Conclusion != "success" {
			t.Fatalf("run %d: %s\n%s", run.ID, d.Run.Conclusion, describeJobs(d))
		}
		rels = append(rels, s.waitPromotion(t, "serial", "staging", "", cd.StateSuccess, time.Minute).ReleaseID)
	}
	rec.reset()

	errs := make(chan error, 2)
	for _, r := range rels {
		go func() {
			_, err := s.cli(t, "", "promote", r, "--to", "staging", "--repo", "serial", "--wait")
			errs <- err
		}()
	}
	for range rels {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	events := rec.seen()
	if len(events) != 4 || !strings.HasPrefix(events[0], "start-") || events[1] != "end-"+strings.TrimPrefix(events[0], "start-") ||
		!strings.HasPrefix(events[2], "start-") || events[3] != "end-"+strings.TrimPrefix(events[2], "start-") || events[0] == events[2] {
		t.Errorf("deployment steps ran as %q, want one deployment's start and end, then the other's", events)
	}
}

// TestAutomaticPromotionAndBranchRules uses the trunk preset: a release
// promoted to staging (after its wait timer) goes on to production by
// itself (production is made automatic), and a feature branch's release is
// refused by staging's branch rule.
func TestAutomaticPromotionAndBranchRules(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	seen := rec.seen
	deploy := func(env string) string {
		return `    runs-on: ubuntu-latest
    environment: ` + env + `
    steps:
      - uses: actions/download-artifact@v4
        with: {name: app}
      - run: python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1])' "` + rec.URL + `/?e=` + env + `-$(cat VERSION)"
`
	}
	wf := `name: ci
on: workflow_dispatch
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/upload-artifact@v4
        with: {name: app, path: VERSION}
  staging:
    needs: build
` + deploy("staging") + `  production:
    needs: staging
` + deploy("production")
	s := startServer(t, 2)
	// Production's verification is a command in the release's tree; like
	// a job, it must not see the server's data directory.
	smoke := `test -f VERSION || { echo "not run in the release's tree"; exit 1; }
if [ -e "` + filepath.Join(s.data, "sluice.db") + `" ]; then echo "the data directory is visible"; exit 1; fi
echo "smoke ok"
`
	g, _ := newGitRepo(t, map[string]string{
		".github/workflows/ci.yml": wf,
		".sluice/environments.yml": "strategy: trunk\nenvironments:\n  staging:\n    wait-timer: 1s\n  production:\n    automatic: true\n" +
			"    verify:\n      command: {run: sh smoke.sh, timeout: 1m}\n",
		"smoke.sh": smoke,
		"VERSION":  "1\n",
	})
	s.addRepo(t, "trunk", g, "s3cret")
	run := s.dispatch(t, "trunk", "ci.yml")
	if d := s.waitRunDone(t, run.ID, 2*time.Minute); d.Run.Conclusion != "success" {
		t.Fatalf("run %d: %s\n%s", run.ID, d.Run.Conclusion, describeJobs(d))
	}
	r1 := s.waitPromotion(t, "trunk", "production", "", cd.StateSuccess, time.Minute).ReleaseID
	// The verification command ran as a job of the run, on an agent.
	if d := s.waitRunDone(t, run.ID, time.Minute); !strings.Contains(s.jobLog(t, jobByKey(t, d, "verify production").ID), "smoke ok") {
		t.Errorf("the verification job's log lacks its output:%s", describeJobs(d))
	}
	if d := cmp.Diff([]string{"staging-1", "production-1"}, seen()); d != "" {
		t.Fatalf("deployments of the first run (-want +got):\n%s", d)
	}

	// Promoting the release to staging again carries it on to production.
	if out, err := s.cli(t, "", "promote", r1, "--to", "staging", "--repo", "trunk", "--wait"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	auto := s.waitPromotionAfter(t, "trunk", "production", r1, cd.StateSuccess, 2, time.Minute)
	if !auto.Auto || auto.StartedBy != "sluice" || auto.Kind != cd.KindForward {
		t.Errorf("production's newest promotion %+v, want sluice's automatic forward promotion", auto)
	}
	if d := cmp.Diff([]string{"staging-1", "production-1", "staging-1", "production-1"}, seen()); d != "" {
		t.Errorf("deployments after the promotion (-want +got):\n%s", d)
	}

	// A feature branch's release is not admitted to staging.
	runGit(t, g.work, "checkout", "--quiet", "-b", "feature/x")
	if err := os.WriteFile(filepath.Join(g.work, "VERSION"), []byte("2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runGit(t, g.work, "commit", "--quiet", "-am", "feature")
	runGit(t, g.work, "push", "--quiet", "origin", "feature/x")
	run = s.dispatch(t, "trunk", "ci.yml", "--ref", "feature/x")
	d := s.waitRunDone(t, run.ID, 2*time.Minute)
	if job := jobByKey(t, d, "staging"); job.Conclusion != "failure" || !strings.Contains(job.Reason, "not allowed") {
		t.Errorf("feature branch's staging job: %s (%s), want a failure saying the branch is not allowed", job.Conclusion, job.Reason)
	}
	if got := s.deployments(t, "trunk", "staging")[0]; got.State != cd.StateError || !strings.Contains(got.Reason, "not allowed") {
		t.Errorf("feature branch's staging promotion %s (%s), want error: not allowed", got.State, got.Reason)
	}
	if d := cmp.Diff([]string{"staging-1", "production-1", "staging-1", "production-1"}, seen()); d != "" {
		t.Errorf("a refused release deployed (-want +got):\n%s", d)
	}
}

// recorder is an HTTP endpoint deployment steps call with ?e=EVENT, so a
// test sees which deployments ran and in what order.
type recorder struct {
	URL    string
	mu     sync.Mutex
	events []string
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.events = append(rec.events, r.URL.Query().Get("e"))
		rec.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	rec.URL = srv.URL
	return rec
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.events = nil
	r.mu.Unlock()
}
