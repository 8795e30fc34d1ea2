package python

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// toolsVenv returns the bin directory of a virtual environment holding uv, poetry, pdm and
// pip-tools from PyPI. It is built once and kept under the user cache directory so reruns
// are fast; a half-built one (no marker) is rebuilt.
func toolsVenv(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("installs tools from PyPI; skipped with -short")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Skipf("no user cache directory: %v", err)
	}
	root := filepath.Join(cache, "sluice-test-tools")
	venv := filepath.Join(root, "venv")
	bin := filepath.Join(venv, "bin")
	marker := filepath.Join(root, "ready-v1")
	if _, err := os.Stat(marker); err == nil {
		return bin
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not on PATH; needed to install test tools")
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(venv)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run(t, ctx, "", py, "-m", "venv", venv)
	run(t, ctx, "", filepath.Join(bin, "python"), "-m", "pip", "install", "-q", "uv", "poetry", "pdm", "pip-tools")
	if err := os.WriteFile(marker, []byte("uv poetry pdm pip-tools\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return bin
}

// run runs a command in dir and fails the test with its output if it fails.
func run(t *testing.T, ctx context.Context, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// writeFiles creates files (path → content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// pyenvPython returns the pyenv CPython of the given version, skipping when it is absent.
func pyenvPython(t *testing.T, version string) string {
	t.Helper()
	root := os.Getenv("PYENV_ROOT")
	if root == "" {
		home, _ := os.UserHomeDir()
		root = filepath.Join(home, ".pyenv")
	}
	p := filepath.Join(root, "versions", version, "bin", "python3")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("pyenv Python %s not installed (pyenv install %s)", version, version)
	}
	return p
}
