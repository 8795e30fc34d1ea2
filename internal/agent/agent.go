// Package agent runs jobs leased from a sluice server: the embedded agent of `sluice serve`
// and remote `sluice agent`s. It only ever calls out to the server (claim by long-poll,
// heartbeats, log batches, completion), so agents work behind NAT and survive a server restart:
// every exchange is retried until the server answers, and a lease the server declared lost
// (409) stops the job.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/sluice-ci/sluice/internal/jobspec"
)

// Config is what an agent is made of.
type Config struct {
	Server, Token     string // server base URL and this agent's token (from Register)
	Name              string
	Labels            []string // informational: the server routes by the labels given at Register
	Parallel          int      // jobs at once (slots); 0 means 1
	WorkDir, StateDir string   // engine workspaces and caches, for the JobRunner
	Version           string
	Run               JobRunner
	Log               *slog.Logger
	// HeartbeatEvery overrides the heartbeat interval: 2 s, or a third of a shorter lease, by default.
	HeartbeatEvery time.Duration
}

// JobRunner runs one leased job. Lines go to emit in order (already masked by the engine; the
// agent numbers them); steps are reported through step; it returns the conclusion and outputs.
// ctx is cancelled when the server says cancel or the lease is lost (context.Cause tells which:
// ErrCancelled or ErrLeaseLost), or the agent stops. An empty conclusion becomes "cancelled"
// after a cancel and "failure" otherwise. emit and step may be called from any goroutine, never
// after the runner returns.
type JobRunner func(ctx context.Context, job Lease, emit func(jobspec.LogLine), step func(jobspec.Step)) (conclusion string, outputs map[string]string, summary string)

// Lease is a job the server handed to this agent: the claim as the server sent it (see
// jobspec.Claim), and what the runner reaches the agent through.
type Lease struct {
	jobspec.Claim
	// Server reaches the server as this agent, for the artifacts of the job's run.
	Server *Client `json:"-"`
	// ReportTests hands the job's test results (testreport.Report JSON) to
	// the agent, which sends them with the job's completion.
	ReportTests func(json.RawMessage) `json:"-"`
	// ReportEnvironmentURL hands a deployment job's environment.url to the
	// agent, which sends it with the job's completion.
	ReportEnvironmentURL func(string) `json:"-"`
	// ReportVersions hands the versions of the tools the job ran with (os,
	// sluice, python, pip, uv) to the agent, which sends them with the job's
	// completion.
	ReportVersions func(map[string]string) `json:"-"`
}

// ErrCancelled is the cause of a job context cancelled because the server asked to.
var ErrCancelled = errors.New("job cancelled by the server")

const (
	claimTimeout   = 40 * time.Second // above the server's 25 s long-poll
	callTimeout    = 15 * time.Second
	shutdownGrace  = 10 * time.Second // to report a job after the agent was told to stop
	lostGrace      = 5 * time.Second  // to ship the last logs of a job whose lease was lost
	maxBackoff     = 5 * time.Second
	initialBackoff = 100 * time.Millisecond
)

type agent struct {
	cfg    Config
	client *Client
	log    *slog.Logger

	fatalOnce sync.Once
	fatal     error
	stop      context.CancelFunc
}

// Run runs jobs until ctx ends (then it returns nil, after reporting the jobs in flight) or the
// server rejects the agent's token (an error).
func Run(ctx context.Context, cfg Config) error {
	if cfg.Server == "" || cfg.Token == "" {
		return errors.New("running agent: server URL and agent token are required")
	}
	if cfg.Run == nil {
		return errors.New("running agent: no job runner")
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 1
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	a := &agent{cfg: cfg, client: NewClient(cfg.Server, cfg.Token), log: cfg.Log.With("agent", cfg.Name), stop: stop}
	a.log.Info("agent started", "server", cfg.Server, "parallel", cfg.Parallel, "labels", cfg.Labels)
	var wg sync.WaitGroup
	for i := range cfg.Parallel {
		wg.Go(func() { a.slot(ctx, i) })
	}
	wg.Wait()
	return a.fatal
}

func (a *agent) fail(err error) {
	a.fatalOnce.Do(func() {
		a.fatal = err
		a.stop()
	})
}

// slot claims and runs jobs one at a time until ctx ends.
func (a *agent) slot(ctx context.Context, n int) {
	log := a.log.With("slot", n)
	var b backoff
	down := false
	for ctx.Err() == nil {
		l, err := a.claim(ctx)
		switch {
		case err == nil:
			if down {
				log.Info("server reachable again")
				down = false
			}
			b.reset()
			if l != nil {
				a.runJob(ctx, l)
			}
		case ctx.Err() != nil:
			return
		case isStatus(err, http.StatusUnauthorized):
			a.fail(fmt.Errorf("the server rejected the agent token: %w", err))
			return
		default:
			if !down {
				log.Warn("claiming a job failed; retrying", "err", err)
				down = true
			} else {
				log.Debug("claiming a job failed", "err", err)
			}
			sleep(ctx, b.next())
		}
	}
}

// claim long-polls for a job; nil without error means none came in time.
func (a *agent) claim(ctx context.Context) (*Lease, error) {
	cctx, cancel := context.WithTimeout(ctx, claimTimeout)
	defer cancel()
	var l Lease
	none, err := a.client.call(cctx, http.MethodPost, "/api/v1/agent/claim", nil, &l)
	if err != nil || none {
		return nil, err
	}
	if l.Job.ID == 0 {
		return nil, errors.New("claim answer holds no job")
	}
	l.Server = a.client
	if l.LeaseSeconds <= 0 {
		l.LeaseSeconds = 30
	}
	return &l, nil
}

// backoff yields waits doubling from 100 ms to 5 s.
type backoff struct{ d time.Duration }

func (b *backoff) next() time.Duration {
	if b.d == 0 {
		b.d = initialBackoff
	} else {
		b.d = min(2*b.d, maxBackoff)
	}
	return b.d
}

func (b *backoff) reset() { b.d = 0 }

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
