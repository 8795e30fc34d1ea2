package oci

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	podmanSocket = "unix:///run/sluice-podman.sock"
	pythonImage  = "localhost/sluice/python:3.11"
)

func podman(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "podman", append([]string{"--url", podmanSocket}, args...)...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// pythonBase returns the project's Python image as an OCI layout, exported
// from Podman once per image ID and kept in the test tools cache, or skips
// when Podman or the image is not here.
func pythonBase(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id, err := podman(ctx, "image", "inspect", "--format", "{{.Id}}", pythonImage)
	if err != nil {
		t.Skipf("podman at %s has no %s: %v %s", podmanSocket, pythonImage, err, id)
	}
	cacheBase, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cacheBase, "sluice-test-tools", "oci-base-"+id[:min(len(id), 16)])
	if _, err := imageFromLayout(dir); err == nil {
		return dir
	}
	archive := filepath.Join(t.TempDir(), "python.tar")
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := podman(ctx, "save", "-o", archive, pythonImage); err != nil {
		t.Fatalf("podman save: %v\n%s", err, out)
	}
	img, cleanup, err := openImage(ctx, archive, false, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	if err := writeLayout(dir, img); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestImageRunsInPodman builds on the real Python base, pushes to the
// in-process registry, pulls it into Podman and imports the locked
// dependency and the app in a container.
func TestImageRunsInPodman(t *testing.T) {
	t.Parallel()
	base := pythonBase(t)
	f := newFixture(t)
	ctx := context.Background()
	s := f.spec(t, t.TempDir())
	s.Base = base
	s.Entrypoint = nil
	s.Cmd = []string{"app-hello"}
	res, err := Build(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	baseImg, err := imageFromLayout(base)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := basePythonVersion(baseImg, "/usr/bin/python3"); err != nil || v != "3.11" {
		t.Errorf("base Python version = %q (%v), want 3.11", v, err)
	}
	reg := startRegistry(t)
	ref := reg + "/sluice-test/app:" + strings.TrimPrefix(res.Digest, "sha256:")[:12]
	if _, err := Push(ctx, res.Path, ref, true, nil); err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if out, err := podman(pctx, "pull", "--tls-verify=false", ref); err != nil {
		t.Fatalf("podman pull %s: %v\n%s", ref, err, out)
	}
	t.Cleanup(func() { podman(context.Background(), "rmi", "-f", ref) })
	digest, err := podman(pctx, "image", "inspect", "--format", "{{.Digest}}", ref)
	if err != nil || digest != res.Digest {
		t.Errorf("podman has digest %q (%v), built %s", digest, err, res.Digest)
	}
	out, err := podman(pctx, "run", "--rm", ref, "python3", "-c", "import six, app; print(six.__version__, app.__file__)")
	if err != nil {
		t.Fatalf("podman run: %v\n%s", err, out)
	}
	if want := "1.16.0 /opt/sluice/app/app/__init__.py"; !strings.Contains(out, want) {
		t.Errorf("container printed %q, want %q", out, want)
	}
	out, err = podman(pctx, "run", "--rm", ref)
	if err != nil || !strings.Contains(out, "hello True") {
		t.Errorf("default command printed %q (%v), want the console script's greeting", out, err)
	}
}
