package oci

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const (
	sixWheel  = "six-1.16.0-py2.py3-none-any.whl"
	flitWheel = "flit_core-3.9.0-py3-none-any.whl"
	testEpoch = 1700000000
)

// testTools returns a directory holding the real wheels the tests install:
// six (the locked dependency) and flit_core (to build the app wheel),
// downloaded from PyPI once and kept across runs.
func testTools(t *testing.T) string {
	t.Helper()
	base, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "sluice-test-tools", "oci-wheels")
	if exists(filepath.Join(dir, sixWheel)) && exists(filepath.Join(dir, flitWheel)) {
		return dir
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".dl-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	run(t, "", "python3", "-m", "pip", "download", "--disable-pip-version-check", "--only-binary=:all:", "--no-deps",
		"-d", tmp, "six==1.16.0", "flit_core==3.9.0")
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil && !exists(filepath.Join(dir, sixWheel)) {
		t.Fatal(err)
	}
	return dir
}

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), "PIP_CONFIG_FILE="+os.DevNull)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// buildAppWheel builds a real wheel of a generated package "app" (with a
// console script) using pip and flit_core, offline.
func buildAppWheel(t *testing.T, tools, version, body string) string {
	t.Helper()
	src := t.TempDir()
	files := map[string]string{
		"pyproject.toml": `[build-system]
requires = ["flit_core==3.9.0"]
build-backend = "flit_core.buildapi"
[project]
name = "app"
version = "` + version + `"
description = "sluice test app"
[project.scripts]
app-hello = "app:main"
`,
		"app/__init__.py": body,
	}
	for name, content := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	cmd := exec.Command("python3", "-m", "pip", "wheel", "--disable-pip-version-check", "--no-build-isolation",
		"--no-index", "--no-deps", "--no-cache-dir", "-w", out, src)
	// flit_core is pure Python, so the wheel itself is importable.
	cmd.Env = append(cleanEnv(), "PIP_CONFIG_FILE="+os.DevNull, "SOURCE_DATE_EPOCH=1700000000",
		"PYTHONPATH="+filepath.Join(tools, flitWheel))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pip wheel: %v\n%s", err, b)
	}
	m, err := filepath.Glob(filepath.Join(out, "app-"+version+"-*.whl"))
	if err != nil || len(m) != 1 {
		t.Fatalf("built wheels %v (%v)", m, err)
	}
	return m[0]
}

func writeLock(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "requirements.lock")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// randomBase writes a small random image as a docker archive, the format of
// `podman save`.
func randomBase(t *testing.T) (string, v1.Image) {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "base.tar")
	if err := tarball.WriteToFile(p, nil, img); err != nil {
		t.Fatal(err)
	}
	return p, img
}

type tarEntry struct {
	Name     string
	Mode     int64
	UID, GID int
	Unix     int64
	Body     string
	Link     string
}

func layerEntries(t *testing.T, l v1.Layer) map[string]tarEntry {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string]tarEntry{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		if _, err := io.Copy(&body, tr); err != nil {
			t.Fatal(err)
		}
		out[h.Name] = tarEntry{Name: h.Name, Mode: h.Mode, UID: h.Uid, GID: h.Gid, Unix: h.ModTime.Unix(), Body: body.String(), Link: h.Linkname}
	}
}
