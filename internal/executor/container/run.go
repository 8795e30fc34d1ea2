package container

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// RunContainer runs a one-off container to completion (Docker actions,
// `uses: docker://image` steps) on network ("" for the engine's default),
// streaming its combined output as lines. When ctx ends the container gets
// SIGINT, then SIGKILL after grace (zero means DefaultGrace). The container
// is removed afterwards. The exit code is the container's; an error means it
// could not be run or observed.
func (e *Engine) RunContainer(ctx context.Context, spec ContainerSpec, network string, line func(string), grace time.Duration) (int, error) {
	if grace <= 0 {
		grace = DefaultGrace
	}
	if err := e.EnsureImage(ctx, spec.Image, spec.Credentials, nil); err != nil {
		return -1, err
	}
	req, err := createRequest(spec, objectName("sluice", "run", randomID()), network, nil, e.labels("", ""))
	if err != nil {
		return -1, err
	}
	res, err := e.cli.ContainerCreate(ctx, req.opts)
	if err != nil {
		return -1, fmt.Errorf("creating container from %s: %w", spec.Image, err)
	}
	id := res.ID
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		_ = e.removeContainer(cctx, id)
	}()
	// Attached before the start, as `docker run` does: following the logs
	// after it can lose the last lines of a container that exits at once.
	att, err := e.cli.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return -1, fmt.Errorf("attaching to container from %s: %w", spec.Image, err)
	}
	defer att.Close()
	done := make(chan error, 1)
	go func() { done <- demuxLines(att.Reader, line) }()
	// The start is not cancelled with ctx: output (and a cancel it causes)
	// can arrive before the start call returns; a cancel then goes through
	// stop below like any other.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	_, err = e.cli.ContainerStart(sctx, id, client.ContainerStartOptions{})
	scancel()
	if err != nil {
		return -1, fmt.Errorf("starting container from %s: %w", spec.Image, err)
	}

	select {
	case <-done:
	case <-ctx.Done():
		e.stop(id, grace, done)
	}

	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	w := e.cli.ContainerWait(cctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case r := <-w.Result:
		return int(r.StatusCode), nil
	case err := <-w.Error:
		return -1, fmt.Errorf("waiting for container from %s: %w", spec.Image, err)
	}
}

// stop sends SIGINT, then SIGKILL after grace, and waits for the output to end.
func (e *Engine) stop(id string, grace time.Duration, done <-chan error) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout+grace)
	defer cancel()
	_, _ = e.cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "SIGINT"})
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	_, _ = e.cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "SIGKILL"})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}
