package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/testenv"
)

const provisionWorkflow = `on: push
jobs:
  py:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-python@v5
        with:
          python-version: 3.12.1
      - run: python -c "import platform, sys; print('provisioned', platform.python_version(), sys.base_prefix)"
`

// TestProvisionBothPaths: a python-version the machine lacks (pyenv hidden) is installed with
// uv from a local mirror, through sluice run and through the server's embedded agent, each into
// its own tool cache.
func TestProvisionBothPaths(t *testing.T) {
	if testing.Short() {
		t.Skip("installs uv from PyPI")
	}
	t.Parallel()
	root := os.Getenv("PYENV_ROOT")
	if root == "" {
		home, _ := os.UserHomeDir()
		root = filepath.Join(home, ".pyenv")
	}
	prefix := filepath.Join(root, "versions", "3.12.1")
	if _, err := os.Stat(filepath.Join(prefix, "bin", "python3.12")); err != nil {
		t.Skip("pyenv 3.12.1 is not installed")
	}
	mirror := testenv.StartPythonMirror(t, testenv.PythonBuild{Impl: "cpython", Version: "3.12.1", Prefix: prefix})
	env := append([]string{"PYENV_ROOT=" + t.TempDir()}, mirror.Env...)
	g, first := newGitRepo(t, map[string]string{".github/workflows/ci.yml": provisionWorkflow})

	state := t.TempDir()
	cmd := exec.Command(sluiceBin(t), "run")
	cmd.Dir = g.work
	cmd.Env = append(append(os.Environ(), "SLUICE_STATE_DIR="+state, "TERM=dumb"), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sluice run: %v\n%s", err, out)
	}
	want := "provisioned 3.12.1 " + filepath.Join(state, "toolcache", "python", "cpython-3.12.1-linux-x86_64-gnu")
	if !strings.Contains(string(out), want) {
		t.Errorf("sluice run does not say %q:\n%s", want, out)
	}

	// Without the sandbox: a Python provisioned into the shared tool cache is not mounted in a
	// job's jail yet (a known gap of interpreter provisioning under --sandbox, see the README).
	s := startServerEnv(t, 1, env, "--sandbox", "off")
	secret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "provision", g, secret)
	sha := g.commit(t, map[string]string{"x.txt": "1"}, "push")
	runs := s.pushHook(t, forge.GitHub, "provision", g, first, sha, secret, "provision-1")
	d := s.waitRunDone(t, runs[0], 3*runTimeout)
	log := s.jobLog(t, jobByKey(t, d, "py").ID)
	// The step's own python is the sandbox's business (issue 10: the job's environment and
	// tool cache must be visible inside it); what setup-python chose is asserted here.
	if d.Run.Conclusion != store.ConclusionSuccess || !strings.Contains(log, "Python 3.12.1 is not on this machine: installing it with uv") ||
		!strings.Contains(log, "Python 3.12.1 (cpython, provisioned) at ") || !strings.Contains(log, "/agent/toolcache/python/cpython-3.12.1-linux-x86_64-gnu/bin/python3") {
		t.Errorf("server run %s:%s\n%s", d.Run.Conclusion, describeJobs(d), log)
	}
}
