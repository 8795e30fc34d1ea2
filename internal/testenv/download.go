package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Download fetches distribution files from PyPI (pip download, no
// dependencies) into a directory kept under the user cache, once; it skips
// the test when PyPI cannot be reached.
func Download(t testing.TB, name string, reqs ...string) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "sluice-test-tools", "dl-"+name)
	stamp := filepath.Join(dir, "sluice-stamp")
	want := strings.Join(reqs, "\n")
	if b, err := os.ReadFile(stamp); err == nil && string(b) == want {
		return dir
	}
	py := PypiTools(t)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "dl-"+name+".tmp-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command(py, append([]string{"-m", "pip", "download", "-q", "--no-deps", "--disable-pip-version-check", "-d", tmp}, reqs...)...)
	cmd.Env = append(os.Environ(), "PIP_DISABLE_PIP_VERSION_CHECK=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot download %v from PyPI: %v\n%s", reqs, err, out)
	}
	if err := os.WriteFile(filepath.Join(tmp, "sluice-stamp"), []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(stamp); serr != nil { // another process won the race
			t.Fatal(err)
		}
	}
	return dir
}
