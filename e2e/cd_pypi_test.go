package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/testenv"
)

// twoIndexProject is the package the two-index workflow publishes.
const twoIndexProject = "sluice-twoidx"

// twoIndexWorkflow builds a wheel and an sdist once, with the tools venv's
// python (jobs run on the host, which has no build frontend of its own),
// and publishes that artifact to the staging index, then to production.
// Production skips files it already has, so a redeploy succeeds.
func twoIndexWorkflow(python string, staging, production testenv.Pypiserver) string {
	publish := func(env string, idx testenv.Pypiserver, user, secret, extra string) string {
		return fmt.Sprintf(`    runs-on: ubuntu-latest
    environment:
      name: %[1]s
      url: %[2]s/simple/%[6]s/
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: dist
          path: dist
      - name: publish
        uses: pypa/gh-action-pypi-publish@release/v1
        with:
          repository-url: %[2]s/
          user: %[3]s
          password: ${{ secrets.%[4]s }}
          print-hash: true
%[5]s`, env, idx.URL, user, secret, extra, twoIndexProject)
	}
	return `name: release
on: [workflow_dispatch]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: '"` + python + `" -m build --no-isolation --sdist --wheel --outdir dist .'
      - uses: actions/upload-artifact@v4
        with:
          name: dist
          path: dist/
  pypi-staging:
    needs: build
` + publish("pypi-staging", staging, "stager", "STAGING_INDEX_PASSWORD", "") + `  pypi-production:
    needs: pypi-staging
` + publish("pypi-production", production, "releaser", "PRODUCTION_INDEX_PASSWORD", "          skip-existing: true\n")
}

const twoIndexEnvironments = `environments:
  pypi-staging:
    tier: staging
  pypi-production:
    tier: production
    upstream: [pypi-staging]
`

// releases lists repo's releases with `sluice releases --json`.
func (s *srv) releases(t *testing.T, repo string) []cd.Release {
	t.Helper()
	out := s.mustCLI(t, "releases", "--repo", repo, "--json")
	var rs []cd.Release
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatalf("decoding sluice releases --json %q: %v", out, err)
	}
	return rs
}

// TestSameReleaseToTwoIndexes is issue 7's "the same release published to
// two real pypiserver indexes": one run builds a wheel and an sdist, its
// staging deployment publishes them to one index and its production
// deployment, after staging succeeded, to another; both indexes then serve
// exactly the release's files. Promoting the release to production again
// redeploys the same files, which the index already has and skips.
func TestSameReleaseToTwoIndexes(t *testing.T) {
	if testing.Short() {
		t.Skip("installs pypiserver and build from PyPI and starts two package indexes")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	python := testenv.PypiTools(t)
	stagingPassword, prodPassword := "stg-"+randomHex(t, 12), "prd-"+randomHex(t, 12)
	staging := testenv.StartPypiserver(t, ctx, python, "stager", stagingPassword)
	production := testenv.StartPypiserver(t, ctx, python, "releaser", prodPassword)

	// The tools' environment is not among the machine's tool directories:
	// the operator offers it to sandboxed jobs.
	s := startServer(t, 2, "--sandbox-readonly", filepath.Dir(filepath.Dir(python)))
	name := "pkg" + randomHex(t, 4)
	g, _ := newGitRepo(t, map[string]string{
		".github/workflows/release.yml": twoIndexWorkflow(python, staging, production),
		".sluice/environments.yml":      twoIndexEnvironments,
		"pyproject.toml": `[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "` + twoIndexProject + `"
version = "0.1.0"
description = "Published to two indexes by sluice's e2e tests"
requires-python = ">=3.8"
`,
		"src/sluice_twoidx/__init__.py": "GREETING = 'hello from two indexes'\n",
	})
	s.addRepo(t, name, g, "s3cret")
	s.mustCLI(t, "secret", "set", "STAGING_INDEX_PASSWORD", "--repo", name, "--value", stagingPassword)
	s.mustCLI(t, "secret", "set", "PRODUCTION_INDEX_PASSWORD", "--repo", name, "--value", prodPassword)

	run := s.dispatch(t, name, "release.yml")
	d := s.waitRunDone(t, run.ID, 5*time.Minute)
	if d.Run.Conclusion != store.ConclusionSuccess {
		t.Fatalf("run %d concluded %q:%s", run.ID, d.Run.Conclusion, describeJobs(d))
	}
	for _, j := range d.Jobs {
		log := s.jobLog(t, j.ID)
		for _, pw := range []string{stagingPassword, prodPassword} {
			if strings.Contains(log, pw) {
				t.Errorf("job %s's log shows an index password:\n%s", j.Key, log)
			}
		}
	}

	// The run's release: the files of the artifact it uploaded.
	var rel cd.Release
	for _, r := range s.releases(t, name) {
		if r.RunID == run.ID {
			rel = r
		}
	}
	if rel.ID == "" {
		t.Fatalf("sluice releases lists no release of run %d: %+v", run.ID, s.releases(t, name))
	}
	want := map[string]string{} // file name → sha256 hex, as the release records it
	for _, a := range rel.Artifacts {
		hexDigest, ok := strings.CutPrefix(a.Digest, "sha256:")
		if !ok {
			t.Fatalf("release artifact %q has digest %q, want sha256:…", a.Name, a.Digest)
		}
		want[path.Base(a.Name)] = hexDigest
	}
	var kinds []string
	for f := range want {
		switch {
		case strings.HasSuffix(f, ".whl"):
			kinds = append(kinds, "wheel")
		case strings.HasSuffix(f, ".tar.gz"):
			kinds = append(kinds, "sdist")
		}
	}
	if len(want) != 2 || len(kinds) != 2 || kinds[0] == kinds[1] {
		t.Fatalf("release %s has artifacts %+v, want one wheel and one sdist", rel.ID, rel.Artifacts)
	}

	// Each environment has one successful promotion of that release, made
	// by the run, pointing at its index.
	for _, c := range []struct {
		env string
		idx testenv.Pypiserver
	}{{"pypi-staging", staging}, {"pypi-production", production}} {
		ps := s.deployments(t, name, c.env)
		if len(ps) != 1 {
			t.Fatalf("%s has %d promotions, want 1: %+v", c.env, len(ps), ps)
		}
		p := ps[0]
		if p.State != cd.StateSuccess || p.ReleaseID != rel.ID || p.RunID != run.ID || p.Kind != cd.KindForward {
			t.Errorf("%s promotion #%d: %s %s of release %s by run %d (%s); want a successful forward of %s by run %d",
				c.env, p.ID, p.State, p.Kind, p.ReleaseID, p.RunID, p.Reason, rel.ID, run.ID)
		}
		if wantURL := c.idx.URL + "/simple/" + twoIndexProject + "/"; p.URL != wantURL {
			t.Errorf("%s promotion URL %q, want %q (environment.url)", c.env, p.URL, wantURL)
		}
		// The same bytes on both indexes: those the release recorded.
		if diff := cmp.Diff(want, c.idx.Files(t, twoIndexProject)); diff != "" {
			t.Errorf("files on the %s index (-release +index):\n%s", c.env, diff)
		}
	}

	// A second promotion to production runs its job again with the
	// release's own artifacts: the index has both files, and skip-existing
	// makes that a success that uploads nothing.
	out, err := s.cli(t, "", "promote", rel.ID, "--to", "pypi-production", "--repo", name,
		"--kind", "redeploy", "--wait", "--interval", "200ms", "--json")
	if err != nil {
		t.Fatalf("redeploying to pypi-production: %v", err)
	}
	var again cd.Promotion
	if err := json.Unmarshal([]byte(out), &again); err != nil {
		t.Fatalf("decoding sluice promote --json %q: %v", out, err)
	}
	if again.State != cd.StateSuccess || again.Kind != cd.KindRedeploy || again.ReleaseID != rel.ID ||
		again.RunID == 0 || again.RunID == run.ID {
		t.Fatalf("redeploy: %+v; want a successful redeploy of %s in a run of its own", again, rel.ID)
	}
	rd := s.waitRunDone(t, again.RunID, time.Minute)
	if log := s.jobLog(t, jobByKey(t, rd, "pypi-production").ID); !strings.Contains(log, "0 file(s) uploaded, 2 skipped") {
		t.Errorf("the redeploy's publish step did not skip the two files the index has:\n%s", log)
	}
	if j := jobByKey(t, rd, "build"); !strings.Contains(j.Reason, "carried over") {
		t.Errorf("the redeploy's build job: %s/%s %q; want it carried over, not run again", j.Status, j.Conclusion, j.Reason)
	}
	if got := s.deployments(t, name, "pypi-staging"); len(got) != 1 {
		t.Errorf("pypi-staging has %d promotions after a production redeploy, want still 1", len(got))
	}
	for _, idx := range []testenv.Pypiserver{staging, production} {
		if diff := cmp.Diff(want, idx.Files(t, twoIndexProject)); diff != "" {
			t.Errorf("files on %s after the redeploy (-release +index):\n%s", idx.URL, diff)
		}
	}
}
