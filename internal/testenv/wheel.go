package testenv

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// WriteWheel writes a pure-Python wheel of distribution name at version
// into dir: one module, name.py, whose VERSION is version, with the given
// Requires-Dist lines. Installs need neither a build nor the network.
func WriteWheel(t testing.TB, dir, name, version string, requires ...string) string {
	t.Helper()
	mod := strings.ReplaceAll(name, "-", "_")
	p := filepath.Join(dir, fmt.Sprintf("%s-%s-py3-none-any.whl", mod, version))
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	info := fmt.Sprintf("%s-%s.dist-info", mod, version)
	meta := fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n", name, version)
	for _, r := range requires {
		meta += "Requires-Dist: " + r + "\n"
	}
	files := []struct{ name, body string }{
		{mod + ".py", fmt.Sprintf("VERSION = %q\n", version)},
		{info + "/METADATA", meta},
		{info + "/WHEEL", "Wheel-Version: 1.0\nGenerator: sluice-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	var record strings.Builder
	for _, fl := range files {
		w, err := zw.Create(fl.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(fl.body)); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(fl.body))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", fl.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(fl.body))
	}
	fmt.Fprintf(&record, "%s/RECORD,,\n", info)
	w, err := zw.Create(info + "/RECORD")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(record.String())); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

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
	args := append([]string{"-m", "pip", "download", "-q", "--no-deps", "--disable-pip-version-check", "-d", tmp}, reqs...)
	cmd := execCommand(py, args...)
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
