package delivery

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/executor/host"
)

const (
	// tailLines is how much of a failed command's output its error carries.
	tailLines = 20
	// commandGrace is the time between SIGINT and SIGKILL to the command's process group when it
	// runs out of time: enough to exit cleanly, short enough not to hold a promotion up.
	commandGrace = 2 * time.Second
)

// checkCommand runs `sh -c RUN` in its own process group with a clean environment.
func checkCommand(ctx context.Context, c *cd.CommandCheck, o CheckOptions) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultCommandTimeout
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var tail []string
	o.log("verify: $ " + c.Run)
	res, err := host.Run(tctx, host.Cmd{
		Argv:    []string{"sh", "-c", c.Run},
		Dir:     o.Dir,
		Env:     commandEnv(o.Env),
		Grace:   commandGrace,
		Sandbox: o.Sandbox,
		Line: func(s string) {
			o.log(s)
			tail = append(tail, s)
			if len(tail) > tailLines {
				tail = tail[1:]
			}
		},
	})
	if err != nil {
		return fmt.Errorf("running verification command: %w", err)
	}
	out := "(no output)"
	if len(tail) > 0 {
		out = "last output:\n" + strings.Join(tail, "\n")
	}
	switch {
	case res.Interrupted && errors.Is(tctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		return fmt.Errorf("verification command %q did not finish within %s and was killed (exit code %d); %s", c.Run, timeout, res.ExitCode, out)
	case res.Interrupted:
		return fmt.Errorf("verification command %q: %w", c.Run, ctx.Err())
	case res.ExitCode != 0:
		return fmt.Errorf("verification command %q failed with exit code %d; %s", c.Run, res.ExitCode, out)
	}
	return nil
}

// commandEnv is env plus the server's PATH and HOME where env does not set them: the command must
// find its tools, but not see the server's secrets or configuration.
func commandEnv(env []string) []string {
	out := append([]string{}, env...)
	for _, k := range []string{"PATH", "HOME"} {
		if hasVar(env, k) {
			continue
		}
		if v, ok := os.LookupEnv(k); ok {
			out = append(out, k+"="+v)
		}
	}
	return out
}

func hasVar(env []string, k string) bool {
	for _, kv := range env {
		if name, _, _ := strings.Cut(kv, "="); name == k {
			return true
		}
	}
	return false
}
