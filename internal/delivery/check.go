package delivery

import (
	"context"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/executor/host"
)

// CheckOptions is where and how an environment's verification runs.
type CheckOptions struct {
	Dir string   // working directory of a command check
	Env []string // a command check's whole environment, besides PATH and HOME
	// Log receives progress lines and a command's output, one line per call; nil drops them.
	Log func(string)
	// RetryDelay is the pause between HTTP attempts; zero means 1s.
	RetryDelay time.Duration
	// Sandbox, when set, runs a command check under bubblewrap (the
	// server's data directory hidden, as from jobs).
	Sandbox *host.Sandbox
}

const (
	defaultHTTPTimeout    = 10 * time.Second
	DefaultCommandTimeout = 5 * time.Minute // a verification command's, when it names none
	defaultRetryDelay     = time.Second
)

// Check runs an environment's verification after a deployment: an HTTP smoke check, a command, or
// (should both be set) the HTTP check then the command. A nil v passes.
func Check(ctx context.Context, v *cd.Verify, o CheckOptions) error {
	if v == nil {
		return nil
	}
	if v.HTTP != nil {
		if err := checkHTTP(ctx, v.HTTP, o); err != nil {
			return err
		}
	}
	if v.Command != nil {
		if err := checkCommand(ctx, v.Command, o); err != nil {
			return err
		}
	}
	return nil
}

func (o CheckOptions) log(s string) {
	if o.Log != nil {
		o.Log(s)
	}
}
