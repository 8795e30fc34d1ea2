package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// proc is a child process the benchmark started (a server or an agent),
// its output going to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

func start(name, logPath string, env []string, bin string, args ...string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", logPath, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: f, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to end (SIGTERM), then kills it after grace.
func (p *proc) stop(grace time.Duration) {
	defer p.log.Close()
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// freeAddr finds a free port on 127.0.0.1; the server binds it right after.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// adminToken makes a token of the server's shape: "slc_" and 43 base62 characters.
func adminToken() (string, error) {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b strings.Builder
	b.WriteString("slc_")
	for range 43 {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", fmt.Errorf("making a token: %w", err)
		}
		b.WriteByte(alphabet[n.Int64()])
	}
	return b.String(), nil
}

// serverOpts describes one server of the benchmark.
type serverOpts struct {
	bin, dir, token string
	agents          int
	name            string   // of its log and state ("server" when "")
	addr            string   // to listen on (a free port when "")
	extra           []string // more flags: a replica's --db, --blob, --base-url…
}

// startServer runs `sluice serve` with its data and state under dir and
// waits until /healthz answers.
func startServer(ctx context.Context, o serverOpts) (*proc, *client, error) {
	addr := o.addr
	if addr == "" {
		var err error
		if addr, err = freeAddr(); err != nil {
			return nil, nil, err
		}
	}
	name := o.name
	if name == "" {
		name = "server"
	}
	env := []string{"SLUICE_ADMIN_TOKEN=" + o.token, "SLUICE_STATE_DIR=" + filepath.Join(o.dir, "state-"+name)}
	logf := filepath.Join(o.dir, name+".log")
	if _, err := os.Stat(logf); err == nil { // a restart: keep the earlier log
		for i := 1; ; i++ {
			if _, err := os.Stat(fmt.Sprintf("%s.%d", logf, i)); err != nil {
				logf = fmt.Sprintf("%s.%d", logf, i)
				break
			}
		}
	}
	p, err := start(name, logf, env, o.bin, append([]string{"serve", "--data", filepath.Join(o.dir, "data-"+name), "--addr", addr,
		"--agents", fmt.Sprint(o.agents)}, o.extra...)...)
	if err != nil {
		return nil, nil, err
	}
	c := &client{base: "http://" + addr, token: o.token, http: &http.Client{Timeout: 2 * time.Minute}}
	if err := waitHealthy(ctx, p, c.base); err != nil {
		p.stop(5 * time.Second)
		return nil, nil, err
	}
	return p, c, nil
}

func waitHealthy(ctx context.Context, p *proc, base string) error {
	deadline := time.Now().Add(30 * time.Second)
	hc := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("the server exited on start (see %s)", p.log.Name())
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		if err != nil {
			return err
		}
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("the server did not answer /healthz within 30 s (see %s)", p.log.Name())
}

// addRepo registers the bare repository through the CLI, as a user would.
func addRepo(ctx context.Context, bin string, c *client, name, url, secret string) error {
	cmd := exec.CommandContext(ctx, bin, "repo", "add", name, "--url", url, "--webhook-secret", secret,
		"--default-branch", "main", "--server", c.base, "--token", c.token)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("sluice repo add %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// startAgents runs n `sluice agent` processes, each with its own state
// directory, and waits until the server has seen each one claim.
func startAgents(ctx context.Context, bin, dir string, c *client, n, parallel int) ([]*proc, error) {
	var ps []*proc
	stopAll := func() {
		for _, p := range ps {
			p.stop(5 * time.Second)
		}
	}
	// Agents register with a registration token (in their environment, which they drop),
	// never the admin token.
	var reg struct {
		Token string `json:"token"`
	}
	body := fmt.Sprintf(`{"name":"bench-agents-%d","scope":"register"}`, time.Now().UnixNano())
	if err := c.post(ctx, "/api/v1/tokens", []byte(body), &reg); err != nil {
		return nil, fmt.Errorf("making a registration token for the agents: %w", err)
	}
	for i := range n {
		name := fmt.Sprintf("bench-agent-%d", i+1)
		env := []string{"SLUICE_STATE_DIR=" + filepath.Join(dir, "state-"+name), "SLUICE_REGISTRATION_TOKEN=" + reg.Token}
		p, err := start(name, filepath.Join(dir, name+".log"), env, bin, "agent", "--server", c.base,
			"--labels", "default", "--parallel", fmt.Sprint(parallel), "--name", name)
		if err != nil {
			stopAll()
			return nil, err
		}
		ps = append(ps, p)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		as, err := c.agents(ctx)
		if err != nil {
			stopAll()
			return nil, err
		}
		seen := 0
		for _, a := range as {
			if strings.HasPrefix(a.Name, "bench-agent-") && a.LastSeen != nil {
				seen++
			}
		}
		if seen >= n {
			return ps, nil
		}
		for _, p := range ps {
			if p.exited() {
				stopAll()
				return nil, fmt.Errorf("%s exited on start (see %s)", p.name, p.log.Name())
			}
		}
		if time.Now().After(deadline) {
			stopAll()
			return nil, fmt.Errorf("only %d of %d agents reached the server within 30 s", seen, n)
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			stopAll()
			return nil, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
