package pypi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/testenv"
)

// buildDemoPackage builds a wheel and an sdist with setuptools and returns
// the dist directory.
func buildDemoPackage(t *testing.T, ctx context.Context, python string) string {
	t.Helper()
	src := t.TempDir()
	testenv.WriteFiles(t, src, map[string]string{
		"pyproject.toml": `[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "sluice-demo-pkg"
version = "0.1.0"
description = "A package sluice's tests publish"
readme = "README.md"
requires-python = ">=3.8"
dependencies = ["requests>=2", "packaging"]
classifiers = ["Programming Language :: Python :: 3", "Topic :: Software Development"]
`,
		"README.md":                          "# sluice demo\n\nPublished by a test.\n",
		"src/sluice_demo_pkg/__init__.py":    "GREETING = 'hello from sluice-demo-pkg'\n",
		"src/sluice_demo_pkg/extra/data.txt": "data\n",
	})
	dist := filepath.Join(src, "dist")
	testenv.Run(t, ctx, src, nil, python, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", dist, src)
	// Things a dist dir picks up that are not distributions.
	testenv.WriteFiles(t, dist, map[string]string{".gitignore": "*\n", "build.log": "x\n"})
	return dist
}

func TestUploadToPypiserver(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real package index")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	python := testenv.PypiTools(t)
	const user, password = "uploader", "Pw-9f1c-not-in-logs"
	srv := testenv.StartPypiserver(t, ctx, python, user, password)
	dist := buildDemoPackage(t, ctx, python)
	opts := func(pw string, skip bool, logs *[]string) UploadOptions {
		return UploadOptions{
			RepositoryURL: srv.URL + "/", User: user, Password: pw, SkipExisting: skip,
			PrintHash: true, Verbose: true, Log: func(s string) { *logs = append(*logs, s) },
		}
	}
	var logs []string
	checkLogs := func() {
		t.Helper()
		if j := strings.Join(logs, "\n"); strings.Contains(j, password) || strings.Contains(j, "wrong-"+password) {
			t.Errorf("log shows a password:\n%s", j)
		}
	}

	// Refused before anything lands: no credentials (401), then a wrong
	// password (pypiserver answers 403 to that; PyPI 403 too).
	for _, c := range []struct {
		pw     string
		status int
	}{{"", http.StatusUnauthorized}, {"wrong-" + password, http.StatusForbidden}} {
		_, err := Upload(ctx, dist, opts(c.pw, false, &logs))
		var ue *UploadError
		if !errors.As(err, &ue) || ue.StatusCode != c.status {
			t.Fatalf("upload with password %q: got %v, want an UploadError with status %d", c.pw, err, c.status)
		}
		if strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), "uploading sluice_demo_pkg-0.1.0") ||
			!strings.Contains(err.Error(), "check the user") {
			t.Errorf("error %q: should name the file, hint at credentials and not show the password", err)
		}
	}
	if got := srv.Files(t, "sluice-demo-pkg"); len(got) != 0 {
		t.Fatalf("index has %v after refused uploads", got)
	}

	results, err := Upload(ctx, dist, opts(password, false, &logs))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // file name → sha256 of the local file
	var wantResults []Result
	for _, pattern := range []string{"*.tar.gz", "*.whl"} {
		m, _ := filepath.Glob(filepath.Join(dist, pattern))
		if len(m) != 1 {
			t.Fatalf("build made %v, want one %s", m, pattern)
		}
		want[filepath.Base(m[0])] = fileSHA256(t, m[0])
		wantResults = append(wantResults, Result{File: m[0], SHA256: want[filepath.Base(m[0])]})
	}
	sort.Slice(wantResults, func(i, j int) bool { return wantResults[i].File < wantResults[j].File })
	if diff := cmp.Diff(wantResults, results); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	// The index lists both files with the digests of what we built, and
	// serves the same bytes back.
	if diff := cmp.Diff(want, srv.Files(t, "sluice-demo-pkg")); diff != "" {
		t.Errorf("files on the index (-want +got):\n%s", diff)
	}
	for _, s := range []string{"Uploading sluice_demo_pkg-0.1.0-py3-none-any.whl", "sha256 " + wantResults[0].SHA256} {
		if !strings.Contains(strings.Join(logs, "\n"), s) {
			t.Errorf("log lacks %q", s)
		}
	}

	// pip installs it from the index and it imports.
	target := t.TempDir()
	testenv.Run(t, ctx, target, []string{"PIP_CONFIG_FILE=/dev/null", "PIP_FIND_LINKS=", "PIP_NO_INDEX="},
		python, "-m", "pip", "install", "--no-cache-dir", "--no-deps", "--target", target,
		"--index-url", srv.URL+"/simple/", "sluice-demo-pkg==0.1.0")
	out := testenv.Run(t, ctx, target, []string{"PYTHONPATH=" + target}, python, "-c", "import sluice_demo_pkg; print(sluice_demo_pkg.GREETING)")
	if strings.TrimSpace(out) != "hello from sluice-demo-pkg" {
		t.Errorf("installed package printed %q", out)
	}

	// Again without skip-existing: the index refuses, clearly.
	_, err = Upload(ctx, dist, opts(password, false, &logs))
	var ue *UploadError
	if !errors.As(err, &ue) || ue.StatusCode != http.StatusConflict || !strings.Contains(err.Error(), "skip-existing") {
		t.Errorf("second upload: got %v, want a 409 UploadError suggesting skip-existing", err)
	}
	// And with skip-existing: both skipped, no error.
	results, err = Upload(ctx, dist, opts(password, true, &logs))
	if err != nil {
		t.Fatalf("upload with skip-existing: %v", err)
	}
	for i := range wantResults {
		wantResults[i].Skipped = true
	}
	if diff := cmp.Diff(wantResults, results); diff != "" {
		t.Errorf("skip-existing results (-want +got):\n%s", diff)
	}
	checkLogs()
	t.Logf("upload log:\n%s", strings.Join(logs, "\n"))
}

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
