package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/testenv"
)

// The Python layer's wrong results, each reproduced as the issue found it
// and run through `sluice run` and through a server's embedded agent.

// bothPaths runs a repository's workflow with `sluice run` (in work, on a
// state directory) and on the server, returning each log and result.
type bothPaths struct {
	t    *testing.T
	s    *srv
	path string
}

func newBothPaths(t *testing.T) *bothPaths {
	t.Helper()
	if testing.Short() {
		t.Skip("runs Python jobs; skipped with -short")
	}
	uvPy := testenv.ToolsPython(t, "warmcold-uv", "uv==0.13.9")
	path := filepath.Dir(uvPy) + string(os.PathListSeparator) + os.Getenv("PATH")
	// The jobs run the test's tool environments by path: the sandbox may read them.
	return &bothPaths{t: t, s: startServerEnv(t, 1, []string{"PATH=" + path}, "--sandbox-readonly", toolsRoot(uvPy)), path: path}
}

// local runs `sluice run ARGS` in dir with the given state directory.
func (b *bothPaths) local(dir, state string, args ...string) (string, bool) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sluiceBin(b.t), append([]string{"run"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SLUICE_STATE_DIR="+state, "TMPDIR="+mkdirAll(filepath.Join(state, "tmp")), "PATH="+b.path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && (!errors.As(err, &ee) || ee.ExitCode() != 1) {
		b.t.Fatalf("sluice run: %v\n%s", err, out.String())
	}
	return out.String(), err == nil
}

// server pushes ref (before → after) of the repository added as name and
// returns the run's logs, whether it succeeded, and its summary lines.
func (b *bothPaths) server(name string, g *gitRepo, secret, ref, before, after string) (string, bool) {
	b.t.Helper()
	h, body := pushDelivery(b.t, forge.GitHub, g, before, after, "py-"+randomHex(b.t, 6))
	body = bytes.Replace(body, []byte(`"refs/heads/main"`), []byte(fmt.Sprintf("%q", ref)), 1)
	hn, hv := forge.Sign(forge.GitHub, body, []byte(secret))
	h.Set(hn, hv)
	a := b.s.postHook(b.t, forge.GitHub, name, h, body)
	if len(a.Runs) != 1 {
		b.t.Fatalf("push of %s started runs %v: %s", ref, a.Runs, a.raw)
	}
	d := b.s.waitRunDone(b.t, a.Runs[0], 5*time.Minute)
	var log strings.Builder
	for _, j := range d.Jobs {
		log.WriteString(b.s.jobLog(b.t, j.ID))
		for _, st := range j.Steps {
			_ = st
		}
	}
	return log.String(), d.Run.Conclusion == store.ConclusionSuccess
}

func (b *bothPaths) repo(name string, files map[string]string) (*gitRepo, string, string) {
	b.t.Helper()
	g, sha := newGitRepo(b.t, files)
	secret := "hook-" + randomHex(b.t, 6)
	b.s.addRepo(b.t, name, g, secret)
	return g, sha, secret
}

func must(t *testing.T, what, log string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(log) {
			t.Errorf("%s: no match for %q in:\n%s", what, p, log)
		}
	}
}

func mustNot(t *testing.T, what, log string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if regexp.MustCompile(p).MatchString(log) {
			t.Errorf("%s: unexpected match for %q in:\n%s", what, p, log)
		}
	}
}

func TestPythonLayerWrongResults(t *testing.T) {
	t.Parallel()
	b := newBothPaths(t)

	// setup-python with several versions puts each on PATH, the last as
	// the default (tox and nox jobs call python3.9 by name).
	t.Run("setup-python several versions", func(t *testing.T) {
		b.t = t
		pyenvPrefix(t, "3.9")
		pyenvPrefix(t, "3.12")
		wf := `on: push
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-python@v5
        with:
          python-version: |
            3.9
            3.12
      - run: |
          echo "listed $(python3.9 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
          echo "default $(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
`
		g, sha, secret := b.repo("multi", map[string]string{".github/workflows/ci.yml": wf})
		out, ok := b.local(g.work, t.TempDir())
		must(t, "sluice run", out, `listed 3\.9`, `default 3\.12`)
		log, sok := b.server("multi", g, secret, "refs/heads/main", strings.Repeat("0", 40), sha)
		must(t, "server", log, `listed 3\.9`, `default 3\.12`)
		if !ok || !sok {
			t.Errorf("job failed: sluice run %v, server %v", ok, sok)
		}
	})

	// A step that runs pytest twice reports both runs: a failure in the
	// first appears in the summary.
	t.Run("pytest twice in a step", func(t *testing.T) {
		b.t = t
		tools := testenv.ToolsPython(t, "warmcold-pytest", "pytest==8.3.3")
		wf := fmt.Sprintf(`on: push
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: |
          %[1]s -m pytest -q tests/test_a.py || true
          %[1]s -m pytest -q tests/test_b.py
`, tools)
		files := map[string]string{
			".github/workflows/ci.yml": wf,
			"tests/test_a.py":          "def test_first_fails():\n    assert 1 == 2, 'first run'\n",
			"tests/test_b.py":          "def test_second_passes():\n    pass\n",
		}
		g, sha, secret := b.repo("pytest2", files)
		out, _ := b.local(g.work, t.TempDir())
		must(t, "sluice run", out, `1 passed, 1 failed`, `test_first_fails`, `2 pytest runs`)
		log, _ := b.server("pytest2", g, secret, "refs/heads/main", strings.Repeat("0", 40), sha)
		must(t, "server", log, `1 passed, 1 failed.*2 pytest runs`)
	})

	// actions/cache: a branch restores its own caches and the default
	// branch's, never a sibling branch's.
	t.Run("cache branch scoping", func(t *testing.T) {
		b.t = t
		wf := `on: push
jobs:
  c:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/cache@v4
        with:
          path: store
          key: k-${{ github.ref_name }}
          restore-keys: k-
      - run: echo "restored=$(cat store/who 2>/dev/null || echo none)"
      - run: mkdir -p store && echo "${{ github.ref_name }}" > store/who
`
		g, first, secret := b.repo("cachescope", map[string]string{".github/workflows/ci.yml": wf})
		for _, br := range []string{"feat-a", "feat-b", "feat-c"} {
			runGit(t, g.work, "branch", br)
		}
		state := t.TempDir()
		// feat-b must not see feat-a's entry (restore-keys k- would match
		// it); feat-c, new after main saved, restores main's.
		steps := []struct{ branch, want string }{
			{"feat-a", "none"}, {"feat-b", "none"}, {"main", "none"}, {"feat-c", "main"}, {"feat-a", "feat-a"},
		}
		for i, st := range steps {
			runGit(t, g.work, "checkout", "-q", st.branch)
			out, _ := b.local(g.work, state)
			must(t, fmt.Sprintf("sluice run %d on %s", i, st.branch), out, `(?m)restored=`+st.want+`$`)
			runGit(t, g.work, "push", "-q", "origin", st.branch)
			log, _ := b.server("cachescope", g, secret, "refs/heads/"+st.branch, strings.Repeat("0", 40), first)
			must(t, fmt.Sprintf("server run %d on %s", i, st.branch), log, `restored=`+st.want+`\n`)
		}
	})

	// Two repositories in directories of the same name (no origin) do not
	// share caches.
	t.Run("cache repository identity", func(t *testing.T) {
		b.t = t
		wf := `on: push
jobs:
  c:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/cache@v4
        with: { path: store, key: same-key }
      - run: echo "restored=$(cat store/who 2>/dev/null || echo none)"
      - run: mkdir -p store && echo "${{ github.workspace }}" > store/who
`
		state := t.TempDir()
		for i := range 2 {
			dir := filepath.Join(t.TempDir(), "app")
			testenv.WriteFiles(t, dir, map[string]string{".github/workflows/ci.yml": wf})
			runGit(t, dir, "init", "-q", "-b", "main")
			runGit(t, dir, "add", "-A")
			runGit(t, dir, "commit", "-q", "-m", "ci")
			out, _ := b.local(dir, state)
			must(t, fmt.Sprintf("repository %d", i+1), out, `(?m)restored=none$`)
		}
	})
}

// TestCurrentPipAndPipx: a job environment gets the index's newest pip
// (so `pip install --group` works, as on GitHub's Python builds), and pipx
// is there for jobs that call it.
func TestCurrentPipAndPipx(t *testing.T) {
	t.Parallel()
	b := newBothPaths(t)
	dl := testenv.Download(t, "current-pip", "pip==25.3", "iniconfig==2.0.0")
	ix := testenv.StartPypiserver(t, context.Background(), testenv.PypiTools(t), "u", "p")
	copyGlob(t, filepath.Join(dl, "*.whl"), ix.Packages)
	wf := `on: push
env:
  PIP_INDEX_URL: ` + ix.URL + `/simple/
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: { python-version: '3.11' }
      - run: pip --version
      - run: pip install --group test
      - run: python -c "import importlib.metadata as m; print('iniconfig', m.version('iniconfig'))"
      - run: pipx --version
`
	files := map[string]string{
		".github/workflows/ci.yml": wf,
		"pyproject.toml":           "[dependency-groups]\ntest = [\"iniconfig\"]\n",
	}
	g, sha, secret := b.repo("pip", files)
	out, ok := b.local(g.work, t.TempDir())
	must(t, "sluice run", out, `pip 25\.3 from`, `iniconfig 2\.0\.0`)
	log, sok := b.server("pip", g, secret, "refs/heads/main", strings.Repeat("0", 40), sha)
	must(t, "server", log, `pip 25\.3 from`, `iniconfig 2\.0\.0`)
	if !ok || !sok {
		t.Errorf("job failed: sluice run %v, server %v\nsluice run:\n%s\nserver:\n%s", ok, sok, out, log)
	}
	mustNot(t, "sluice run", out, `pipx: command not found`)
	must(t, "sluice run", out, `(?m)^\[t/Run pipx --version\] [0-9]+\.[0-9]+`)
}
