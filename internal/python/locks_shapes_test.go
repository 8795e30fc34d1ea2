package python

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// copyTree copies testdata into a temporary directory the test may change.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func edit(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// lockEdit changes one file of a lock-shape project; stale names the lock
// file out of date afterwards (by the tool's verdict where there is one), ""
// when the edit leaves it fresh.
type lockEdit struct {
	name     string
	file     string
	old, new string
	stale    string
}

// TestCheckLocksShapes runs the lock check on small hand-made projects
// (testdata/locks, see its README for what each reproduces and how its lock
// was made with the real tool), as committed and after each edit, and, where
// the tools venv is built, checks that the tool's own check (`uv lock
// --check`, `poetry check --lock`, `pdm lock --check`) gives the same answer.
// Each project reproduces a shape a real project's lock showed us: groups
// reaching a requirement twice through include-group and a workspace member
// depended on with a specifier uv does not record were both reported stale
// before.
func TestCheckLocksShapes(t *testing.T) {
	uvCheck := []string{"uv", "lock", "--check"}
	tests := []struct {
		project string
		tool    []string // argv of the tool's own check, run in the project
		edits   []lockEdit
	}{
		{"uv-include-groups", uvCheck, []lockEdit{
			{"requirement added to an included group", "pyproject.toml", `"iniconfig>=2",`, `"iniconfig>=2", "tomli-w",`, "uv.lock"},
			{"requirement a group already reaches, other quotes", "pyproject.toml", `"packaging>=24",`, `"packaging>=24", "six; platform_python_implementation == 'CPython'",`, ""},
			{"group dropped", "pyproject.toml", `typing = [{ include-group = "tests" }, 'typing-extensions; python_version < "3.12"']`, ``, "uv.lock"},
		}},
		{"uv-workspace", uvCheck, []lockEdit{
			{"member's group changed", "core/pyproject.toml", `"iniconfig",`, `"iniconfig", "tomli-w",`, "uv.lock"},
			{"member's dependency changed", "core/pyproject.toml", `"typing-extensions>=4.12"`, `"typing-extensions>=4.13"`, "uv.lock"},
			{"root's extra changed", "pyproject.toml", `text = ["markdown-it-py>=3"]`, `text = ["markdown-it-py>=3", "tomli-w"]`, "uv.lock"},
			{"member's specifier changed", "pyproject.toml", `"ws-core==0.3.0"`, `"ws-core>=0.3"`, ""},
		}},
		{"uv-extras", uvCheck, []lockEdit{
			{"extra added", "pyproject.toml", `compat = ["typing-extensions"]`, `compat = ["typing-extensions"]
cli = ["colorama"]`, "uv.lock"},
			{"group upper bound raised", "pyproject.toml", `"packaging<26"`, `"packaging<27"`, "uv.lock"},
			{"dependency added", "pyproject.toml", `"iniconfig>=2.0",`, `"iniconfig>=2.0", "tomli-w",`, "uv.lock"},
			{"description changed", "pyproject.toml", `description = "extras"`, `description = "other"`, ""},
		}},
		{"poetry-groups", []string{"poetry", "check", "--lock"}, []lockEdit{
			{"dependency added", "pyproject.toml", `"six (>=1.16,<2.0)",`, `"six (>=1.16,<2.0)", "tomli-w (>=1)",`, "poetry.lock"},
			{"group requirement changed", "pyproject.toml", `iniconfig = ">=2.0"`, `iniconfig = ">=2.1"`, "poetry.lock"},
			{"optional group changed", "pyproject.toml", `tomli-w = "^1.0"`, `tomli-w = "^1.1"`, "poetry.lock"},
			{"authors and version changed", "pyproject.toml", `version = "0.5.0.dev0"`, `version = "0.5.0"
maintainers = [{ name = "Zoë" }]`, ""},
		}},
		{"pdm-self-extras", []string{"pdm", "lock", "--check"}, []lockEdit{
			{"extra's own extras changed", "pyproject.toml", `all = ["pdm-demo[ini,typing]"]`, `all = ["pdm-demo[ini]"]`, "pdm.lock"},
			{"group changed", "pyproject.toml", `"tomli-w>=1.0",`, `"tomli-w>=1.0", "six",`, "pdm.lock"},
			{"marker quotes changed", "pyproject.toml", `"exceptiongroup>=1.2; python_version < \"3.11\""`, `"exceptiongroup>=1.2; python_version < '3.11'"`, "pdm.lock"},
			{"dynamic version bumped", "src/pdm_demo/__init__.py", `0.2.0`, `0.3.0`, ""},
		}},
		// pip-compile has no check of its own (re-running it resolves against
		// today's index), so these are checked by sluice alone.
		{"pip-compile", nil, []lockEdit{
			{"requirement added", "requirements/main.in", "packaging>=24\n", "packaging>=24\ntomli-w>=1\n", "requirements/main.txt"},
			{"comment added", "requirements/main.in", "six\n", "six  # six\n", ""},
			{"hand-written file changed", "requirements/ipython.txt", "six>=1\n", "six>=2\n", ""},
			{"file reached through -r no longer satisfied", "requirements/base.in", "iniconfig>=2\n", "iniconfig<2\n", "requirements/tests.txt"},
		}},
	}
	bin := ""
	if !testing.Short() {
		if cache, err := os.UserCacheDir(); err == nil {
			if _, err := os.Stat(filepath.Join(cache, "sluice-test-tools", "ready-v1")); err == nil {
				bin = filepath.Join(cache, "sluice-test-tools", "venv", "bin")
			}
		}
	}
	for _, tt := range tests {
		t.Run(tt.project, func(t *testing.T) {
			src := filepath.Join("testdata", "locks", tt.project)
			t.Run("as committed", func(t *testing.T) {
				dir := copyTree(t, src)
				if got := checkFiles(t, dir); len(got) != 0 {
					st, _ := CheckLocks(context.Background(), dir)
					t.Fatalf("the committed lock is reported stale: %+v", st)
				}
				toolAgrees(t, bin, dir, tt.tool, true)
			})
			for _, e := range tt.edits {
				t.Run(e.name, func(t *testing.T) {
					dir := copyTree(t, src)
					edit(t, filepath.Join(dir, e.file), e.old, e.new)
					got := checkFiles(t, dir)
					switch {
					case e.stale != "" && (len(got) != 1 || !strings.HasPrefix(got[0], e.stale+" → ")):
						t.Errorf("after the edit: %v; want %s reported stale", got, e.stale)
					case e.stale == "" && len(got) != 0:
						st, _ := CheckLocks(context.Background(), dir)
						t.Errorf("after the edit: %+v; want the lock fresh", st)
					}
					toolAgrees(t, bin, dir, tt.tool, e.stale == "")
				})
			}
		})
	}
}

// toolAgrees runs the tool's own check when it is installed and fails the
// test unless it says fresh when fresh is true, stale otherwise.
func toolAgrees(t *testing.T, bin, dir string, argv []string, fresh bool) {
	t.Helper()
	if bin == "" || len(argv) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, argv[0]), argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "UV_PYTHON_DOWNLOADS=never", "PDM_CHECK_UPDATE=false", "PDM_IGNORE_SAVED_PYTHON=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil && !fresh:
		t.Errorf("%s says fresh, the test expects stale:\n%s", strings.Join(argv, " "), out)
	case err != nil && !errors.As(err, &ee):
		t.Logf("%s could not run: %v", strings.Join(argv, " "), err)
	case err != nil && !fresh && ee.ExitCode() != 1:
		// uv, poetry and pdm exit 1 for a stale lock; anything else is the
		// tool failing (a malformed edit), not a verdict.
		t.Errorf("%s failed rather than calling the lock stale:\n%s", strings.Join(argv, " "), out)
	case err != nil && fresh:
		if strings.Contains(string(out), "network") || strings.Contains(string(out), "resolve") && strings.Contains(string(out), "connect") {
			t.Skipf("%s needs the network: %s", strings.Join(argv, " "), out)
		}
		t.Errorf("%s says stale, the test expects fresh:\n%s", strings.Join(argv, " "), out)
	}
}
