package testenv

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// WheelSpec describes a small pure-Python wheel a test builds for a package index.
type WheelSpec struct {
	Name, Version string
	Requires      []string          // Requires-Dist lines
	ProjectURLs   map[string]string // label → URL (Project-URL lines)
	Module        string            // the module's source; default sets VERSION
	Uploaded      time.Time         // the file's modification time (pypiserver's Last-Modified); zero: now
}

// WriteWheel writes a valid wheel (METADATA, WHEEL and a RECORD with hashes, as pip, uv,
// poetry and pdm check) into dir and returns its path.
func WriteWheel(t testing.TB, dir string, w WheelSpec) string {
	t.Helper()
	dist := strings.ReplaceAll(strings.ReplaceAll(w.Name, "-", "_"), ".", "_")
	info := fmt.Sprintf("%s-%s.dist-info", dist, w.Version)
	var meta strings.Builder
	fmt.Fprintf(&meta, "Metadata-Version: 2.1\nName: %s\nVersion: %s\n", w.Name, w.Version)
	for _, r := range w.Requires {
		fmt.Fprintf(&meta, "Requires-Dist: %s\n", r)
	}
	labels := make([]string, 0, len(w.ProjectURLs))
	for l := range w.ProjectURLs {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	for _, l := range labels {
		fmt.Fprintf(&meta, "Project-URL: %s, %s\n", l, w.ProjectURLs[l])
	}
	module := w.Module
	if module == "" {
		module = fmt.Sprintf("VERSION = %q\n", w.Version)
	}
	files := map[string]string{
		dist + "/__init__.py":   module,
		info + "/METADATA":      meta.String(),
		info + "/WHEEL":         "Wheel-Version: 1.0\nGenerator: sluice-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
		info + "/top_level.txt": dist + "\n",
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var record strings.Builder
	for _, n := range names {
		sum := sha256.Sum256([]byte(files[n]))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", n, base64.RawURLEncoding.EncodeToString(sum[:]), len(files[n]))
	}
	record.WriteString(info + "/RECORD,,\n")
	files[info+"/RECORD"] = record.String()
	names = append(names, info+"/RECORD")
	path := filepath.Join(dir, fmt.Sprintf("%s-%s-py3-none-any.whl", dist, w.Version))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, n := range names {
		h := &zip.FileHeader{Name: n, Method: zip.Deflate}
		h.Modified = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		wr, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := wr.Write([]byte(files[n])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if !w.Uploaded.IsZero() {
		if err := os.Chtimes(path, w.Uploaded, w.Uploaded); err != nil {
			t.Fatal(err)
		}
	}
	return path
}
