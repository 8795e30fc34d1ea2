package host

import (
	"context"
	"os/exec"

	"github.com/sluice-ci/sluice/internal/executor"
)

// Executor runs processes on this machine (see Run), in Sandbox when it is set.
type Executor struct {
	Sandbox *Sandbox
}

var _ executor.Executor = Executor{}

// Run runs p with Run.
func (x Executor) Run(ctx context.Context, p executor.Process) (executor.Result, error) {
	res, err := Run(ctx, Cmd{Argv: p.Argv, Dir: p.Dir, Env: p.Env, Line: p.Line, Grace: p.Grace, Sandbox: x.Sandbox})
	return executor.Result{ExitCode: res.ExitCode, Interrupted: res.Interrupted}, err
}

// LookPath looks name up on this machine's PATH.
func (Executor) LookPath(name string) (string, error) { return exec.LookPath(name) }
