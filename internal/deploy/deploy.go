// Package deploy runs an image as a long-lived container under a stable
// name, keeping the specs that ran before so a failed or regretted
// deployment can be undone (the sluice/deploy-container action).
package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-ci/sluice/internal/executor/container"
)

// Labels on deployed containers. They carry no sluice.pid, so a run's sweep
// leaves them alone.
const (
	LabelName          = "sluice.deploy.name"
	LabelPreviousImage = "sluice.deploy.previous-image"
)

// DefaultNetwork is the bridge network deployed containers join when their
// Target names none: they reach each other by name there, and Podman
// publishes ports reliably from a user-defined network (on its default
// network, 127.0.0.1 ports were unreachable on the test machine).
const DefaultNetwork = "sluice-deploy"

// logTail is how many of a failed container's log lines an error carries.
const logTail = 20

// Target is what to run under Name.
type Target struct {
	Name  string            `json:"name"` // the stable container name
	Image string            `json:"image"`
	Env   map[string]string `json:"env,omitempty"`
	// Ports are "8080:80" or "80" as in workflows, published on 127.0.0.1.
	Ports []string `json:"ports,omitempty"`
	// Options are `docker create` options as in workflows (--health-cmd …).
	Options string `json:"options,omitempty"`
	// Cmd overrides the image's command when set.
	Cmd []string `json:"cmd,omitempty"`
	// Network is the bridge network to join, created when missing; ""
	// means DefaultNetwork.
	Network string `json:"network,omitempty"`
	// HealthTimeout bounds the wait for health; zero means
	// container.DefaultHealthTimeout.
	HealthTimeout time.Duration `json:"health_timeout,omitempty"`
}

// Result says what runs under the name after a Deploy or Rollback.
type Result struct {
	ContainerID string
	// Image runs under the name now; PreviousImage ran before the call.
	Image, PreviousImage string
	// RolledBack is set when a previous spec was started again.
	RolledBack bool
	// Healthy is whether the container now running passed its health check.
	Healthy bool
}

// Deploy runs t.Image under t.Name in place of what ran there, waits for its
// health check, and records the spec it replaced under stateDir. When the
// new container never becomes healthy it is removed, the previous spec is
// started again, and the error says why with the new container's last log
// lines.
func Deploy(ctx context.Context, e *container.Engine, stateDir string, t Target, log func(string)) (*Result, error) {
	log = orDiscard(log)
	if err := checkName(t.Name); err != nil {
		return nil, err
	}
	if t.Image == "" {
		return nil, fmt.Errorf("deploying %s: no image", t.Name)
	}
	unlock, err := lockName(ctx, stateDir, t.Name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := loadState(stateDir, t.Name)
	if err != nil {
		return nil, err
	}
	res := &Result{Image: t.Image}
	prevImage := ""
	if st.Current != nil {
		prevImage = st.Current.Image
		res.PreviousImage = prevImage
	}

	log(fmt.Sprintf("Deploying %s as %s", t.Image, t.Name))
	id, err := replace(ctx, e, t, prevImage, log)
	if err == nil {
		if st.Current != nil {
			st.History = append(st.History, *st.Current)
		}
		st.Current = &t
		res.ContainerID, res.Healthy = id, true
		if err := saveState(stateDir, t.Name, st); err != nil {
			return res, err
		}
		log(fmt.Sprintf("%s is healthy", t.Name))
		return res, nil
	}
	failed := fmt.Errorf("deploying %s as %s: %w", t.Image, t.Name, err)
	if st.Current == nil {
		res.Image = ""
		return res, fmt.Errorf("%w\n(no previous deployment of %s to roll back to)", failed, t.Name)
	}
	prev := *st.Current
	log(fmt.Sprintf("Rolling %s back to %s", t.Name, prev.Image))
	res.Image, res.RolledBack = prev.Image, true
	rid, rerr := replace(ctx, e, prev, "", log)
	res.ContainerID = rid
	if rerr != nil {
		return res, fmt.Errorf("%w\nrolling back to %s also failed: %w", failed, prev.Image, rerr)
	}
	res.Healthy = true
	return res, fmt.Errorf("%w\nrolled back to %s, which is healthy", failed, prev.Image)
}

// Rollback replaces what runs under name with the spec that ran before it
// and forgets the current one, so a second Rollback goes one further back.
// When the restored container is not healthy the current spec is started
// again.
func Rollback(ctx context.Context, e *container.Engine, stateDir, name string, log func(string)) (*Result, error) {
	log = orDiscard(log)
	if err := checkName(name); err != nil {
		return nil, err
	}
	unlock, err := lockName(ctx, stateDir, name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := loadState(stateDir, name)
	if err != nil {
		return nil, err
	}
	if len(st.History) == 0 {
		return nil, fmt.Errorf("rolling back %s: no previous deployment recorded in %s", name, stateDir)
	}
	prev := st.History[len(st.History)-1]
	res := &Result{Image: prev.Image}
	curImage := ""
	if st.Current != nil {
		curImage = st.Current.Image
		res.PreviousImage = curImage
	}
	log(fmt.Sprintf("Rolling %s back to %s", name, prev.Image))
	id, err := replace(ctx, e, prev, curImage, log)
	if err != nil {
		failed := fmt.Errorf("rolling %s back to %s: %w", name, prev.Image, err)
		if st.Current == nil {
			return res, failed
		}
		log(fmt.Sprintf("Restoring %s to %s", name, curImage))
		res.Image = curImage
		rid, rerr := replace(ctx, e, *st.Current, "", log)
		res.ContainerID, res.Healthy = rid, rerr == nil
		if rerr != nil {
			return res, fmt.Errorf("%w\nrestoring %s also failed: %w", failed, curImage, rerr)
		}
		return res, fmt.Errorf("%w\n%s restored and healthy", failed, curImage)
	}
	st.Current, st.History = &prev, st.History[:len(st.History)-1]
	res.ContainerID, res.RolledBack, res.Healthy = id, true, true
	if err := saveState(stateDir, name, st); err != nil {
		return res, err
	}
	return res, nil
}

// replace removes whatever runs under t.Name, then starts t and waits for it
// to be healthy. The old container goes first because a fixed host port can
// only be bound once. A container that fails is removed, its last log lines
// put in the error.
func replace(ctx context.Context, e *container.Engine, t Target, prevImage string, log func(string)) (string, error) {
	if err := e.RemoveContainer(ctx, t.Name); err != nil {
		return "", err
	}
	labels := map[string]string{LabelName: t.Name}
	if prevImage != "" {
		labels[LabelPreviousImage] = prevImage
	}
	network := t.Network
	if network == "" {
		network = DefaultNetwork
	}
	if err := e.EnsureNetwork(ctx, network, map[string]string{LabelName: ""}); err != nil {
		return "", err
	}
	spec := container.ContainerSpec{Image: t.Image, Env: t.Env, Ports: t.Ports, Options: t.Options, Cmd: t.Cmd}
	id, err := e.StartNamed(ctx, spec, t.Name, network, labels, log)
	if err != nil {
		return "", err
	}
	herr := e.WaitHealthy(ctx, id, t.HealthTimeout, log)
	if herr == nil {
		return id, nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	logs := e.TailLogs(cctx, id, logTail)
	rmErr := e.RemoveContainer(cctx, id)
	return "", errors.Join(fmt.Errorf("%w\nlast log lines of the new container:\n%s", herr, logs), rmErr)
}

// checkName accepts what Docker allows as a container name, which also keeps
// the state file names inside stateDir.
func checkName(name string) error {
	if name == "" {
		return errors.New("deploy: no container name")
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			i > 0 && (r == '_' || r == '.' || r == '-')
		if !ok {
			return fmt.Errorf("deploy: invalid container name %q (letters, digits, _ . - and not starting with _ . -)", name)
		}
	}
	return nil
}

func orDiscard(log func(string)) func(string) {
	if log == nil {
		return func(string) {}
	}
	return log
}
