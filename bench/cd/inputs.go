package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// lockfile pins requests and everything it needs, as pip-compile would;
// charset-normalizer is a compiled wheel, so the image's Python must match.
const lockfile = `# pinned: requests and its dependencies
certifi==2026.10.18
charset-normalizer==3.5.2
idna==3.20
requests==2.32.3
urllib3==2.8.0
`

// appSource is the release's code: an HTTP server that says its version and
// proves the locked dependency is importable.
const appSource = `import http.server
import os

import requests

VERSION = "%s"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("benchapp %%s (requests %%s)\n" %% (VERSION, requests.__version__)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    port = int(os.environ.get("PORT", "8000"))
    http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
`

// sourceDateEpoch stamps both sluice builds (2026-01-01).
const sourceDateEpoch = 1767225600

// The two releases of the app.
const (
	appV1 = "1.0.0"
	appV2 = "2.0.0"
)

type inputs struct {
	baseLayout string    // the base image as an OCI layout
	lock       string    // requirements lockfile
	wheels     [2]string // the app's wheel, versions 1.0.0 and 2.0.0
	// warm[i] is 2.0.0 for warm build i, each with a source no earlier build
	// (of this run or one before) had, so no layer cache holds it; warm[0]
	// is wheels[1].
	warm []string
}

func prepareInputs(ctx context.Context, cfg config, scratch string) (inputs, error) {
	var in inputs
	var err error
	if in.baseLayout, err = baseLayout(ctx, cfg); err != nil {
		return in, err
	}
	in.lock = filepath.Join(scratch, "requirements.lock")
	if err := os.WriteFile(in.lock, []byte(lockfile), 0o644); err != nil {
		return in, fmt.Errorf("writing the lockfile: %w", err)
	}
	dir := filepath.Join(scratch, "wheel-"+appV1)
	if in.wheels[0], err = writeWheel(dir, "benchapp", appV1, fmt.Sprintf(appSource, appV1)); err != nil {
		return in, err
	}
	nonce := time.Now().UnixNano()
	for i := range cfg.buildRuns {
		dir := filepath.Join(scratch, fmt.Sprintf("wheel-%s-%d", appV2, i))
		src := fmt.Sprintf(appSource, appV2) + fmt.Sprintf("\n# build %d-%d\n", nonce, i)
		w, err := writeWheel(dir, "benchapp", appV2, src)
		if err != nil {
			return in, err
		}
		in.warm = append(in.warm, w)
	}
	in.wheels[1] = in.warm[0]
	return in, nil
}

// baseLayout exports the Podman image once per image ID into an OCI layout
// under the work directory: oci.Build reads digests from a layout, whereas a
// docker archive would be re-hashed (and its layers re-gzipped) every build.
func baseLayout(ctx context.Context, cfg config) (string, error) {
	id, err := podmanOut(ctx, "image", "inspect", "--format", "{{.Id}}", cfg.baseImage)
	if err != nil {
		return "", fmt.Errorf("%w (scripts/build-images.sh builds it)", err)
	}
	dir := filepath.Join(cfg.work, "base-"+id[:min(len(id), 16)])
	if _, err := layout.ImageIndexFromPath(dir); err == nil {
		return dir, nil
	}
	logf("exporting %s (%s) to %s, once", cfg.baseImage, id[:min(len(id), 12)], dir)
	archive := filepath.Join(cfg.work, "base.tar")
	defer os.Remove(archive)
	if _, err := podmanOut(ctx, "save", "-o", archive, cfg.baseImage); err != nil {
		return "", err
	}
	img, err := tarball.ImageFromPath(archive, nil)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", archive, err)
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return "", fmt.Errorf("creating layout %s: %w", tmp, err)
	}
	if err := p.AppendImage(img); err != nil {
		return "", fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("moving layout into place: %w", err)
	}
	return dir, nil
}

// writeWheel writes a pure-Python wheel of one package with a console
// script named after it, and returns its path.
func writeWheel(dir, pkg, version, source string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	di := pkg + "-" + version + ".dist-info"
	files := []struct{ name, body string }{
		{pkg + "/__init__.py", source},
		{di + "/METADATA", "Metadata-Version: 2.1\nName: " + pkg + "\nVersion: " + version + "\nRequires-Dist: requests\n"},
		{di + "/WHEEL", "Wheel-Version: 1.0\nGenerator: sluice-bench-cd\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
		{di + "/entry_points.txt", "[console_scripts]\n" + pkg + " = " + pkg + ":main\n"},
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var record strings.Builder
	stamp := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	add := func(name, body string) error {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: stamp})
		if err != nil {
			return err
		}
		_, err = w.Write([]byte(body))
		return err
	}
	for _, f := range files {
		if err := add(f.name, f.body); err != nil {
			return "", fmt.Errorf("writing wheel: %w", err)
		}
		sum := sha256.Sum256([]byte(f.body))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(f.body))
	}
	record.WriteString(di + "/RECORD,,\n")
	if err := add(di+"/RECORD", record.String()); err != nil {
		return "", fmt.Errorf("writing wheel: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("writing wheel: %w", err)
	}
	p := filepath.Join(dir, pkg+"-"+version+"-py3-none-any.whl")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("writing %s: %w", p, err)
	}
	return p, nil
}
