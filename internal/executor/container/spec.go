package container

import (
	"time"
)

// DefaultHealthTimeout bounds the wait for a service to become healthy.
const DefaultHealthTimeout = 2 * time.Minute

// Credentials authenticate image pulls (jobs.<id>.container.credentials).
type Credentials struct {
	Username, Password string
}

// Mount binds a host path into a container.
type Mount struct {
	Source, Target string
	ReadOnly       bool
}

// ContainerSpec is a job container, a service, or a one-off container, as a
// workflow describes it.
type ContainerSpec struct {
	Image string
	Env   map[string]string
	// Ports are "5432" (random host port) or "8080:80" (host:container),
	// optionally with /udp; always published on 127.0.0.1.
	Ports []string
	// Volumes are "src:dst[:ro]"; src may be a host path or a named volume.
	Volumes []string
	// Options are `docker create` options as workflows write them; see
	// parseOptions for the supported set. Unknown options are an error.
	Options     string
	Credentials *Credentials
	Mounts      []Mount
	// Cmd and Entrypoint override the image's; for a job container an empty
	// Cmd means the keep-alive command.
	Cmd        []string
	Entrypoint []string
	WorkDir    string
	// PassEnv is where `-e NAME` in Options takes NAME's value from: the
	// job's environment. sluice's own environment is never passed.
	PassEnv map[string]string
}

// JobSpec is what one job needs from the engine.
type JobSpec struct {
	// RunID and JobID name and label everything created for the job.
	RunID, JobID string
	// Container is the job container; nil means steps run on the host and
	// reach services through their ports on 127.0.0.1.
	Container *ContainerSpec
	// Services are keyed by their hostname on the job network.
	Services map[string]ContainerSpec
	// HealthTimeout bounds the wait for each service; zero means
	// DefaultHealthTimeout.
	HealthTimeout time.Duration
	// Log receives progress lines; nil discards them.
	Log func(string)
}

// Service is a started service container.
type Service struct {
	ID, Name, Network string
	// Ports maps a container port ("5432") to its host port on 127.0.0.1.
	Ports map[string]string
}

// ExecSpec is one process to run in the job container.
type ExecSpec struct {
	Argv []string
	Env  []string
	// WorkDir and User default to the container's.
	WorkDir, User string
	// Line receives each line of combined output without its newline, from
	// one goroutine at a time.
	Line func(string)
}
