package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/secrets"
)

// proc is a sluice process started by a test, in its own process group so
// that killing it takes its children along.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

// startProc starts the sluice binary with args; env is added to the test's
// environment. Output goes to a file (not a pipe: an orphaned grandchild
// holding a pipe open would block Wait), shown when the test fails. The
// process group is killed in t.Cleanup.
func startProc(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("creating the log of %s: %v", name, err)
	}
	defer logFile.Close()
	cmd := exec.Command(sluiceBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- output of %s:\n%s", name, p.output())
		}
	})
	return p
}

// kill sends SIGKILL to the process group and waits for the process to end.
// Killing a dead process again is harmless.
func (p *proc) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) output() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", p.logPath, err)
	}
	return string(b)
}

// freeAddr returns a 127.0.0.1 address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// srv is a running (or killed) `sluice serve`.
type srv struct {
	url, addr, data, token string
	regToken               string // a registration token for agents, made on first use
	agents                 int
	dir                    string // the test's directory for this server's processes
	proc                   *proc
	starts                 int
	extra                  []string // more flags of sluice serve (a replica's --db, --blob, …)
	env                    []string // more environment for its processes
	name                   string   // names its processes' logs ("serve" when "")
}

// startServer starts `sluice serve` with an embedded agent running agents
// jobs at once (0: none) on a fresh data directory and a free port, and
// waits until it answers.
func startServer(t *testing.T, agents int, extra ...string) *srv {
	t.Helper()
	return startServerEnv(t, agents, nil, extra...)
}

// startServerEnv is startServer with env added to the environment of the
// server's processes (its embedded agent's jobs inherit PATH from it).
func startServerEnv(t *testing.T, agents int, env []string, extra ...string) *srv {
	t.Helper()
	token, _, err := secrets.NewToken()
	if err != nil {
		t.Fatalf("making the admin token: %v", err)
	}
	dir := t.TempDir()
	s := &srv{addr: freeAddr(t), data: filepath.Join(dir, "data"), token: token, agents: agents, dir: dir, extra: extra, env: env}
	s.url = "http://" + s.addr
	s.start(t)
	return s
}

// procEnv is the environment of every process of this server's test: its own
// state and temp directories, the server to talk to, and the credential the
// process needs: the server its admin token, the CLI an API token, an agent
// none (it gets a registration token).
func (s *srv) procEnv(name string) []string {
	env := []string{
		"SLUICE_STATE_DIR=" + filepath.Join(s.dir, "state-"+name),
		"TMPDIR=" + mkdirAll(filepath.Join(s.dir, "tmp-"+name)),
		"SLUICE_SERVER=" + s.url,
	}
	switch {
	case name == "serve" || (s.name != "" && name == s.name):
		env = append(env, "SLUICE_ADMIN_TOKEN="+s.token, "SLUICE_ADMIN_PASSWORD=e2e-admin-password")
	case name == "cli":
		env = append(env, "SLUICE_TOKEN="+s.token)
	}
	return append(env, s.env...)
}

func mkdirAll(dir string) string {
	_ = os.MkdirAll(dir, 0o755)
	return dir
}

// start (re)starts the server on its data directory and address.
func (s *srv) start(t *testing.T) {
	t.Helper()
	s.starts++
	prefix := s.name
	if prefix == "" {
		prefix = "serve"
	}
	name := fmt.Sprintf("%s-%d", prefix, s.starts)
	s.proc = startProc(t, name, s.procEnv(prefix), append([]string{"serve", "--data", s.data, "--addr", s.addr,
		"--agents", fmt.Sprint(s.agents)}, s.extra...)...)
	waitFor(t, "the server to answer /healthz", 30*time.Second, func() (string, bool, error) {
		if s.proc.exited() {
			t.Fatalf("sluice serve exited:\n%s", s.proc.output())
		}
		resp, err := http.Get(s.url + "/healthz")
		if err != nil {
			return "", false, err
		}
		resp.Body.Close()
		return resp.Status, resp.StatusCode == http.StatusOK, nil
	})
}

// startAgent starts a remote `sluice agent` named name with labels.
// It registers with a registration token in its environment (which it drops)
// the first time, and with its saved credential afterwards.
// extra are more flags (--sandbox off for a job that must see the test's
// files).
func (s *srv) startAgent(t *testing.T, name, labels string, extra ...string) *proc {
	t.Helper()
	if s.regToken == "" {
		s.regToken = strings.TrimSpace(s.mustCLI(t, "token", "create", "e2e-agents", "--scope", "register"))
	}
	env := append(s.procEnv("agent-"+name), "SLUICE_REGISTRATION_TOKEN="+s.regToken)
	return startProc(t, "agent-"+name, env, append([]string{"agent", "--server", s.url,
		"--name", name, "--labels", labels, "--parallel", "1"}, extra...)...)
}

// cli runs a sluice CLI command against the server and returns its standard
// output; a failure is returned with its standard error.
func (s *srv) cli(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sluiceBin(t), args...)
	cmd.Env = append(os.Environ(), s.procEnv("cli")...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("sluice %s: %w\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), nil
}

func (s *srv) mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := s.cli(t, "", args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitFor polls check every 100 ms until it reports done, failing the test
// after timeout with the last value and error it saw.
func waitFor[T any](t *testing.T, what string, timeout time.Duration, check func() (T, bool, error)) T {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, done, err := check()
		if done && err == nil {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last value %+v, last error %v", timeout, what, v, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
