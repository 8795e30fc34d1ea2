// Package container runs jobs, services and Docker actions through the Docker
// Engine API (Docker, or Podman's Docker-compatible service). Everything it
// creates carries sluice.* labels so that a crashed run's leftovers can be
// swept by the next one.
package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// ErrNoEngine is wrapped by Connect's error when no engine answers.
var ErrNoEngine = errors.New("no container engine answered")

// pingTimeout bounds each connection attempt: an absent engine must fail fast.
const pingTimeout = 3 * time.Second

// Engine is a connection to one Docker-compatible engine.
type Engine struct {
	cli  *client.Client
	host string
	// pid is written into every sluice.pid label; Sweep compares it with live
	// processes. A field rather than os.Getpid() at each use so tests can
	// impersonate a dead process.
	pid int
}

// Connect finds and pings an engine. host "" means $DOCKER_HOST, and when
// that is unset the well-known sockets are tried in order.
func Connect(ctx context.Context, host string) (*Engine, error) {
	candidates := []string{host}
	if host == "" {
		candidates = hostCandidates(os.Getenv("DOCKER_HOST"), os.Getenv("XDG_RUNTIME_DIR"), fileExists)
	}
	var tried []string
	for _, h := range candidates {
		e, err := dial(ctx, h)
		if err == nil {
			return e, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connecting to container engine %s: %w", h, ctx.Err())
		}
		tried = append(tried, fmt.Sprintf("%s (%v)", h, err))
	}
	what := "no engine socket found (looked for " + strings.Join(autoSockets(os.Getenv("XDG_RUNTIME_DIR")), ", ") + ")"
	if len(tried) > 0 {
		what = "tried " + strings.Join(tried, "; ")
	}
	return nil, fmt.Errorf("this job needs containers but %w: %s.\n"+
		"Start one, e.g. as root: podman system service --time=0 unix:///run/sluice-podman.sock &\n"+
		"(scripts/podman-setup.sh installs and starts it), then set DOCKER_HOST=unix:///run/sluice-podman.sock "+
		"or pass --container-host", ErrNoEngine, what)
}

func dial(ctx context.Context, host string) (*Engine, error) {
	cli, err := client.New(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("creating client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, err
	}
	return &Engine{cli: cli, host: host, pid: os.Getpid()}, nil
}

// autoSockets lists the sockets tried when neither a host nor $DOCKER_HOST is
// given: sluice's own Podman service first (scripts/podman-setup.sh), then
// rootless and rootful Podman, then Docker.
func autoSockets(xdgRuntimeDir string) []string {
	socks := []string{"/run/sluice-podman.sock"}
	if xdgRuntimeDir != "" {
		socks = append(socks, filepath.Join(xdgRuntimeDir, "podman", "podman.sock"))
	}
	return append(socks, "/run/podman/podman.sock", "/var/run/docker.sock")
}

func hostCandidates(dockerHost, xdgRuntimeDir string, exists func(string) bool) []string {
	if dockerHost != "" {
		return []string{dockerHost}
	}
	var hosts []string
	for _, s := range autoSockets(xdgRuntimeDir) {
		if exists(s) {
			hosts = append(hosts, "unix://"+s)
		}
	}
	return hosts
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Host is the engine's address, e.g. unix:///run/sluice-podman.sock.
func (e *Engine) Host() string { return e.host }

// Close releases the connection; containers are not touched.
func (e *Engine) Close() error { return e.cli.Close() }
