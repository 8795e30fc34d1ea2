package testenv

import (
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// GitServer is git's own smart-HTTP server (git http-backend) on 127.0.0.1, standing in for
// GitHub: OWNER/REPO is served from Root/OWNER/REPO (a bare or non-bare repository), at
// URL/OWNER/REPO, as https://github.com/OWNER/REPO is.
type GitServer struct {
	URL  string
	Root string
	// Requests counts the HTTP requests served, so a test can see that a cached action was
	// not fetched again.
	Requests *atomic.Int64
}

// GitServerOptions adjust the server.
type GitServerOptions struct {
	// V0Only ignores clients' requests for protocol v2, as older servers do: such a server
	// only hands out commits that a branch or tag points at.
	V0Only bool
}

// StartGitServer serves the repositories under root until the test ends.
func StartGitServer(t testing.TB, root string, o GitServerOptions) GitServer {
	t.Helper()
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not installed")
	}
	reqs := &atomic.Int64{}
	backend := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "HOME=" + root},
		// The backend's complaints (a missing repository, an unadvertised commit) are the
		// client's to report.
		Stderr: io.Discard,
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		if o.V0Only {
			r.Header.Del("Git-Protocol")
		}
		backend.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return GitServer{URL: srv.URL, Root: root, Requests: reqs}
}

// GitRepo makes Root/OWNER/REPO a repository with the given files committed on main, and
// returns its directory for further commits, tags and branches (see Git).
func (s GitServer) GitRepo(t testing.TB, ownerRepo string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(s.Root, filepath.FromSlash(ownerRepo))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	Git(t, dir, "init", "-q", "-b", "main")
	WriteFiles(t, dir, files)
	Git(t, dir, "add", "-A")
	Git(t, dir, "commit", "-q", "-m", "initial")
	// A non-bare repository accepts the http-backend's reads; pushes are not needed.
	return dir
}

// Git runs git in dir with a fixed identity and fails the test on error, returning stdout.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	return strings.TrimSpace(string(out))
}
