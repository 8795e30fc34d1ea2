package container

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// Label keys on everything sluice creates.
const (
	LabelRun = "sluice.run"
	LabelJob = "sluice.job"
	LabelPID = "sluice.pid"
)

func (e *Engine) labels(runID, jobID string) map[string]string {
	return map[string]string{LabelRun: runID, LabelJob: jobID, LabelPID: strconv.Itoa(e.pid)}
}

// created is a container's create request plus what only matters after it
// starts.
type created struct {
	opts   client.ContainerCreateOptions
	health *container.HealthConfig
}

// createRequest turns a spec into a create request attached to network (""
// for the engine's default) under the given aliases.
func createRequest(spec ContainerSpec, name, networkName string, aliases []string, labels map[string]string) (created, error) {
	if spec.Image == "" {
		return created{}, fmt.Errorf("container %s: no image", name)
	}
	o, err := parseOptions(spec.Options, func(name string) (string, bool) {
		v, ok := spec.PassEnv[name]
		return v, ok
	})
	if err != nil {
		return created{}, err
	}
	cfg := &container.Config{
		Image:       spec.Image,
		Env:         envList(spec.Env),
		Cmd:         spec.Cmd,
		Entrypoint:  spec.Entrypoint,
		WorkingDir:  spec.WorkDir,
		Labels:      map[string]string{},
		Healthcheck: o.health,
		User:        o.user,
		Hostname:    o.hostname,
	}
	cfg.Env = append(cfg.Env, o.env...)
	if o.entrypoint != nil {
		cfg.Entrypoint = o.entrypoint
	}
	if o.workdir != "" {
		cfg.WorkingDir = o.workdir
	}
	for k, v := range o.labels {
		cfg.Labels[k] = v
	}
	for k, v := range labels {
		cfg.Labels[k] = v
	}
	hc := &container.HostConfig{
		Binds:      append(append([]string{}, spec.Volumes...), o.binds...),
		Tmpfs:      o.tmpfs,
		Privileged: o.privileged,
		CapAdd:     o.capAdd,
		CapDrop:    o.capDrop,
		ShmSize:    o.shmSize,
	}
	if o.init {
		hc.Init = &o.init
	}
	hc.NanoCPUs = o.nanoCPUs
	hc.Memory = o.memory
	for _, m := range spec.Mounts {
		b := m.Source + ":" + m.Target
		if m.ReadOnly {
			b += ":ro"
		}
		hc.Binds = append(hc.Binds, b)
	}
	if len(spec.Ports) > 0 {
		cfg.ExposedPorts = network.PortSet{}
		hc.PortBindings = network.PortMap{}
		for _, p := range spec.Ports {
			port, binding, err := parsePort(p)
			if err != nil {
				return created{}, err
			}
			cfg.ExposedPorts[port] = struct{}{}
			hc.PortBindings[port] = append(hc.PortBindings[port], binding)
		}
	}
	var nc *network.NetworkingConfig
	if networkName != "" {
		hc.NetworkMode = container.NetworkMode(networkName)
		nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			networkName: {Aliases: append(append([]string{}, aliases...), o.aliases...)},
		}}
	}
	return created{
		opts:   client.ContainerCreateOptions{Name: name, Config: cfg, HostConfig: hc, NetworkingConfig: nc},
		health: o.health,
	}, nil
}

// parsePort reads "5432", "5432/udp", "8080:80" or "127.0.0.1:8080:80"; ports
// are always published on loopback so services are not exposed beyond this
// machine.
func parsePort(s string) (network.Port, network.PortBinding, error) {
	parts := strings.Split(s, ":")
	var hostPort, ctrPort string
	switch len(parts) {
	case 1:
		ctrPort = parts[0]
	case 2:
		hostPort, ctrPort = parts[0], parts[1]
	case 3:
		hostPort, ctrPort = parts[1], parts[2]
	default:
		return network.Port{}, network.PortBinding{}, fmt.Errorf("port %q: want CONTAINER, HOST:CONTAINER or IP:HOST:CONTAINER", s)
	}
	port, err := network.ParsePort(ctrPort)
	if err != nil {
		return network.Port{}, network.PortBinding{}, fmt.Errorf("port %q: %w", s, err)
	}
	if hostPort != "" {
		if _, err := strconv.ParseUint(hostPort, 10, 16); err != nil {
			return network.Port{}, network.PortBinding{}, fmt.Errorf("port %q: host port %q: %w", s, hostPort, err)
		}
	}
	return port, network.PortBinding{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: hostPort}, nil
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// nameUnsafe matches what Docker does not allow in container and network names.
var nameUnsafe = lazyre.New(`[^a-zA-Z0-9_.-]+`)

// objectName builds a valid engine object name from its parts.
func objectName(parts ...string) string {
	for i, p := range parts {
		parts[i] = strings.Trim(nameUnsafe.ReplaceAllString(p, "_"), "_.-")
		if parts[i] == "" {
			parts[i] = "x"
		}
	}
	return strings.Join(parts, "-")
}
