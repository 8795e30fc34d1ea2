package roots

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDropEscapingLinks(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret.key")
	os.WriteFile(outside, []byte("KEY"), 0o600)
	os.MkdirAll(filepath.Join(dir, ".github", "workflows"), 0o755)
	os.WriteFile(filepath.Join(dir, "ci.yml"), []byte("on: push"), 0o644)
	links := map[string]string{
		".github/workflows/evil.yml": outside,
		".github/workflows/ok.yml":   "../../ci.yml",
		".github/workflows/up.yml":   "../../../x",
		"dangling":                   "nowhere",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := DropEscapingLinks(dir); err != nil {
		t.Fatal(err)
	}
	var left []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			left = append(left, rel)
		}
		return nil
	})
	sort.Strings(left)
	if diff := cmp.Diff([]string{".github/workflows/ok.yml", "ci.yml"}, left); diff != "" {
		t.Errorf("files left (-want +got):\n%s", diff)
	}
}

// TestSetKeepsPathsInside: paths are placed in the job's directories by
// name and followed through symlinks only while they stay inside; read-only
// directories are readable, not writable.
func TestSetKeepsPathsInside(t *testing.T) {
	ws, home, ro, outside := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("S"), 0o600)
	os.WriteFile(filepath.Join(ro, "image"), []byte("I"), 0o600)
	os.Symlink(outside, filepath.Join(ws, "out"))
	os.Symlink(filepath.Join(ws, "dist"), filepath.Join(ws, "in"))
	os.MkdirAll(filepath.Join(ws, "dist"), 0o755)
	s := New(ws, home).WithReadOnly(ro)

	for _, p := range []string{filepath.Join(outside, "secret"), "../" + filepath.Base(outside) + "/secret", "out/secret", "out"} {
		if _, err := s.Resolve(p); !IsEscape(err) {
			t.Errorf("Resolve(%q) = %v, want an OutsideError", p, err)
		}
		if _, err := s.OpenFile(s.Abs(p)); !IsEscape(err) {
			t.Errorf("OpenFile(%q) = %v, want an OutsideError", p, err)
		}
	}
	if got, err := s.Resolve("in"); err != nil || got != filepath.Join(ws, "dist") {
		t.Errorf("Resolve(in) = %q, %v; want the dist directory", got, err)
	}
	if got := s.Abs("~/x"); got != filepath.Join(home, "x") {
		t.Errorf("Abs(~/x) = %q", got)
	}
	if f, err := s.OpenFile(filepath.Join(ro, "image")); err != nil {
		t.Errorf("reading a read-only directory: %v", err)
	} else {
		f.Close()
	}
	if _, err := s.Create(filepath.Join(ro, "new"), 0o644); !IsEscape(err) {
		t.Errorf("writing a read-only directory: %v, want an OutsideError", err)
	}
	if _, err := s.Create(filepath.Join(ws, "out", "planted"), 0o644); !IsEscape(err) {
		t.Errorf("writing through a link leading out: %v, want an OutsideError", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); err == nil {
		t.Error("a file was written outside")
	}
}
