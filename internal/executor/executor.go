// Package executor is where a job's processes run. The engine reaches every place through
// Executor and never asks which one it has: host (this machine, in its own process group,
// optionally inside a bubblewrap sandbox; internal/executor/host) or the job's container
// (Docker Engine API, Docker or Podman; internal/executor/container).
//
// The seam is one process at a time, as a step is: the engine owns the job (its steps,
// runner files, workflow commands); an executor only starts a process where the job runs,
// streams its lines and says how it ended. (Woodpecker's backend contract and the Buildkite
// agent's JobExecutor are the models; both keep the step model out of the backend.)
package executor

import (
	"context"
	"time"
)

// Process is one process of a step.
type Process struct {
	// Argv, Dir and the values of Env hold this machine's paths; an executor that runs the
	// process elsewhere maps them to where it sees them.
	Argv []string
	Dir  string
	Env  []string // NAME=VALUE, the whole environment
	// Line receives each line of the combined stdout and stderr, without its newline, in
	// order, from one goroutine at a time.
	Line func(string)
	// Grace is the time between SIGINT and SIGKILL when ctx ends; zero means the
	// executor's default.
	Grace time.Duration
}

// Result is how a process ended.
type Result struct {
	ExitCode int
	// Interrupted is true when ctx ending stopped the process.
	Interrupted bool
}

// Executor runs a job's processes.
type Executor interface {
	// Run starts p and waits for it. When ctx ends, the process (with its children) is
	// interrupted, then killed after the grace period. An error means it could not be
	// started at all.
	Run(ctx context.Context, p Process) (Result, error)
	// LookPath finds a program (a shell, an interpreter) where Run runs processes.
	LookPath(name string) (string, error)
}
