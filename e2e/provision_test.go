package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
      - name: the shared interpreter is read-only to the job
        run: |
          base=$(python -c 'import sys; print(sys.base_prefix)')
          if touch "$base/poisoned" || echo 'import os' >> "$base/lib/python3.12/os.py"; then
            echo "the job wrote into $base"; exit 1
          fi
          echo "cannot write into $base"
  system:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-python@v5
        with:
          python-version: 3.12.1
      - uses: astral-sh/setup-uv@v6
      - name: a wheel with a console script
        run: |
          python - <<'PY'
          import zipfile
          files = {
              "greet/__init__.py": "import sys\ndef main():\n    print('greet from', sys.prefix, 'system' if sys.base_prefix == sys.prefix else 'venv')\n",
              "greet-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: greet\nVersion: 1.0\n",
              "greet-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
              "greet-1.0.dist-info/entry_points.txt": "[console_scripts]\ngreet = greet:main\n",
          }
          with zipfile.ZipFile("greet-1.0-py3-none-any.whl", "w") as z:
              for name, text in files.items():
                  z.writestr(name, text)
              z.writestr("greet-1.0.dist-info/RECORD", "".join(name + ",,\n" for name in files) + "greet-1.0.dist-info/RECORD,,\n")
          PY
      - name: nox's CI installs itself into setup-python's interpreter, then runs its console script
        run: |
          uv pip install --system --no-index ./greet-1.0-py3-none-any.whl
          greet
          "$pythonLocation/bin/python" -c "import greet, pip; print('pip importable from the copy')"
  uv-managed:
    runs-on: ubuntu-latest
    steps:
      - uses: astral-sh/setup-uv@v6
      - name: uv installs an interpreter itself, as tox's --python-preference only-managed does
        run: |
          uv python install --python-preference only-managed 3.12.1
          uv run --no-project --python-preference only-managed -p 3.12.1 python -c "import platform, sys; print('uv-managed', platform.python_version(), sys.base_prefix)"
`

// TestProvisionBothPaths: a python-version the machine lacks (pyenv hidden) is installed with
// uv from a local mirror, through sluice run --sandbox and through the server's embedded agent
// under its default sandbox, each into its own tool cache; the job runs the provisioned
// interpreter in its jail and cannot write into it (it is every job's, mounted read-only).
// A step's own `uv python install` (from the same mirror) works in the jail as on GitHub's
// runner: it goes into the job's own uv Python directory, not the machine's read-only one
// (tox's `uv tool install --python-preference only-managed` failed in the server's sandbox with
// "Read-only file system" where sluice run on the host downloaded).
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
	cmd := exec.Command(sluiceBin(t), "run", "--sandbox")
	cmd.Dir = g.work
	cmd.Env = append(append(os.Environ(), "SLUICE_STATE_DIR="+state, "TERM=dumb"), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sluice run: %v\n%s", err, out)
	}
	base := filepath.Join(state, "toolcache", "python", "cpython-3.12.1-linux-x86_64-gnu")
	for _, want := range []string{"provisioned 3.12.1 " + base, "cannot write into " + base, "uv-managed 3.12.1 /", "/uv-python/cpython-3.12.1-"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("sluice run --sandbox does not say %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "poisoned")); err == nil {
		t.Errorf("the job wrote into the shared interpreter %s", base)
	}
	// Without a sandbox nothing stops a write into the machine's interpreter but where
	// setup-python points the job: `uv pip install --system` must still go to the job's copy.
	host := exec.Command(sluiceBin(t), "run", "-j", "system")
	host.Dir = g.work
	host.Env = cmd.Env
	hostOut, err := host.CombinedOutput()
	if err != nil {
		t.Fatalf("sluice run -j system: %v\n%s", err, hostOut)
	}
	for _, o := range [][]byte{out, hostOut} {
		if !regexp.MustCompile(`greet from /\S+/python/python-3\.12\.1 system`).Match(o) || !strings.Contains(string(o), "pip importable from the copy") {
			t.Errorf("uv pip install --system did not install into the job's copy of the interpreter:\n%s", o)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(base, "lib", "python3.12", "site-packages", "greet*")); len(m) > 0 {
		t.Errorf("a job installed into the machine's interpreter: %v", m)
	}

	// The server's embedded agent, with serve's default sandbox (auto: bubblewrap is here).
	s := startServerEnv(t, 1, env)
	secret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "provision", g, secret)
	sha := g.commit(t, map[string]string{"x.txt": "1"}, "push")
	runs := s.pushHook(t, forge.GitHub, "provision", g, first, sha, secret, "provision-1")
	d := s.waitRunDone(t, runs[0], 3*runTimeout)
	if uvLog := s.jobLog(t, jobByKey(t, d, "uv-managed").ID); !strings.Contains(uvLog, "uv-managed 3.12.1 /") || !strings.Contains(uvLog, "/uv-python/cpython-3.12.1-") {
		t.Errorf("server: uv's own install in the job:\n%s", uvLog)
	}
	if sysLog := s.jobLog(t, jobByKey(t, d, "system").ID); !regexp.MustCompile(`greet from /\S+/python/python-3\.12\.1 system`).MatchString(sysLog) {
		t.Errorf("server: uv pip install --system in the job:\n%s", sysLog)
	}
	log := s.jobLog(t, jobByKey(t, d, "py").ID)
	if d.Run.Conclusion != store.ConclusionSuccess || !strings.Contains(log, "Python 3.12.1 is not on this machine: installing it with uv") ||
		!strings.Contains(log, "Python 3.12.1 (cpython, provisioned) at ") || !strings.Contains(log, "/agent/toolcache/python/cpython-3.12.1-linux-x86_64-gnu/bin/python3") ||
		!strings.Contains(log, "provisioned 3.12.1 ") || !strings.Contains(log, "cannot write into /") {
		t.Errorf("server run %s:%s\n%s", d.Run.Conclusion, describeJobs(d), log)
	}
	agentBase := filepath.Join(s.dir, "state-serve", "agent", "toolcache", "python", "cpython-3.12.1-linux-x86_64-gnu")
	if _, err := os.Stat(filepath.Join(agentBase, "bin")); err != nil {
		t.Errorf("the server's provisioned interpreter is not where the test looks: %v", err)
	} else if _, err := os.Stat(filepath.Join(agentBase, "poisoned")); err == nil {
		t.Errorf("the server's job wrote into the shared interpreter %s", agentBase)
	}
}
