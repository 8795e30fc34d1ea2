package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// podmanOut runs the podman CLI (the local store, which the service on the
// socket shares) and returns its trimmed stdout.
func podmanOut(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "podman", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("podman %s: %w\n%s%s", strings.Join(args, " "), err, tail(out.String(), 20), tail(errb.String(), 20))
	}
	return strings.TrimSpace(out.String()), nil
}

// podmanTimed runs podman and returns its combined output and wall time.
func podmanTimed(ctx context.Context, args ...string) (string, time.Duration, error) {
	cmd := exec.CommandContext(ctx, "podman", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if err != nil {
		return out.String(), d, fmt.Errorf("podman %s: %w\n%s", strings.Join(args, " "), err, tail(out.String(), 30))
	}
	return out.String(), d, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func checkPodman(ctx context.Context, cfg config) error {
	if _, err := exec.LookPath("podman"); err != nil {
		return fmt.Errorf("podman is not installed (make deps)")
	}
	if _, err := podmanOut(ctx, "--url", cfg.socket, "version", "--format", "{{.Server.Version}}"); err != nil {
		return fmt.Errorf("no Podman service on %s (run scripts/podman-setup.sh): %w", cfg.socket, err)
	}
	if _, err := podmanOut(ctx, "image", "exists", cfg.baseImage); err != nil {
		return fmt.Errorf("image %s missing (run scripts/build-images.sh): %w", cfg.baseImage, err)
	}
	return nil
}

// podmanImages remembers the images this run tagged, to remove them after.
type podmanImages struct {
	refs []string
}

func (p *podmanImages) add(ref string) { p.refs = append(p.refs, ref) }

func (p *podmanImages) cleanup() {
	if len(p.refs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"rmi", "-f", "-i"}, p.refs...)
	if out, err := exec.CommandContext(ctx, "podman", args...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "==> removing the benchmark's images: %v\n%s", err, out)
	}
}
