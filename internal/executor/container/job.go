package container

import (
	"context"
	"errors"
	"fmt"
	"sort"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Job is a started job: its network, services and container.
type Job struct {
	eng         *Engine
	network     string
	networkID   string
	services    map[string]Service
	containerID string
	// containers are removed by Close, newest first.
	containers []string
}

// StartJob creates the job's network, starts and waits for its services,
// then starts the job container (if any). On failure everything created so
// far is removed.
func (e *Engine) StartJob(ctx context.Context, spec JobSpec) (job *Job, err error) {
	logf := func(format string, args ...any) {
		if spec.Log != nil {
			spec.Log(fmt.Sprintf(format, args...))
		}
	}
	if spec.HealthTimeout <= 0 {
		spec.HealthTimeout = DefaultHealthTimeout
	}
	labels := e.labels(spec.RunID, spec.JobID)
	j := &Job{eng: e, network: objectName("sluice", spec.RunID, spec.JobID), services: map[string]Service{}}
	defer func() {
		if err != nil {
			if cerr := j.Close(ctx); cerr != nil {
				err = fmt.Errorf("%w (and cleaning up: %v)", err, cerr)
			}
		}
	}()

	nw, err := e.cli.NetworkCreate(ctx, j.network, client.NetworkCreateOptions{Driver: "bridge", Labels: labels})
	if err != nil {
		return nil, fmt.Errorf("creating network %s: %w", j.network, err)
	}
	j.networkID = nw.ID

	keys := make([]string, 0, len(spec.Services))
	for k := range spec.Services {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pending := map[string]*created{}
	// hosts pin each service's name to its address in /etc/hosts of the
	// containers started after it: the engine's DNS (aardvark-dns) can
	// answer NXDOMAIN for a name registered moments before, which CI saw.
	var hosts []string
	for _, key := range keys {
		svc := spec.Services[key]
		logf("Starting service %s (%s)", key, svc.Image)
		if err := e.EnsureImage(ctx, svc.Image, svc.Credentials, spec.Log); err != nil {
			return nil, fmt.Errorf("service %s: %w", key, err)
		}
		req, err := createRequest(svc, objectName(j.network, key), j.network, []string{key}, labels)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", key, err)
		}
		req.opts.HostConfig.ExtraHosts = append(req.opts.HostConfig.ExtraHosts, hosts...)
		id, err := j.create(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", key, err)
		}
		if _, err := e.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
			return nil, fmt.Errorf("starting service %s: %w\n%s", key, err, e.tailLogs(ctx, id, 50))
		}
		ports, ip, err := e.started(ctx, id, j.network)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", key, err)
		}
		if ip != "" {
			hosts = append(hosts, key+":"+ip)
		}
		j.services[key] = Service{ID: id, Name: req.opts.Name, Network: j.network, Ports: ports}
		pending[key] = &req
	}
	// Services start concurrently; waiting on them in turn costs no more
	// than the slowest.
	for _, key := range keys {
		svc := j.services[key]
		if err := e.waitHealthy(ctx, key, svc.ID, pending[key].health, spec.HealthTimeout, logf); err != nil {
			return nil, fmt.Errorf("service %s: %w\nlast log lines of service %s:\n%s", key, err, key, e.tailLogs(ctx, svc.ID, 50))
		}
	}

	if spec.Container != nil {
		c := *spec.Container
		if len(c.Entrypoint) == 0 && len(c.Cmd) == 0 {
			// As on GitHub: the container idles and steps run through exec.
			c.Entrypoint, c.Cmd = []string{"tail"}, []string{"-f", "/dev/null"}
		}
		logf("Starting job container (%s)", c.Image)
		if err := e.EnsureImage(ctx, c.Image, c.Credentials, spec.Log); err != nil {
			return nil, fmt.Errorf("job container: %w", err)
		}
		req, err := createRequest(c, objectName(j.network, "job"), j.network, nil, labels)
		if err != nil {
			return nil, fmt.Errorf("job container: %w", err)
		}
		req.opts.HostConfig.ExtraHosts = append(req.opts.HostConfig.ExtraHosts, hosts...)
		id, err := j.create(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("job container: %w", err)
		}
		if _, err := e.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
			return nil, fmt.Errorf("starting job container: %w\n%s", err, e.tailLogs(ctx, id, 50))
		}
		j.containerID = id
	}
	return j, nil
}

func (j *Job) create(ctx context.Context, req created) (string, error) {
	res, err := j.eng.cli.ContainerCreate(ctx, req.opts)
	if err != nil {
		return "", fmt.Errorf("creating container %s from %s: %w", req.opts.Name, req.opts.Config.Image, err)
	}
	j.containers = append(j.containers, res.ID)
	return res.ID, nil
}

// started reads a started container's published ports ("5432" → "49153")
// and its address on network.
func (e *Engine) started(ctx context.Context, id, network string) (map[string]string, string, error) {
	ins, err := e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("inspecting container: %w", err)
	}
	ports := map[string]string{}
	if ins.Container.NetworkSettings == nil {
		return ports, "", nil
	}
	ip := ""
	if ep := ins.Container.NetworkSettings.Networks[network]; ep != nil && ep.IPAddress.IsValid() {
		ip = ep.IPAddress.String()
	}
	for p, bindings := range ins.Container.NetworkSettings.Ports {
		for _, b := range bindings {
			if b.HostPort == "" {
				continue
			}
			key := p.Port()
			if p.Proto() != "tcp" {
				key += "/" + string(p.Proto())
			}
			ports[key] = b.HostPort
		}
	}
	return ports, ip, nil
}

// Services are the started services by key.
func (j *Job) Services() map[string]Service {
	out := make(map[string]Service, len(j.services))
	for k, v := range j.services {
		out[k] = v
	}
	return out
}

// Network is the job network's name (job.container.network).
func (j *Job) Network() string { return j.network }

// ContainerID is the job container's id, "" for a host job.
func (j *Job) ContainerID() string { return j.containerID }

// Close removes the job container, the services with their anonymous
// volumes, and the network. It works after ctx was cancelled (Ctrl-C).
func (j *Job) Close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	var errs []error
	for i := len(j.containers) - 1; i >= 0; i-- {
		if err := j.eng.removeContainer(ctx, j.containers[i]); err != nil {
			errs = append(errs, err)
		}
	}
	j.containers = nil
	if j.networkID != "" {
		if _, err := j.eng.cli.NetworkRemove(ctx, j.networkID, client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("removing network %s: %w", j.network, err))
		}
		j.networkID = ""
	}
	return errors.Join(errs...)
}

func (e *Engine) removeContainer(ctx context.Context, id string) error {
	_, err := e.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("removing container %s: %w", shortID(id), err)
	}
	return nil
}

func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
