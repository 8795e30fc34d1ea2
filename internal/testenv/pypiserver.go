package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// Pypiserver is a real package index on 127.0.0.1 that demands auth for
// uploads; it is stopped when the test ends.
type Pypiserver struct {
	URL      string // base, e.g. http://127.0.0.1:PORT; uploads go to URL + "/"
	Packages string // the directory it serves files from
}

// StartPypiserver starts pypiserver with python (see PypiTools) on a free
// port, accepting uploads from user with password, and waits until it
// answers.
func StartPypiserver(t testing.TB, ctx context.Context, python, user, password string) Pypiserver {
	t.Helper()
	return startPypiserver(t, ctx, python, user, password)
}

// StartLocalIndex starts a pypiserver that serves only its own packages: a project it does
// not hold is a 404, never a redirect to pypi.org, so a test's resolution stays local.
func StartLocalIndex(t testing.TB, ctx context.Context, python string) Pypiserver {
	t.Helper()
	return startPypiserver(t, ctx, python, "sluice", "sluice", "--disable-fallback")
}

func startPypiserver(t testing.TB, ctx context.Context, python, user, password string, extra ...string) Pypiserver {
	t.Helper()
	dir := t.TempDir()
	pkgs := filepath.Join(dir, "packages")
	if err := os.Mkdir(pkgs, 0o755); err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	// apr_md5_crypt is pure Python in passlib: the bcrypt backend breaks
	// with bcrypt >= 4.1.
	Run(t, ctx, dir, nil, python, "-c", `
import sys
from passlib.apache import HtpasswdFile
h = HtpasswdFile(sys.argv[1], new=True, default_scheme="apr_md5_crypt")
h.set_password(sys.argv[2], sys.argv[3])
h.save()
`, htpasswd, user, password)

	port := FreePort(t)
	args := append([]string{"-m", "pypiserver", "run", "-i", "127.0.0.1", "-p", port, "-P", htpasswd, "-a", "update"}, extra...)
	cmd := exec.Command(python, append(args, pkgs)...)
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
				return Pypiserver{URL: base, Packages: pkgs}
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

// FreePort returns a port on 127.0.0.1 nobody listens on right now.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

var simpleLinkRE = lazyre.New(`href="([^"#]+)#sha256=([0-9a-f]{64})"[^>]*>([^<]+)</a>`)

// Files reads the project's simple page, downloads every file it links and
// returns file name → sha256 (hex) of the downloaded bytes, after checking
// the page's own #sha256= against them. A project the index does not know
// has no files.
func (p Pypiserver) Files(t testing.TB, project string) map[string]string {
	t.Helper()
	pageURL, err := url.Parse(p.URL + "/simple/" + project + "/")
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

func httpGet(t testing.TB, u string) ([]byte, int) {
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
