package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// throughputWorkflow is a matrix of legs no-op jobs (GitHub caps a matrix at
// 256 legs, so 1,000 jobs take several runs).
func throughputWorkflow(legs int) string {
	var b strings.Builder
	b.WriteString("name: throughput\non: push\njobs:\n  noop:\n    runs-on: ubuntu-latest\n    strategy:\n      matrix:\n        i: [")
	for i := 1; i <= legs; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(i))
	}
	b.WriteString("]\n    steps:\n      - run: \"true\"\n")
	return b.String()
}

type procUsage struct {
	Name       string
	Rest, End  memory
	PeakRSS    int64 // highest VmRSS sampled (the server only)
	CPU        cpuTimes
	HasSampled bool
}

type throughputResult struct {
	Runs, LegsPerRun, Agents, Parallel int
	Jobs                               int
	Total                              time.Duration // first webhook sent → last job finished_at
	Acks                               []time.Duration
	LastQueued                         time.Duration // first webhook → last leg queued
	FirstClaim                         time.Duration // first webhook → first job started
	Service                            []time.Duration
	Setup                              []time.Duration // job started → first step started
	Checkout                           []time.Duration // job started → first log line (job directory, source, artifact listing)
	Engine                             []time.Duration // first log line → first step started (engine set-up)
	Step                               []time.Duration // the no-op step itself
	Tail                               []time.Duration // step finished → job finished (last logs, completion)
	Gap                                []time.Duration // an agent's job finished → its next job started (claim)
	Server                             procUsage
	AgentsUse                          []procUsage
	MachineBusy                        float64 // share of both CPUs busy during the load, any process
	LoadBefore, LoadAfter              string  // load averages around the load
	TicksPerSecond                     int64
}

// benchThroughput starts runs×legs no-op jobs at once through agents local
// `sluice agent` processes against a server without an embedded agent.
func benchThroughput(ctx context.Context, cfg config, dir string) (*throughputResult, error) {
	legs := cfg.jobs / cfg.runs
	if legs*cfg.runs != cfg.jobs || legs > 256 {
		return nil, fmt.Errorf("%d jobs do not split into %d runs of at most 256 legs", cfg.jobs, cfg.runs)
	}
	src, err := newSource(ctx, dir)
	if err != nil {
		return nil, err
	}
	type push struct {
		before, after string
		n             int
	}
	// The server creates a repository's mirror on its first webhook, and
	// concurrent first webhooks race there (see the notes); a commit without
	// workflows, delivered alone, creates it and starts nothing.
	b0, a0, err := src.commit(ctx, map[string]string{"README": "throughput\n"})
	if err != nil {
		return nil, err
	}
	var pushes []push
	for i := range cfg.runs {
		files := map[string]string{"README": fmt.Sprintln("throughput run", i)}
		if i == 0 {
			files[".github/workflows/throughput.yml"] = throughputWorkflow(legs)
		}
		before, after, err := src.commit(ctx, files)
		if err != nil {
			return nil, err
		}
		pushes = append(pushes, push{before, after, src.n})
	}
	srv, c, err := startServer(ctx, serverOpts{bin: cfg.bin, dir: dir, token: cfg.token, agents: 0})
	if err != nil {
		return nil, err
	}
	defer srv.stop(10 * time.Second)
	if err := addRepo(ctx, cfg.bin, c, "throughput", src.bare, cfg.secret); err != nil {
		return nil, err
	}
	agents, err := startAgents(ctx, cfg.bin, dir, c, cfg.agents, cfg.parallel)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, a := range agents {
			a.stop(10 * time.Second)
		}
	}()
	body, err := pushPayload(b0, a0, 1, []string{"README", "counter.txt"})
	if err != nil {
		return nil, err
	}
	if _, _, _, err := c.hookRuns(ctx, "throughput", cfg.secret, "throughput-mirror", body, 0); err != nil {
		return nil, err
	}
	if err := sleepCtx(ctx, time.Second); err != nil {
		return nil, err
	}
	res := &throughputResult{Runs: cfg.runs, LegsPerRun: legs, Agents: cfg.agents, Parallel: cfg.parallel, TicksPerSecond: clockTicks(ctx)}
	all := append([]*proc{srv}, agents...)
	usage := make([]procUsage, len(all))
	startCPU := make([]cpuTimes, len(all))
	for i, p := range all {
		usage[i].Name = p.name
		if usage[i].Rest, err = readMemory(p.pid()); err != nil {
			return nil, err
		}
		if startCPU[i], err = readCPU(p.pid()); err != nil {
			return nil, err
		}
	}
	res.LoadBefore = loadAverage()
	machineStart, err := readMachineCPU()
	if err != nil {
		return nil, err
	}
	if cfg.perf != "" {
		stopPerf, err := startPerf(cfg.perf, srv.pid())
		if err != nil {
			return nil, err
		}
		defer stopPerf()
	}
	var sampler rssSampler
	sctx, stopSampler := context.WithCancel(ctx)
	defer stopSampler()
	go sampler.run(sctx, srv.pid(), 20*time.Millisecond)

	// All webhooks at once, as a burst of pushes would arrive.
	type sent struct {
		reply hookReply
		at    time.Time
		took  time.Duration
		err   error
	}
	sends := make([]sent, len(pushes))
	var wg sync.WaitGroup
	for i, p := range pushes {
		wg.Go(func() {
			body, err := pushPayload(p.before, p.after, p.n, []string{"README", "counter.txt"})
			if err != nil {
				sends[i].err = err
				return
			}
			s := &sends[i]
			s.reply, s.at, s.took, s.err = c.hookRuns(ctx, "throughput", cfg.secret, fmt.Sprintf("throughput-%d", i), body, 1)
		})
	}
	wg.Wait()
	t0 := sends[0].at
	var runIDs []int64
	for _, s := range sends {
		if s.err != nil {
			return nil, s.err
		}
		if s.at.Before(t0) {
			t0 = s.at
		}
		res.Acks = append(res.Acks, s.took)
		runIDs = append(runIDs, s.reply.Runs...)
	}
	if len(runIDs) != cfg.runs {
		return nil, fmt.Errorf("%d webhooks started %d runs, want %d", cfg.runs, len(runIDs), cfg.runs)
	}
	if err := waitRuns(ctx, c, runIDs, cfg.limit); err != nil {
		return nil, err
	}
	stopSampler()
	res.LoadAfter = loadAverage()
	machineEnd, err := readMachineCPU()
	if err != nil {
		return nil, err
	}
	if dt := machineEnd.Total - machineStart.Total; dt > 0 {
		res.MachineBusy = float64(machineEnd.Busy-machineStart.Busy) / float64(dt)
	}
	for i, p := range all {
		if usage[i].End, err = readMemory(p.pid()); err != nil {
			return nil, err
		}
		end, err := readCPU(p.pid())
		if err != nil {
			return nil, err
		}
		usage[i].CPU = cpuTimes{Self: end.Self - startCPU[i].Self, Children: end.Children - startCPU[i].Children}
	}
	usage[0].PeakRSS, _ = sampler.result()
	usage[0].HasSampled = true
	res.Server, res.AgentsUse = usage[0], usage[1:]

	var jobs []apiJob
	for _, id := range runIDs {
		d, err := c.run(ctx, id)
		if err != nil {
			return nil, err
		}
		if d.Run.Conclusion != "success" {
			return nil, fmt.Errorf("run %d concluded %q", id, d.Run.Conclusion)
		}
		for _, j := range d.Jobs {
			if j.AgentID != nil { // the matrix's parent row runs nowhere
				jobs = append(jobs, j)
			}
		}
	}
	firstLogs := map[int64]time.Time{}
	for _, j := range jobs {
		if firstLogs[j.ID], err = c.firstLog(ctx, j.ID); err != nil {
			return nil, err
		}
	}
	if err := res.analyse(jobs, firstLogs, t0); err != nil {
		return nil, err
	}
	if res.Jobs != cfg.jobs {
		return nil, fmt.Errorf("%d jobs ran, want %d", res.Jobs, cfg.jobs)
	}
	return res, nil
}

// analyse splits each job's time into its parts and finds the gaps each
// agent spent between jobs.
func (res *throughputResult) analyse(jobs []apiJob, firstLogs map[int64]time.Time, t0 time.Time) error {
	res.Jobs = len(jobs)
	byAgent := map[int64][]apiJob{}
	var last, lastQueued time.Time
	first := time.Time{}
	for _, j := range jobs {
		if j.Conclusion != "success" || j.StartedAt == nil || j.FinishedAt == nil || j.QueuedAt == nil || len(j.Steps) == 0 ||
			j.Steps[0].StartedAt == nil || j.Steps[len(j.Steps)-1].FinishedAt == nil {
			return fmt.Errorf("job %d (%s): %s, or times missing", j.ID, j.Key, j.Conclusion)
		}
		if j.FinishedAt.After(last) {
			last = *j.FinishedAt
		}
		if j.QueuedAt.After(lastQueued) {
			lastQueued = *j.QueuedAt
		}
		if first.IsZero() || j.StartedAt.Before(first) {
			first = *j.StartedAt
		}
		stepEnd := *j.Steps[len(j.Steps)-1].FinishedAt
		res.Service = append(res.Service, j.FinishedAt.Sub(*j.StartedAt))
		res.Setup = append(res.Setup, j.Steps[0].StartedAt.Sub(*j.StartedAt))
		fl := firstLogs[j.ID]
		res.Checkout = append(res.Checkout, fl.Sub(*j.StartedAt))
		res.Engine = append(res.Engine, j.Steps[0].StartedAt.Sub(fl))
		res.Step = append(res.Step, stepEnd.Sub(*j.Steps[0].StartedAt))
		res.Tail = append(res.Tail, j.FinishedAt.Sub(stepEnd))
		byAgent[*j.AgentID] = append(byAgent[*j.AgentID], j)
	}
	res.Total, res.LastQueued, res.FirstClaim = last.Sub(t0), lastQueued.Sub(t0), first.Sub(t0)
	if res.Parallel == 1 {
		// With one slot an agent's jobs do not overlap: the gap between one
		// ending and the next starting is the claim round trip.
		for _, js := range byAgent {
			sort.Slice(js, func(a, b int) bool { return js[a].StartedAt.Before(*js[b].StartedAt) })
			for k := 1; k < len(js); k++ {
				res.Gap = append(res.Gap, js[k].StartedAt.Sub(*js[k-1].FinishedAt))
			}
		}
	}
	return nil
}

// waitRuns polls the runs list until every run in ids has completed.
func waitRuns(ctx context.Context, c *client, ids []int64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	want := map[int64]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for {
		var out struct {
			Runs []apiRun `json:"runs"`
		}
		if err := c.get(ctx, fmt.Sprintf("/api/v1/runs?limit=%d", max(len(ids), 50)), &out); err != nil {
			return err
		}
		done := 0
		for _, r := range out.Runs {
			if want[r.ID] && r.Status == "completed" {
				done++
			}
		}
		if done == len(ids) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d runs completed after %s", done, len(ids), limit)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// clockTicks is the unit of /proc/PID/stat's CPU times.
func clockTicks(ctx context.Context) int64 {
	out, err := exec.CommandContext(ctx, "getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 100 // Linux's USER_HZ nearly everywhere
}

// startPerf samples pid's stacks with perf until the returned func is called.
func startPerf(out string, pid int) (func(), error) {
	cmd := exec.Command("perf", "record", "-q", "-F", "999", "-g", "-p", strconv.Itoa(pid), "-o", out)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting perf: %w", err)
	}
	return func() {
		// perf writes its file on SIGINT.
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}, nil
}
