package container

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Defaults for a health check that leaves them unset. The interval is 1s
// rather than Docker's 30s: a service is usually up within seconds and the
// job is waiting.
const (
	defaultHealthInterval = time.Second
	defaultHealthTimeout  = 30 * time.Second
	defaultHealthRetries  = 3
)

// waitHealthy returns once the service is healthy (or has no health check
// and is running). Podman without systemd never runs health checks itself,
// so sluice runs the check through exec: the service is healthy after one
// success and unhealthy after `retries` consecutive failures counted once per
// interval (outside the start period), as Docker would count them. Checks run
// more often than the interval until the first success so a service is seen
// healthy within about a second of being so.
func (e *Engine) waitHealthy(ctx context.Context, key, id string, hc *container.HealthConfig, timeout time.Duration, logf func(string, ...any)) error {
	ins, err := e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspecting: %w", err)
	}
	if hc == nil && ins.Container.Config != nil {
		hc = ins.Container.Config.Healthcheck // the image's HEALTHCHECK
	}
	argv := checkArgv(hc)
	if argv == nil {
		return running(ins.Container.State)
	}
	interval, checkTimeout, retries := hc.Interval, hc.Timeout, hc.Retries
	if interval <= 0 {
		interval = defaultHealthInterval
	}
	if checkTimeout <= 0 {
		checkTimeout = defaultHealthTimeout
	}
	if retries <= 0 {
		retries = defaultHealthRetries
	}
	probe := min(interval, time.Second)
	if hc.StartInterval > 0 {
		probe = min(hc.StartInterval, interval)
	}

	logf("Waiting for service %s to be healthy (%s)", key, strings.Join(argv, " "))
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	lastCounted := start
	failures := 0
	for {
		ins, err := e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil {
			return healthWaitErr(ctx, timeout, "inspecting", err)
		}
		if err := running(ins.Container.State); err != nil {
			return err
		}
		if h := ins.Container.State.Health; h != nil {
			switch h.Status {
			case container.Healthy:
				logf("Service %s is healthy", key)
				return nil
			case container.Unhealthy:
				return fmt.Errorf("unhealthy (reported by the engine)")
			}
		}
		code, out, err := e.runCheck(ctx, id, argv, checkTimeout)
		if err != nil {
			return healthWaitErr(ctx, timeout, "running health check", err)
		}
		if code == 0 {
			logf("Service %s is healthy", key)
			return nil
		}
		now := time.Now()
		if now.Sub(start) >= hc.StartPeriod && now.Sub(lastCounted) >= interval {
			failures++
			lastCounted = now
			if failures >= retries {
				return fmt.Errorf("unhealthy: health check %q failed %d times in a row (last exit code %d, output: %q)",
					strings.Join(argv, " "), failures, code, out)
			}
		}
		select {
		case <-ctx.Done():
			return healthWaitErr(ctx, timeout, "waiting", ctx.Err())
		case <-time.After(probe):
		}
	}
}

func healthWaitErr(ctx context.Context, timeout time.Duration, doing string, err error) error {
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("not healthy after %s", timeout)
	}
	return fmt.Errorf("waiting to be healthy: %s: %w", doing, err)
}

// checkArgv is the command of a health check, nil when there is none.
func checkArgv(hc *container.HealthConfig) []string {
	if hc == nil || len(hc.Test) == 0 {
		return nil
	}
	switch hc.Test[0] {
	case "CMD":
		return hc.Test[1:]
	case "CMD-SHELL":
		return []string{"sh", "-c", strings.Join(hc.Test[1:], " ")}
	case "NONE":
		return nil
	}
	return hc.Test // the legacy form: a bare command
}

func running(st *container.State) error {
	if st == nil || st.Running {
		return nil
	}
	return fmt.Errorf("container exited (status %s, exit code %d)", st.Status, st.ExitCode)
}

// runCheck runs one health check, bounded by timeout; a timed-out check
// counts as failed.
func (e *Engine) runCheck(ctx context.Context, id string, argv []string, timeout time.Duration) (int, string, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out []string
	code, err := e.exec(cctx, id, ExecSpec{Argv: argv, Line: func(s string) {
		if len(out) < 20 {
			out = append(out, s)
		}
	}}, time.Second)
	if err != nil {
		return -1, "", err
	}
	if cctx.Err() != nil && ctx.Err() == nil {
		return -1, fmt.Sprintf("timed out after %s", timeout), nil
	}
	return code, strings.Join(out, "\n"), nil
}
