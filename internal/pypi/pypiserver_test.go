package pypi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// pypiserver is a real package index on 127.0.0.1 that demands auth for
// uploads; it is stopped when the test ends.
type pypiserver struct {
	URL string // base, e.g. http://127.0.0.1:PORT
}

func startPypiserver(t *testing.T, ctx context.Context, python, user, password string) pypiserver {
	t.Helper()
	dir := t.TempDir()
	pkgs := filepath.Join(dir, "packages")
	if err := os.Mkdir(pkgs, 0o755); err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	// apr_md5_crypt is pure Python in passlib: the bcrypt backend breaks
	// with bcrypt >= 4.1.
	runTool(t, ctx, dir, nil, python, "-c", `
import sys
from passlib.apache import HtpasswdFile
h = HtpasswdFile(sys.argv[1], new=True, default_scheme="apr_md5_crypt")
h.set_password(sys.argv[2], sys.argv[3])
h.save()
`, htpasswd, user, password)

	port := freePort(t)
	cmd := exec.Command(python, "-m", "pypiserver", "run", "-i", "127.0.0.1", "-p", port,
		"-P", htpasswd, "-a", "update", pkgs)
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting pypiserver: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		logf.Close()
	})
	base := "http://127.0.0.1:" + port
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/simple/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return pypiserver{URL: base}
			}
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("pypiserver exited before serving:\n%s", log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("pypiserver did not answer on %s in 30s:\n%s", base, log)
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// buildDemoPackage builds a wheel and an sdist with setuptools and returns
// the dist directory.
func buildDemoPackage(t *testing.T, ctx context.Context, python string) string {
	t.Helper()
	src := t.TempDir()
	writeFiles(t, src, map[string]string{
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
	runTool(t, ctx, src, nil, python, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", dist, src)
	// Things a dist dir picks up that are not distributions.
	writeFiles(t, dist, map[string]string{".gitignore": "*\n", "build.log": "x\n"})
	return dist
}

func TestUploadToPypiserver(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real package index")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	python := toolsPython(t, "pypi-publish", "pypiserver==2.4.2", "passlib==1.7.4", "build>=1", "setuptools>=70", "wheel")
	const user, password = "uploader", "Pw-9f1c-not-in-logs"
	srv := startPypiserver(t, ctx, python, user, password)
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
	if got := indexFiles(t, srv, "sluice-demo-pkg"); len(got) != 0 {
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
	if diff := cmp.Diff(want, indexFiles(t, srv, "sluice-demo-pkg")); diff != "" {
		t.Errorf("files on the index (-want +got):\n%s", diff)
	}
	for _, s := range []string{"Uploading sluice_demo_pkg-0.1.0-py3-none-any.whl", "sha256 " + wantResults[0].SHA256} {
		if !strings.Contains(strings.Join(logs, "\n"), s) {
			t.Errorf("log lacks %q", s)
		}
	}

	// pip installs it from the index and it imports.
	target := t.TempDir()
	runTool(t, ctx, target, []string{"PIP_CONFIG_FILE=/dev/null", "PIP_FIND_LINKS=", "PIP_NO_INDEX="},
		python, "-m", "pip", "install", "--no-cache-dir", "--no-deps", "--target", target,
		"--index-url", srv.URL+"/simple/", "sluice-demo-pkg==0.1.0")
	out := runTool(t, ctx, target, []string{"PYTHONPATH=" + target}, python, "-c", "import sluice_demo_pkg; print(sluice_demo_pkg.GREETING)")
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

var simpleLinkRE = regexp.MustCompile(`href="([^"#]+)#sha256=([0-9a-f]{64})"[^>]*>([^<]+)</a>`)

// indexFiles reads the project's simple page, downloads every file it links
// and returns file name → sha256 of the downloaded bytes, after checking the
// page's own #sha256= against them.
func indexFiles(t *testing.T, srv pypiserver, project string) map[string]string {
	t.Helper()
	pageURL, err := url.Parse(srv.URL + "/simple/" + project + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, status := httpGet(t, pageURL.String())
	files := map[string]string{}
	if status == http.StatusNotFound {
		return files
	}
	if status != http.StatusOK {
		t.Fatalf("GET %s: status %d", pageURL, status)
	}
	for _, m := range simpleLinkRE.FindAllStringSubmatch(string(page), -1) {
		href, listed, name := m[1], m[2], m[3]
		ref, err := url.Parse(href)
		if err != nil {
			t.Fatal(err)
		}
		body, status := httpGet(t, pageURL.ResolveReference(ref).String())
		if status != http.StatusOK {
			t.Fatalf("downloading %s: status %d", href, status)
		}
		s := sha256.Sum256(body)
		got := hex.EncodeToString(s[:])
		if got != listed {
			t.Errorf("%s: index lists sha256 %s, serves %s", name, listed, got)
		}
		files[name] = got
	}
	return files
}

func httpGet(t *testing.T, u string) ([]byte, int) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, resp.StatusCode
}
