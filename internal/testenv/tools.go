package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// PypiTools returns the python of the shared venv that runs a pypiserver
// index and builds wheels and sdists (python -m build --no-isolation). Its
// package list lives here only: a venv is rebuilt, and removed under
// whoever uses it, when its list changes, so its users must agree on it.
func PypiTools(t testing.TB) string {
	t.Helper()
	return ToolsPython(t, "pypi-publish", "pypiserver==2.4.2", "passlib==1.7.4", "build>=1", "setuptools>=70", "wheel")
}

// ToolsPython returns the python of a venv holding pkgs, cached under the
// user cache dir so reruns skip the install; it skips the test when the
// packages cannot be installed. The venv is built aside and renamed into
// place, so a half-built one is never used; scripts in a moved venv have
// stale shebangs, hence callers run "python -m TOOL".
func ToolsPython(t testing.TB, name string, pkgs ...string) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: cannot build the test tools venv")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	root := filepath.Join(cache, "sluice-test-tools")
	final := filepath.Join(root, name)
	stamp := strings.Join(pkgs, "\n")
	venvPython := func(dir string) string { return filepath.Join(dir, "bin", "python") }
	if b, err := os.ReadFile(filepath.Join(final, "sluice-stamp")); err == nil && string(b) == stamp {
		return venvPython(final)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(root, name+".building-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := func(args ...string) {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "PIP_DISABLE_PIP_VERSION_CHECK=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("cannot install test tools %v (no package index reachable?): %s: %v\n%s", pkgs, strings.Join(args, " "), err, out)
		}
	}
	run(py, "-m", "venv", tmp)
	run(append([]string{venvPython(tmp), "-m", "pip", "install", "-q"}, pkgs...)...)
	if err := os.WriteFile(filepath.Join(tmp, "sluice-stamp"), []byte(stamp), 0o644); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(final) // a stale venv with another package list
	if err := os.Rename(tmp, final); err != nil {
		// Another test process won the race; its venv serves as well.
		if _, statErr := os.Stat(filepath.Join(final, "sluice-stamp")); statErr != nil {
			t.Fatalf("installing tools venv: %v", err)
		}
	}
	return venvPython(final)
}

// Run runs a command in dir with env added to the test's environment and
// returns its combined output, failing the test with that output on error.
func Run(t testing.TB, ctx context.Context, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// WriteFiles writes files (slash-separated path → content) under dir,
// making directories as needed.
func WriteFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(fmt.Errorf("writing %s: %w", p, err))
		}
	}
}

// LockTools returns the python of the shared venv holding the lock tools that dependency
// updates and version bumps are tested with: uv, poetry, pdm and pip-tools, each pinned (pdm
// 2.29 breaks with hishel 2). Run them as `python -m uv|poetry|pdm|piptools`.
func LockTools(t testing.TB) string {
	t.Helper()
	return ToolsPython(t, "lock-tools", "uv==0.13.9", "poetry==2.5.1", "pdm==2.29.4", "hishel[httpx2]>=1.4,<2", "pip-tools==7.7.0")
}
