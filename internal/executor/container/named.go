package container

import (
	"context"
	"fmt"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/moby/moby/client"
)

// StartNamed creates and starts a long-lived container under a fixed name on
// network ("" for the engine's default), pulling its image when missing. Unlike job
// containers it gets only the given labels, and no sluice.pid, so Sweep never
// removes it when this process exits. A container that fails to start is
// removed again.
func (e *Engine) StartNamed(ctx context.Context, spec ContainerSpec, name, network string, labels map[string]string, log func(string)) (string, error) {
	if err := e.EnsureImage(ctx, spec.Image, spec.Credentials, log); err != nil {
		return "", err
	}
	req, err := createRequest(spec, name, network, nil, labels)
	if err != nil {
		return "", err
	}
	res, err := e.cli.ContainerCreate(ctx, req.opts)
	if err != nil {
		return "", fmt.Errorf("creating container %s from %s: %w", name, spec.Image, err)
	}
	if _, err := e.cli.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		logs := e.tailLogs(ctx, res.ID, 50)
		_ = e.removeContainer(context.WithoutCancel(ctx), res.ID)
		return "", fmt.Errorf("starting container %s from %s: %w\n%s", name, spec.Image, err, logs)
	}
	return res.ID, nil
}

// WaitHealthy waits for a started container's health check (its own or its
// image's), running it through exec when the engine does not, exactly as for
// services; a container without one only has to be running. timeout zero
// means DefaultHealthTimeout.
func (e *Engine) WaitHealthy(ctx context.Context, id string, timeout time.Duration, log func(string)) error {
	if timeout <= 0 {
		timeout = DefaultHealthTimeout
	}
	logf := func(format string, args ...any) {
		if log != nil {
			log(fmt.Sprintf(format, args...))
		}
	}
	return e.waitHealthy(ctx, shortID(id), id, nil, timeout, logf)
}

// RemoveContainer force-removes a container by id or name with its anonymous
// volumes; one that does not exist is not an error.
func (e *Engine) RemoveContainer(ctx context.Context, idOrName string) error {
	return e.removeContainer(ctx, idOrName)
}

// TailLogs returns a container's last n log lines, for error messages.
func (e *Engine) TailLogs(ctx context.Context, id string, n int) string {
	return e.tailLogs(ctx, id, n)
}

// EnsureNetwork creates a bridge network unless one of that name exists. It
// is meant for long-lived networks, so give it no sluice.pid label unless
// Sweep may remove it.
func (e *Engine) EnsureNetwork(ctx context.Context, name string, labels map[string]string) error {
	_, err := e.cli.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err == nil {
		return nil
	}
	if !isNotFound(err) {
		return fmt.Errorf("inspecting network %s: %w", name, err)
	}
	_, err = e.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Labels: labels})
	if err != nil && !cerrdefs.IsConflict(err) {
		return fmt.Errorf("creating network %s: %w", name, err)
	}
	return nil
}
