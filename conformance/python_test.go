package conformance

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/sluice-ci/sluice/internal/testenv"
)

// setupPython gives every case the machine's pyenv interpreters (HOME is the
// case's own, so sluice would not find ~/.pyenv otherwise) and points the
// case's pip and uv caches, sluice's and the script's own, at the directory
// shared by the whole test run.
func setupPython(env *testscript.Env) error {
	root := os.Getenv("PYENV_ROOT")
	if root == "" {
		if home, err := os.UserHomeDir(); err == nil {
			root = filepath.Join(home, ".pyenv")
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "versions")); err == nil && fi.IsDir() {
		env.Setenv("PYENV_ROOT", root)
	}
	// The machine's CA configuration: uv (unlike pip, which reads pip.conf)
	// finds a TLS-intercepting proxy's CA only through these.
	for _, k := range []string{"SSL_CERT_FILE", "SSL_CERT_DIR"} {
		if v := os.Getenv(k); v != "" {
			env.Setenv(k, v)
		}
	}
	shared := os.Getenv(pyCacheEnv)
	if shared == "" {
		return nil
	}
	stateCache := filepath.Join(env.WorkDir, ".state", "cache")
	if err := os.MkdirAll(stateCache, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", stateCache, err)
	}
	for _, tool := range []string{"pip", "uv"} {
		dir := filepath.Join(shared, tool)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", dir, err)
		}
		if err := os.Symlink(dir, filepath.Join(stateCache, tool)); err != nil {
			return fmt.Errorf("linking the shared %s cache: %w", tool, err)
		}
		env.Setenv(strings.ToUpper(tool)+"_CACHE_DIR", dir)
	}
	return nil
}

// reachability answers, once per test run, whether addr accepts a TCP
// connection: cases that need PyPI skip without it.
func reachability(addr string) func() bool {
	var once sync.Once
	var ok bool
	return func() bool {
		once.Do(func() {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err == nil {
				c.Close()
				ok = true
			}
		})
		return ok
	}
}

// cmdToolVenv makes (or reuses) a cached virtual environment holding the
// packages and sets VAR to its bin directory:
// toolvenv VAR NAME PKG... Only native executables (uv) and `python -m`
// work from it, since the venv is moved into place after installing.
func cmdToolVenv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: toolvenv VAR NAME PKG...")
	}
	ts.Setenv(args[0], filepath.Join(toolVenv(ts, args[1], args[2:]...), "bin"))
}

// toolVenv returns a venv holding pkgs, cached under the user cache dir so
// later test runs skip the install; it is built aside and renamed into
// place so a half-built one is never used.
func toolVenv(ts *testscript.TestScript, name string, pkgs ...string) string {
	py, err := exec.LookPath("python3")
	if err != nil {
		ts.Fatalf("python3 not found: cannot build the test tools venv")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	root := filepath.Join(cache, "sluice-test-tools")
	final := filepath.Join(root, name)
	stamp := strings.Join(pkgs, "\n")
	if b, err := os.ReadFile(filepath.Join(final, "sluice-stamp")); err == nil && string(b) == stamp {
		return final
	}
	ts.Check(os.MkdirAll(root, 0o755))
	tmp, err := os.MkdirTemp(root, name+".building-")
	ts.Check(err)
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := func(args ...string) {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "PIP_DISABLE_PIP_VERSION_CHECK=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			ts.Fatalf("cannot install test tools %v: %s: %v\n%s", pkgs, strings.Join(args, " "), err, out)
		}
	}
	run(py, "-m", "venv", tmp)
	run(append([]string{filepath.Join(tmp, "bin", "python"), "-m", "pip", "install", "-q"}, pkgs...)...)
	ts.Check(os.WriteFile(filepath.Join(tmp, "sluice-stamp"), []byte(stamp), 0o644))
	os.RemoveAll(final) // a stale venv with another package list
	if err := os.Rename(tmp, final); err != nil {
		// Another test process won the race; its venv serves as well.
		if _, statErr := os.Stat(filepath.Join(final, "sluice-stamp")); statErr != nil {
			ts.Fatalf("installing tools venv: %v", err)
		}
	}
	return final
}

// cmdPypiserver starts a real pypiserver on a free loopback port that
// demands USER/PASSWORD for uploads, exports its base URL as PYPI_URL and
// stops it when the script ends: pypiserver start USER PASSWORD.
func cmdPypiserver(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 || args[0] != "start" {
		ts.Fatalf("usage: pypiserver start USER PASSWORD")
	}
	venv := toolVenv(ts, "conformance-pypiserver", "pypiserver==2.4.2", "passlib==1.7.4")
	python := filepath.Join(venv, "bin", "python")
	dir := ts.MkAbs(filepath.Join(".tmp", "pypiserver"))
	pkgs := filepath.Join(dir, "packages")
	ts.Check(os.MkdirAll(pkgs, 0o755))
	htpasswd := filepath.Join(dir, "htpasswd")
	// apr_md5_crypt is pure Python in passlib: its bcrypt backend breaks with
	// bcrypt >= 4.1.
	mk := exec.Command(python, "-c", `
import sys
from passlib.apache import HtpasswdFile
h = HtpasswdFile(sys.argv[1], new=True, default_scheme="apr_md5_crypt")
h.set_password(sys.argv[2], sys.argv[3])
h.save()
`, htpasswd, args[1], args[2])
	if out, err := mk.CombinedOutput(); err != nil {
		ts.Fatalf("writing htpasswd: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	logPath := filepath.Join(dir, "server.log")
	logf, err := os.Create(logPath)
	ts.Check(err)
	cmd := exec.Command(python, "-m", "pypiserver", "run", "-i", "127.0.0.1", "-p", port,
		"-P", htpasswd, "-a", "update", pkgs)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		ts.Fatalf("starting pypiserver: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	ts.Defer(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		logf.Close()
	})
	base := "http://127.0.0.1:" + port
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(base + "/simple/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			ts.Fatalf("pypiserver exited before serving:\n%s", log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			ts.Fatalf("pypiserver did not answer on %s in 30s:\n%s", base, log)
		}
	}
	ts.Setenv("PYPI_URL", base)
	ts.Setenv("PYPI_PACKAGES", pkgs)
}

// pythonMirror serves CPython 3.12.1 and PyPy, packed from this machine's own interpreters
// the way uv's managed-Python downloads are, and returns uv's variables pointing at it (nil
// when those interpreters are missing). Cases copy TEST_UV_* into UV_* to use it.
func pythonMirror(t *testing.T) []string {
	root := os.Getenv("PYENV_ROOT")
	if root == "" {
		if home, err := os.UserHomeDir(); err == nil {
			root = filepath.Join(home, ".pyenv")
		}
	}
	prefix := filepath.Join(root, "versions", "3.12.1")
	if _, err := os.Stat(filepath.Join(prefix, "bin", "python3.12")); err != nil {
		return nil
	}
	pypy, err := filepath.EvalSymlinks("/usr/bin/pypy3")
	if err != nil {
		return nil
	}
	out, err := exec.Command(pypy, "-c", "import sys, platform; print(platform.python_version(), '%d.%d.%d' % sys.pypy_version_info[:3])").Output()
	if err != nil {
		return nil
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return nil
	}
	m := testenv.StartPythonMirror(t,
		testenv.PythonBuild{Impl: "cpython", Version: "3.12.1", Prefix: prefix},
		testenv.PythonBuild{Impl: "pypy", Version: f[0], PyPyVer: f[1], Prefix: filepath.Dir(pypy), Binary: filepath.Base(pypy),
			Stdlib: filepath.Join("/usr/lib", filepath.Base(pypy))})
	return m.Env
}
