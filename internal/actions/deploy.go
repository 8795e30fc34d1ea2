package actions

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/deploy"
	"github.com/sluice-ci/sluice/internal/executor/container"
)

// DeployContainer is sluice/deploy-container: it runs an image under a
// stable name, waits for its health check and, when the new container never
// becomes healthy, restores the previous one and fails the step.
func DeployContainer(ctx context.Context, s Step, with map[string]string) (map[string]string, error) {
	c := s.Context()
	t, err := deployTarget(with)
	if err != nil {
		return nil, err
	}
	if c.Contained {
		// A deployed service may keep its data in a named volume; it gets
		// no privileges and nothing of this machine's files.
		conf := container.Confinement{NamedVolumes: true}
		if err := conf.Check("deploy-container", container.ContainerSpec{Options: t.Options}); err != nil {
			return nil, err
		}
	}
	e, err := container.Connect(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("deploy-container: %w", err)
	}
	defer e.Close()
	res, err := deploy.Deploy(ctx, e, filepath.Join(c.StateDir, "deploy"), t, s.Log)
	// A rolled-back deployment has outputs worth keeping alongside the
	// failure: which container now runs and what it runs.
	var out map[string]string
	if res != nil {
		out = map[string]string{
			"container-id":   res.ContainerID,
			"rolled-back":    strconv.FormatBool(res.RolledBack),
			"previous-image": res.PreviousImage,
		}
	}
	return out, err
}

func deployTarget(with map[string]string) (deploy.Target, error) {
	t := deploy.Target{
		Name:    strings.TrimSpace(with["name"]),
		Image:   strings.TrimSpace(with["image"]),
		Ports:   lines(with["ports"]),
		Options: with["options"],
	}
	cmd, err := words(with["cmd"])
	if err != nil {
		return t, fmt.Errorf("deploy-container: cmd: %w", err)
	}
	t.Cmd = cmd
	if t.Name == "" || t.Image == "" {
		return t, fmt.Errorf("deploy-container: inputs name and image are required")
	}
	if len(t.Cmd) == 0 {
		t.Cmd = nil
	}
	env, err := envLines(with["env"])
	if err != nil {
		return t, fmt.Errorf("deploy-container: %w", err)
	}
	t.Env = env
	if v := strings.TrimSpace(with["health-timeout"]); v != "" {
		d, err := parseTimeout(v)
		if err != nil {
			return t, fmt.Errorf("deploy-container: health-timeout %q: %w", v, err)
		}
		t.HealthTimeout = d
	}
	return t, nil
}

// parseTimeout reads a Go duration ("90s", "2m") or a bare number of seconds.
func parseTimeout(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("negative")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("negative")
	}
	return d, nil
}
