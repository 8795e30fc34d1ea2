package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/testenv"
)

// TestZeroConfigRuns runs repositories without workflows through the
// pipeline sluice infers: with `sluice run`, and on a server once `sluice
// init` has written the pipeline and it was pushed. Packages come from a
// local index configured the way a machine configures a mirror (pip.conf
// in the home of whoever runs the jobs). The index also offers a newer
// "ruff" that is not ruff, so an install that ignored the version the
// project pins fails lint; pytest outside the job's environment (a pyenv
// shim on PATH) cannot import the project, so a pipeline that did not
// install the test group fails its tests.
func TestZeroConfigRuns(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs inferred Python pipelines; skipped with -short")
	}
	ctx := context.Background()
	ix := testenv.StartPypiserver(t, ctx, testenv.PypiTools(t), "u", "p")
	for _, dl := range []string{
		testenv.Download(t, "current-pip", "pip==25.3", "iniconfig==2.0.0"),
		testenv.Download(t, "warmcold", "flit_core==3.9.0"),
		testenv.Download(t, "zeroconfig", "ruff==0.6.9", "pytest==8.3.3", "packaging==24.1", "pluggy==1.5.0", "build==1.2.2", "pyproject_hooks==1.2.0"),
	} {
		copyGlob(t, filepath.Join(dl, "*.whl"), ix.Packages)
	}
	testenv.WriteWheel(t, ix.Packages, testenv.WheelSpec{Name: "ruff", Version: "99.0"})
	testenv.WriteWheel(t, ix.Packages, testenv.WheelSpec{Name: "gamma", Version: "1.0"})

	home := t.TempDir()
	testenv.WriteFiles(t, home, map[string]string{".config/pip/pip.conf": "[global]\nindex-url = " + ix.URL + "/simple/\ndisable-pip-version-check = true\n"})
	pyenvRoot := os.Getenv("PYENV_ROOT")
	if pyenvRoot == "" {
		real, _ := os.UserHomeDir()
		pyenvRoot = filepath.Join(real, ".pyenv")
	}
	env := []string{"HOME=" + home, "PYENV_ROOT=" + pyenvRoot}
	// Unsandboxed, so the jobs' home is the server's, where its pip.conf is.
	s := startServerEnv(t, 1, env, "--sandbox", "off")

	cases := []struct {
		name  string
		files map[string]string
		// inferred is what `sluice run` says it inferred; installed what
		// pip installed, on both paths.
		inferred, installed []string
	}{
		{
			name: "dependency groups without a lock",
			files: map[string]string{
				"pyproject.toml": `[build-system]
requires = ["flit_core>=3.4"]
build-backend = "flit_core.buildapi"

[project]
name = "app"
version = "0.1"
description = "adds"

[dependency-groups]
test = ["pytest>=8"]
lint = ["ruff==0.6.9"]
docs = ["sphinx"]
`,
				"app/__init__.py":   "def add(a, b):\n    return a + b\n",
				"tests/test_app.py": "from app import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
			},
			inferred:  []string{"install: dependency groups lint, test"},
			installed: []string{"ruff-0.6.9", "pytest-8.3.3"},
		},
		{
			name: "tool pinned by pre-commit",
			files: map[string]string{
				"requirements.txt": "gamma==1.0\n",
				"ruff.toml":        "line-length = 100\n",
				".pre-commit-config.yaml": `repos:
  - repo: https://github.com/astral-sh/ruff-pre-commit
    rev: v0.6.9
    hooks:
      - id: ruff
`,
				"constraints.txt": "pytest==8.3.3\n",
				"tests/test_x.py": "import gamma\n\n\ndef test_gamma():\n    assert gamma is not None\n",
			},
			inferred:  []string{"ruff==0.6.9"},
			installed: []string{"ruff-0.6.9", "pytest-8.3.3", "gamma-1.0"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := newGitRepo(t, tc.files)
			local := zeroConfigLocal(t, g.work, env, "run")
			for _, want := range append(append([]string{"No .github/workflows here", "Tests (", "passed"}, tc.inferred...), tc.installed...) {
				if !strings.Contains(local.out, want) {
					t.Errorf("sluice run: %q missing:\n%s", want, local.out)
				}
			}
			if !local.ok {
				t.Fatalf("the inferred pipeline failed with sluice run:\n%s", local.out)
			}
			// The server runs what `sluice init` writes, once pushed.
			zeroConfigLocal(t, g.work, env, "init")
			wf, err := os.ReadFile(filepath.Join(g.work, ".github", "workflows", "ci.yml"))
			if err != nil {
				t.Fatalf("sluice init wrote no workflow: %v", err)
			}
			before := strings.TrimSpace(runGit(t, g.work, "rev-parse", "HEAD"))
			head := g.commit(t, map[string]string{".github/workflows/ci.yml": string(wf)}, "sluice init")
			secret := "hook-" + randomHex(t, 6)
			name := strings.ReplaceAll(tc.name, " ", "-")
			s.addRepo(t, name, g, secret)
			runs := s.pushHook(t, forge.GitHub, name, g, before, head, secret, "zc-"+randomHex(t, 6))
			d := s.waitRunDone(t, runs[0], 5*time.Minute)
			var log strings.Builder
			for _, j := range d.Jobs {
				log.WriteString(s.jobLog(t, j.ID))
			}
			if d.Run.Conclusion != store.ConclusionSuccess {
				t.Fatalf("the pipeline sluice init wrote failed on the server:\n%s", log.String())
			}
			for _, want := range append([]string{"passed"}, tc.installed...) {
				if !strings.Contains(log.String(), want) {
					t.Errorf("server: %q missing:\n%s", want, log.String())
				}
			}
		})
	}
}

type zeroConfigResult struct {
	out string
	ok  bool
}

// zeroConfigLocal runs `sluice ARGS` in dir as a user whose home is in env.
func zeroConfigLocal(t *testing.T, dir string, env []string, args ...string) zeroConfigResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sluiceBin(t), args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), "SLUICE_STATE_DIR="+t.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && (!errors.As(err, &ee) || ee.ExitCode() != 1) {
		t.Fatalf("sluice %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return zeroConfigResult{out: out.String(), ok: err == nil}
}
