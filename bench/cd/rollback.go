package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/deploy"
	"github.com/sluice-ci/sluice/internal/executor/container"
)

type rollbackResult struct {
	Health string // the health-check options of the deployed containers
	// sluice: v1 started (deploy's "Waiting for … healthy" log line),
	// deploy.Rollback returned (restored container healthy), then
	// the first HTTP answer from v1 on the published port.
	SluiceStarted, SluiceHealthy, SluiceAnswer []time.Duration
	// Podman: `podman rm -f` + `podman run -d` returned, then the first
	// HTTP answer from v1.
	PeerStarted, PeerAnswer []time.Duration
}

const (
	imageV1 = "localhost/sluice-bench-cd/app:v1"
	imageV2 = "localhost/sluice-bench-cd/app:v2"
)

// benchRollback deploys sluice's v1 then v2 images and measures rolling back
// to v1, cfg.rollbacks times, with deploy.Rollback and with the podman CLI.
func benchRollback(ctx context.Context, cfg config, layouts [2]string, scratch string, imgs *podmanImages) (*rollbackResult, error) {
	logf("rollback: loading the v1 and v2 images built by sluice into Podman")
	reg := startRegistry()
	defer reg.Close()
	for i, tag := range []string{imageV1, imageV2} {
		if err := loadIntoPodman(ctx, reg, layouts[i], tag, imgs); err != nil {
			return nil, err
		}
	}
	e, err := container.Connect(ctx, cfg.socket)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	res := &rollbackResult{Health: fmt.Sprintf(`--health-cmd "python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/')\"" --health-interval 1s --health-start-interval %s --health-retries 5`, cfg.healthProbe)}
	if err := sluiceRollbacks(ctx, cfg, e, res, scratch); err != nil {
		return nil, err
	}
	if err := peerRollbacks(ctx, cfg, res); err != nil {
		return nil, err
	}
	return res, nil
}

func sluiceRollbacks(ctx context.Context, cfg config, e *container.Engine, res *rollbackResult, scratch string) error {
	name := fmt.Sprintf("sluice-bench-cd-%d", os.Getpid())
	port, err := freePort()
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = e.RemoveContainer(cctx, name)
	}()
	state := filepath.Join(scratch, "deploy-state")
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	target := func(image string) deploy.Target {
		return deploy.Target{Name: name, Image: image, Ports: []string{fmt.Sprintf("%d:8000", port)},
			Options: res.Health, HealthTimeout: time.Minute}
	}
	logf("rollback: sluice deploy.Deploy v1 as %s on 127.0.0.1:%d", name, port)
	if _, err := deploy.Deploy(ctx, e, state, target(imageV1), nil); err != nil {
		return fmt.Errorf("deploying v1: %w", err)
	}
	if err := waitAnswer(ctx, url, "benchapp "+appV1, time.Minute); err != nil {
		return err
	}
	for i := range cfg.rollbacks {
		if _, err := deploy.Deploy(ctx, e, state, target(imageV2), nil); err != nil {
			return fmt.Errorf("deploying v2: %w", err)
		}
		if err := waitAnswer(ctx, url, "benchapp "+appV2, time.Minute); err != nil {
			return err
		}
		t0 := time.Now()
		first := watchAnswer(ctx, url, "benchapp "+appV1, t0)
		var started time.Duration
		r, err := deploy.Rollback(ctx, e, state, name, func(line string) {
			if started == 0 && strings.HasPrefix(line, "Waiting for") {
				started = time.Since(t0)
			}
		})
		if err != nil {
			return fmt.Errorf("rolling back: %w", err)
		}
		healthy := time.Since(t0)
		if r.Image != imageV1 || !r.Healthy {
			return fmt.Errorf("rollback restored %s (healthy %v), want %s", r.Image, r.Healthy, imageV1)
		}
		answer, err := first.wait(time.Minute)
		if err != nil {
			return err
		}
		logf("  sluice rollback %d/%d: v1 started after %.0f ms, healthy after %.0f ms, answered after %.0f ms", i+1, cfg.rollbacks, ms(started), ms(healthy), ms(answer))
		res.SluiceStarted = append(res.SluiceStarted, started)
		res.SluiceHealthy = append(res.SluiceHealthy, healthy)
		res.SluiceAnswer = append(res.SluiceAnswer, answer)
	}
	return nil
}

// peerRollbacks is what a script does without sluice: remove the container
// and run the old image under the same name, then wait for it to answer.
// `rm -f -t 0` kills at once, as the Docker API's forced remove that deploy
// uses does: with the default stop timeout Podman waits 10 s, because the
// app runs as PID 1 without a SIGTERM handler and ignores the signal.
// It joins deploy's network: Podman's default network did not publish
// ports on 127.0.0.1 reliably on this machine.
func peerRollbacks(ctx context.Context, cfg config, res *rollbackResult) error {
	name := fmt.Sprintf("sluice-bench-cd-peer-%d", os.Getpid())
	port, err := freePort()
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = podmanOut(cctx, "rm", "-f", "-i", name)
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	runImage := func(image string) error {
		if _, err := podmanOut(ctx, "rm", "-f", "-i", "-t", "0", name); err != nil {
			return err
		}
		_, err := podmanOut(ctx, "run", "-d", "--name", name, "--network", deploy.DefaultNetwork,
			"-p", fmt.Sprintf("127.0.0.1:%d:8000", port), image)
		return err
	}
	logf("rollback: podman run v1 as %s on 127.0.0.1:%d", name, port)
	if err := runImage(imageV1); err != nil {
		return err
	}
	if err := waitAnswer(ctx, url, "benchapp "+appV1, time.Minute); err != nil {
		return err
	}
	for i := range cfg.rollbacks {
		if err := runImage(imageV2); err != nil {
			return err
		}
		if err := waitAnswer(ctx, url, "benchapp "+appV2, time.Minute); err != nil {
			return err
		}
		t0 := time.Now()
		first := watchAnswer(ctx, url, "benchapp "+appV1, t0)
		if err := runImage(imageV1); err != nil {
			return err
		}
		started := time.Since(t0)
		answer, err := first.wait(time.Minute)
		if err != nil {
			return err
		}
		logf("  podman rollback %d/%d: rm + run returned after %.0f ms, v1 answered after %.0f ms", i+1, cfg.rollbacks, ms(started), ms(answer))
		res.PeerStarted = append(res.PeerStarted, started)
		res.PeerAnswer = append(res.PeerAnswer, answer)
	}
	return nil
}

// answerWatch polls in the background from the start of a rollback, so the
// first answer is timed even when it comes before the rollback call returns.
type answerWatch struct {
	done   chan struct{}
	cancel context.CancelFunc
	d      time.Duration
	err    error
}

func watchAnswer(ctx context.Context, url, want string, t0 time.Time) *answerWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &answerWatch{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(w.done)
		w.err = waitAnswer(ctx, url, want, 2*time.Minute)
		w.d = time.Since(t0)
	}()
	return w
}

// wait returns the time from t0 to the first answer.
func (w *answerWatch) wait(timeout time.Duration) (time.Duration, error) {
	defer w.cancel()
	select {
	case <-w.done:
		return w.d, w.err
	case <-time.After(timeout):
		return 0, fmt.Errorf("no answer within %s", timeout)
	}
}

// waitAnswer polls url every 20 ms until its body contains want.
func waitAnswer(ctx context.Context, url, want string, timeout time.Duration) error {
	c := http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := c.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = strings.TrimSpace(string(b))
			if strings.Contains(last, want) {
				return nil
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer %q within %s (last: %s)", url, want, timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
