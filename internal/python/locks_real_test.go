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

// TestCheckLocksRealProjects runs the lock check on the lock files of real
// projects (testdata/real, see its README for where each comes from),
// as committed and after an edit that makes them stale, and, where the
// project's own tool is installed, checks that the tool's own check
// (`uv lock --check`, `poetry check --lock`, `pdm lock --check`) gives the
// same answer. attrs and pydantic reach requirements twice through
// include-group, and pydantic's dependency on its workspace member has a
// specifier uv does not record: both were reported stale before.
func TestCheckLocksRealProjects(t *testing.T) {
	tests := []struct {
		project string
		tool    []string // argv of the tool's own check, run in the project
		file    string   // what to edit to make it stale
		old     string
		new     string
		stale   string // the lock file reported
	}{
		{"attrs", []string{"uv", "lock", "--check"}, "pyproject.toml", `cov = [{ include-group = "tests" }, "coverage[toml]"]`, `cov = [{ include-group = "tests" }, "coverage[toml]", "tomli-w"]`, "uv.lock"},
		{"pydantic", []string{"uv", "lock", "--check"}, "pyproject.toml", `'pytest-mock',`, `'pytest-mock', 'tomli-w',`, "uv.lock"},
		{"flask", []string{"uv", "lock", "--check"}, "pyproject.toml", `dependencies = [`, `dependencies = [
    "tomli-w",`, "uv.lock"},
		{"poetry", []string{"poetry", "check", "--lock"}, "pyproject.toml", `dependencies = [`, `dependencies = [
    "six>=1",`, "poetry.lock"},
		{"pdm", []string{"pdm", "lock", "--check"}, "pyproject.toml", `dependencies = [`, `dependencies = [
    "six>=1",`, "pdm.lock"},
		{"warehouse", nil, "requirements/main.in", "zxcvbn\n", "zxcvbn\ntomli-w>=1\n", "requirements/main.txt"},
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
			dir := copyTree(t, filepath.Join("testdata", "real", tt.project))
			if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("readme\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := checkFiles(t, dir); len(got) != 0 {
				st, _ := CheckLocks(context.Background(), dir)
				t.Fatalf("the committed lock is reported stale: %+v", st)
			}
			toolAgrees(t, bin, dir, tt.tool, true)
			edit(t, filepath.Join(dir, tt.file), tt.old, tt.new)
			got := checkFiles(t, dir)
			if len(got) != 1 || !strings.HasPrefix(got[0], tt.stale+" → ") {
				t.Errorf("after the edit: %v; want %s reported stale", got, tt.stale)
			}
			toolAgrees(t, bin, dir, tt.tool, false)
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
		t.Errorf("%s says fresh, sluice says stale:\n%s", strings.Join(argv, " "), out)
	case err != nil && !errors.As(err, &ee):
		t.Logf("%s could not run: %v", strings.Join(argv, " "), err)
	case err != nil && fresh:
		if strings.Contains(string(out), "network") || strings.Contains(string(out), "resolve") && strings.Contains(string(out), "connect") {
			t.Skipf("%s needs the network: %s", strings.Join(argv, " "), out)
		}
		t.Errorf("%s says stale, sluice says fresh:\n%s", strings.Join(argv, " "), out)
	}
}
