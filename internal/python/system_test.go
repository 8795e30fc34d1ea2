package python

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func pyenv312(t *testing.T) Interpreter {
	t.Helper()
	root := os.Getenv("PYENV_ROOT")
	if root == "" {
		home, _ := os.UserHomeDir()
		root = filepath.Join(home, ".pyenv")
	}
	p := filepath.Join(root, "versions", "3.12.1", "bin", "python3.12")
	if _, err := os.Stat(p); err != nil {
		t.Skip("pyenv 3.12.1 is not installed")
	}
	return Interpreter{Path: p, Version: "3.12.1", Impl: "cpython"}
}

// TestSystemCopy: the copy is a system installation of its own (uv's --system takes it; a
// virtual environment it would skip), its installs stay in it, and it reaches the machine's
// standard library and site-packages through links that a job's deletions do not follow.
func TestSystemCopy(t *testing.T) {
	base := pyenv312(t)
	dir := filepath.Join(t.TempDir(), "py")
	wheelDir := t.TempDir()
	bin, err := SystemCopy(base, dir, wheelDir)
	if err != nil {
		t.Fatal(err)
	}
	if bin != filepath.Join(dir, "bin") {
		t.Errorf("bin = %s, want %s", bin, filepath.Join(dir, "bin"))
	}
	out, err := exec.Command(filepath.Join(bin, "python"), "-c",
		"import sys, sysconfig, pip; print(sys.prefix); print(sys.base_prefix); print(sysconfig.get_paths()['purelib']); print(sys.path.index(sys.argv[1]) < sys.path.index(sys.argv[2]))",
		wheelDir, filepath.Join(filepath.Dir(filepath.Dir(base.Path)), "lib", "python3.12", "site-packages")).CombinedOutput()
	if err != nil {
		t.Fatalf("running the copy: %v\n%s", err, out)
	}
	want := []string{dir, dir, filepath.Join(dir, "lib", "python3.12", "site-packages"), "True"}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(string(out)), "\n")); diff != "" {
		t.Errorf("the copy's prefix, base prefix, site-packages, path order (-want +got):\n%s", diff)
	}
	for _, name := range []string{"python", "python3", "python3.12"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			t.Errorf("the copy has no %s: %v", name, err)
		}
	}
	// setup-python run again for the version in the same job keeps what the job installed.
	installed := filepath.Join(dir, "lib", "python3.12", "site-packages", "installed_by_job.py")
	if err := os.WriteFile(installed, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := SystemCopy(base, dir, wheelDir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(installed); err != nil {
		t.Errorf("making the copy again lost what the job installed into it: %v", err)
	}
	// Deleting what the copy links (as an uninstall or a cleanup would) leaves the machine's.
	if err := os.RemoveAll(filepath.Join(dir, "lib")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(filepath.Dir(base.Path)), "lib", "python3.12", "os.py")); err != nil {
		t.Fatalf("removing the copy removed the machine's standard library: %v", err)
	}
}

// TestSystemCopyDropsTheManagedMarker: a uv-managed interpreter says it is externally managed
// (PEP 668), and uv then refuses --system; the job's copy is the job's to install into.
func TestSystemCopyDropsTheManagedMarker(t *testing.T) {
	first := filepath.Join(t.TempDir(), "managed")
	if _, err := SystemCopy(pyenv312(t), first); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(first, "lib", "python3.12", "EXTERNALLY-MANAGED"), []byte("[externally-managed]\nError=managed by uv\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	managed := Interpreter{Path: filepath.Join(first, "bin", "python3.12"), Version: "3.12.1", Impl: "cpython"}
	dir := filepath.Join(t.TempDir(), "job")
	if _, err := SystemCopy(managed, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "lib", "python3.12", "EXTERNALLY-MANAGED")); err == nil {
		t.Error("the job's copy says it is externally managed")
	}
	if _, err := os.Lstat(filepath.Join(dir, "lib", "python3.12", "os.py")); err != nil {
		t.Errorf("the job's copy lacks the standard library: %v", err)
	}
}

func TestSystemCopyLayoutsItLeaves(t *testing.T) {
	for _, in := range []Interpreter{
		{Path: "/usr/bin/python3", Version: "3.11.2", Impl: "cpython"},
		{Path: "/opt/pypy/bin/pypy3", Version: "3.10.14", Impl: "pypy"},
	} {
		if _, err := os.Stat(in.Path); err != nil && in.Impl == "cpython" {
			continue
		}
		if _, err := SystemCopy(in, filepath.Join(t.TempDir(), "x")); !errors.Is(err, ErrNoSystemCopy) {
			t.Errorf("SystemCopy(%s) = %v, want ErrNoSystemCopy", in.Path, err)
		}
	}
}

// BenchmarkSystemCopy is what setup-python adds per interpreter to every run, warm or cold:
// go test -run '^$' -bench SystemCopy ./internal/python
func BenchmarkSystemCopy(b *testing.B) {
	root := os.Getenv("PYENV_ROOT")
	if root == "" {
		home, _ := os.UserHomeDir()
		root = filepath.Join(home, ".pyenv")
	}
	in := Interpreter{Path: filepath.Join(root, "versions", "3.12.1", "bin", "python3.12"), Version: "3.12.1", Impl: "cpython"}
	if _, err := os.Stat(in.Path); err != nil {
		b.Skip("pyenv 3.12.1 is not installed")
	}
	dir := b.TempDir()
	for i := 0; b.Loop(); i++ {
		if _, err := SystemCopy(in, filepath.Join(dir, strconv.Itoa(i))); err != nil {
			b.Fatal(err)
		}
	}
}
