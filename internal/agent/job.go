package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-ci/sluice/internal/jobspec"
)

// job is one leased job in flight.
type job struct {
	a      *agent
	lease  *Lease
	log    *slog.Logger
	cancel context.CancelCauseFunc // cancels the runner
	lost   atomic.Bool
	ending atomic.Bool // the job's completion is being reported: its lease ends with it
}

// runJob runs a leased job and reports it: heartbeats while it runs, logs and steps as they come,
// then the last logs and the completion. Reporting outlives ctx by a grace period, so an agent
// told to stop still records how its jobs ended.
func (a *agent) runJob(ctx context.Context, l *Lease) {
	log := a.log.With("job", l.Job.ID, "run", l.Job.RunID, "key", l.Job.Key)
	log.Info("job leased", "attempt", l.Job.Attempt)
	runCtx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	j := &job{a: a, lease: l, log: log, cancel: cancelRun}

	repCtx, stopRep := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRep()
	stopAfterGrace := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(shutdownGrace, stopRep)
		context.AfterFunc(repCtx, func() { t.Stop() })
	})
	defer stopAfterGrace()

	sh := newShipper(a.client, l.Job.ID, log)
	var wg sync.WaitGroup
	shipCtx, stopShip := context.WithCancel(repCtx)
	wg.Go(func() { sh.run(shipCtx) })
	hbCtx, stopHB := context.WithCancel(repCtx)
	wg.Go(func() { j.heartbeat(hbCtx) })
	defer func() {
		stopHB()
		stopShip()
		wg.Wait()
	}()

	var tests json.RawMessage
	l.ReportTests = func(b json.RawMessage) { tests = b }
	envURL := ""
	l.ReportEnvironmentURL = func(u string) { envURL = u }
	var versions map[string]string
	l.ReportVersions = func(v map[string]string) { versions = v }
	conclusion, outputs, summary := a.cfg.Run(runCtx, *l, sh.emit, sh.step)
	cause := context.Cause(runCtx)
	if conclusion == "" {
		conclusion = jobspec.Failure
		if errors.Is(cause, ErrCancelled) {
			conclusion = jobspec.Cancelled
		}
	}

	finCtx := repCtx
	if j.lost.Load() {
		// The server gave the job up: its last lines are still worth keeping, briefly.
		var cancel context.CancelFunc
		finCtx, cancel = context.WithTimeout(repCtx, lostGrace)
		defer cancel()
	}
	if err := sh.flush(finCtx); err != nil {
		log.Error("job logs incomplete", "err", err)
	}
	stopShip()
	// A job whose record is incomplete does not pass for a clean success.
	if n := sh.lostCount(); n > 0 {
		log.Error("job log lines lost", "lines", n)
		if conclusion == jobspec.Success {
			conclusion = jobspec.Failure
		}
		summary = strings.TrimSpace(summary + fmt.Sprintf("\n\n**sluice:** %d log lines or step records of this job never reached the server, so its record is incomplete; it is marked failed.", n))
	}
	j.ending.Store(true)
	j.complete(finCtx, conclusion, outputs, summary, tests, envURL, versions)
}

// heartbeat extends the lease every third of it until ctx ends, passes on the server's cancel,
// and cancels the runner when the lease is lost. A heartbeat that fails for want of the server
// is retried sooner; the lease has room for a few.
func (j *job) heartbeat(ctx context.Context) {
	every := j.a.cfg.HeartbeatEvery
	if every <= 0 {
		// Often enough that a cancel from the UI stops the job within a
		// couple of seconds; the lease itself would allow a third of it.
		every = min(2*time.Second, time.Duration(j.lease.LeaseSeconds)*time.Second/3)
	}
	path := fmt.Sprintf("/api/v1/agent/jobs/%d/heartbeat", j.lease.Job.ID)
	var b backoff
	wait := every
	for sleep(ctx, wait) {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		var out jobspec.Heartbeat
		_, err := j.a.client.call(cctx, http.MethodPost, path, nil, &out)
		cancel()
		switch {
		case err == nil:
			b.reset()
			wait = every
			if out.Cancel {
				j.log.Info("the server cancelled the job")
				j.cancel(ErrCancelled)
			}
		case errors.Is(err, ErrLeaseLost) && j.ending.Load():
			// A heartbeat answered after the completion was taken: the completion ended the
			// lease, nothing was lost (a completion refused says so itself).
			return
		case errors.Is(err, ErrLeaseLost):
			j.log.Warn("job lease lost; stopping the job", "err", err)
			j.lost.Store(true)
			j.cancel(ErrLeaseLost)
			return
		case ctx.Err() != nil:
			return
		default:
			j.log.Warn("heartbeat failed; retrying", "err", err)
			wait = min(b.next(), every)
		}
	}
}

// complete reports the job's end until the server takes it or says the lease is gone.
func (j *job) complete(ctx context.Context, conclusion string, outputs map[string]string, summary string, tests json.RawMessage,
	envURL string, versions map[string]string) {
	body := jobspec.Completion{Conclusion: conclusion, Outputs: outputs, Summary: summary, Tests: tests, EnvironmentURL: envURL,
		Versions: versions}
	path := fmt.Sprintf("/api/v1/agent/jobs/%d/complete", j.lease.Job.ID)
	var b backoff
	for {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		_, err := j.a.client.call(cctx, http.MethodPost, path, body, nil)
		cancel()
		var se *StatusError
		switch {
		case err == nil:
			j.log.Info("job completed", "conclusion", conclusion)
			return
		case errors.Is(err, ErrLeaseLost):
			j.log.Warn("the server refused the job's completion: its lease was lost", "conclusion", conclusion, "err", err)
			return
		case errors.As(err, &se) && se.Code >= 400 && se.Code < 500 && se.Code != http.StatusRequestTimeout:
			j.log.Error("the server refused the job's completion", "err", err)
			return
		case ctx.Err() != nil:
			j.log.Error("gave up reporting the job's completion", "err", err)
			return
		}
		j.log.Warn("completing the job failed; retrying", "err", err)
		if !sleep(ctx, b.next()) {
			j.log.Error("gave up reporting the job's completion", "err", err)
			return
		}
	}
}
