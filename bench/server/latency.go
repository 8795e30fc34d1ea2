package main

import (
	"context"
	"fmt"
	"time"
)

// latencyWorkflow is one job of one no-op step.
const latencyWorkflow = `name: latency
on: push
jobs:
  one:
    runs-on: ubuntu-latest
    steps:
      - run: "true"
`

// latencySample is one webhook's timeline, each mark relative to the moment
// the POST went out.
type latencySample struct {
	Ack       time.Duration // the webhook's reply (the server fetched and planned before answering)
	Queued    time.Duration // job queued_at
	Claimed   time.Duration // job started_at: an agent leased it
	FirstLog  time.Duration // the job's first log line: checkout done, engine started
	FirstStep time.Duration // steps[0].started_at: the measure
	Finished  time.Duration // job finished_at
}

type latencyResult struct {
	Samples        []latencySample
	Warmup         int
	LoadAfter      string
	Rest, Peak     memory // the server (with its embedded agent) at rest, and its VmHWM at the end
	RSSPeakSampled int64
}

// benchLatency pushes n distinct commits one after another, each followed by
// a signed webhook, and waits for each run to end before the next push.
func benchLatency(ctx context.Context, cfg config, dir string) (*latencyResult, error) {
	src, err := newSource(ctx, dir)
	if err != nil {
		return nil, err
	}
	wf := map[string]string{".github/workflows/latency.yml": latencyWorkflow}
	if _, _, err := src.commit(ctx, wf); err != nil {
		return nil, err
	}
	srv, c, err := startServer(ctx, serverOpts{bin: cfg.bin, dir: dir, token: cfg.token, agents: 2, extra: cfg.serverExtra})
	if err != nil {
		return nil, err
	}
	defer srv.stop(10 * time.Second)
	if err := addRepo(ctx, cfg.bin, c, "latency", src.bare, cfg.secret); err != nil {
		return nil, err
	}
	if err := sleepCtx(ctx, time.Second); err != nil {
		return nil, err
	}
	res := &latencyResult{Warmup: cfg.warmup}
	if res.Rest, err = readMemory(srv.pid()); err != nil {
		return nil, err
	}
	var sampler rssSampler
	sctx, stopSampler := context.WithCancel(ctx)
	defer stopSampler()
	go sampler.run(sctx, srv.pid(), 20*time.Millisecond)

	for i := range cfg.warmup + cfg.n {
		before, after, err := src.commit(ctx, map[string]string{"README": fmt.Sprintln("latency", i)})
		if err != nil {
			return nil, err
		}
		body, err := pushPayload(before, after, src.n, []string{"README", "counter.txt"})
		if err != nil {
			return nil, err
		}
		reply, sent, took, err := c.hookRuns(ctx, "latency", cfg.secret, fmt.Sprintf("latency-%d", i), body, 1)
		if err != nil {
			return nil, err
		}
		d, err := waitRun(ctx, c, reply.Runs[0], 5*time.Millisecond, 60*time.Second)
		if err != nil {
			return nil, err
		}
		s, err := latencyOf(d, sent, took)
		if err != nil {
			return nil, fmt.Errorf("webhook %d: %w", i, err)
		}
		fl, err := c.firstLog(ctx, d.Jobs[0].ID)
		if err != nil {
			return nil, err
		}
		s.FirstLog = fl.Sub(sent)
		if i >= cfg.warmup {
			res.Samples = append(res.Samples, s)
		}
	}
	stopSampler()
	res.LoadAfter = loadAverage()
	res.RSSPeakSampled, _ = sampler.result()
	if res.Peak, err = readMemory(srv.pid()); err != nil {
		return nil, err
	}
	return res, nil
}

func latencyOf(d *apiRunDetail, sent time.Time, ack time.Duration) (latencySample, error) {
	if d.Run.Conclusion != "success" || len(d.Jobs) != 1 {
		return latencySample{}, fmt.Errorf("run %d: %s with %d jobs, want one successful job", d.Run.ID, d.Run.Conclusion, len(d.Jobs))
	}
	j := d.Jobs[0]
	if j.QueuedAt == nil || j.StartedAt == nil || j.FinishedAt == nil || len(j.Steps) == 0 || j.Steps[0].StartedAt == nil {
		return latencySample{}, fmt.Errorf("run %d: job %d lacks a time (queued, started, finished or first step)", d.Run.ID, j.ID)
	}
	return latencySample{
		Ack: ack, Queued: j.QueuedAt.Sub(sent), Claimed: j.StartedAt.Sub(sent),
		FirstStep: j.Steps[0].StartedAt.Sub(sent), Finished: j.FinishedAt.Sub(sent),
	}, nil
}

// waitRun polls a run until it completes.
func waitRun(ctx context.Context, c *client, id int64, every, limit time.Duration) (*apiRunDetail, error) {
	deadline := time.Now().Add(limit)
	for {
		d, err := c.run(ctx, id)
		if err != nil {
			return nil, err
		}
		if d.Run.Status == "completed" {
			return d, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("run %d still %s after %s", id, d.Run.Status, limit)
		}
		if err := sleepCtx(ctx, every); err != nil {
			return nil, err
		}
	}
}
