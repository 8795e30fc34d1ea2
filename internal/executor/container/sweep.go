package container

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

// Sweep removes the containers, networks and volumes labelled by a sluice
// process that is no longer alive (a crashed or killed run) and returns how
// many it removed. Objects of live processes, including this one, are kept.
func (e *Engine) Sweep(ctx context.Context) (int, error) {
	f := client.Filters{}.Add("label", LabelPID)
	n := 0
	var errs []error

	cs, err := retry(ctx, func() (client.ContainerListResult, error) {
		return e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	})
	if err != nil {
		return 0, fmt.Errorf("listing sluice containers: %w", err)
	}
	for _, c := range cs.Items {
		if !deadOwner(c.Labels) {
			continue
		}
		if err := e.removeContainer(ctx, c.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}

	nws, err := retry(ctx, func() (client.NetworkListResult, error) {
		return e.cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	})
	if err != nil {
		return n, fmt.Errorf("listing sluice networks: %w", err)
	}
	for _, nw := range nws.Items {
		if !deadOwner(nw.Labels) {
			continue
		}
		if _, err := e.cli.NetworkRemove(ctx, nw.ID, client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("removing network %s: %w", nw.Name, err))
			continue
		}
		n++
	}

	vs, err := retry(ctx, func() (client.VolumeListResult, error) {
		return e.cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	})
	if err != nil {
		return n, fmt.Errorf("listing sluice volumes: %w", err)
	}
	for _, v := range vs.Items {
		if !deadOwner(v.Labels) {
			continue
		}
		if _, err := e.cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("removing volume %s: %w", v.Name, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// deadOwner reports whether the sluice process named by the labels is gone.
// The pid is of this machine's process table: the engine is local.
func deadOwner(labels map[string]string) bool {
	pid, err := strconv.Atoi(labels[LabelPID])
	if err != nil || pid <= 0 {
		return false
	}
	return !alive(pid)
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// retry runs a listing up to five times: Podman can fail one while a
// container exits concurrently ("read /proc/PID/cgroup: no such process").
func retry[T any](ctx context.Context, list func() (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for i := 1; i <= 5; i++ {
		if v, err = list(); err == nil || ctx.Err() != nil {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(time.Duration(i) * 100 * time.Millisecond):
		}
	}
	return v, err
}
