package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	machineinfo "github.com/sluice-ci/sluice/bench/machine"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// notesMark starts the hand-written part of the results file, which a new
// run keeps: the analysis of where the time goes.
const notesMark = "<!-- notes: everything below is kept when the benchmark rewrites this file -->"

const (
	targetFirstStep  = 200 * time.Millisecond
	targetThroughput = 30 * time.Second
)

type machine = machineinfo.Info

// describeMachine describes this machine and the checkout bin was built from.
func describeMachine(ctx context.Context, bin string) (machine, error) {
	return machineinfo.Describe(ctx, filepath.Dir(filepath.Dir(bin))), nil
}

type report struct {
	body, summary string
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "**MISSED**"
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func renderReport(m machine, lat *latencyResult, tp *throughputResult) report {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	first := make([]time.Duration, 0, len(lat.Samples))
	for _, s := range lat.Samples {
		first = append(first, s.FirstStep)
	}
	fst := summarize(first)
	jobsPerSec := float64(tp.Jobs) / tp.Total.Seconds()

	p("# sluice serve: webhook latency, queue throughput, memory\n\n")
	p("One run of `make bench-server` (bench/server), %s, on %d CPUs (%s), Linux %s, sluice at %s.\n", m.When, m.CPUs, m.CPU, m.Kernel, m.Commit)
	p("Load average (1, 5, 15 min) at the start: %s; after section 1: %s; around section 2: %s → %s.\n", m.Load, lat.LoadAfter, tp.LoadBefore, tp.LoadAfter)
	p("The machine is shared with other work, which inflates wall times; the CPU times in section 2 are steadier.\n")
	p("All traffic is to 127.0.0.1; the \"forge\" is a bare repository on the local disk.\n\n")

	p("## Against the targets (shared/DESIGN.md §7)\n\n")
	p("| measure | target | measured | |\n| --- | ---: | ---: | --- |\n")
	p("| webhook → first step started, p95 (embedded agent, `--agents 2`) | ≤ 200 ms | %.1f ms (p50 %.1f, max %.1f) | %s |\n",
		ms(fst.P95), ms(fst.P50), ms(fst.Max), verdict(fst.P95 <= targetFirstStep))
	p("| %d queued no-op jobs through %d agents | ≤ 30 s | %.1f s (%.1f jobs/s) | %s |\n",
		tp.Jobs, tp.Agents, tp.Total.Seconds(), jobsPerSec, verdict(tp.Total <= targetThroughput))
	p("| server RSS at rest → peak under those jobs | — | %s → %s (VmHWM %s) | |\n\n",
		mib(tp.Server.Rest.RSS), mib(tp.Server.PeakRSS), mib(tp.Server.End.HWM))

	p("## 1. Webhook → first step started\n\n")
	p("%d signed GitHub push deliveries (`POST /hooks/github?repo=latency`), each for a new commit pushed to the\n", fst.N)
	p("bare repository just before, one at a time (the next push waits for the previous run to end), after %d\n", lat.Warmup)
	p("unmeasured warm-up deliveries. The workflow is one job with one step (`run: \"true\"`). `sluice serve\n")
	p("--agents 2` (embedded agent, bubblewrap sandbox when bwrap is installed). Each mark is measured from the\n")
	p("moment the POST went out to a time the API reports (`GET /api/v1/runs/{id}`); **first step started** is\n")
	p("`jobs[0].steps[0].started_at`, stamped by the agent when the engine starts the step (the same instant as\n")
	p("the job log's `step started` line), which is closer to \"first step started\" than the job's\n")
	p("`started_at` (the lease, before checkout).\n\n")
	b.WriteString(latencyMarks(lat))
	p("\nServer with its embedded agent: VmRSS %s at rest, VmHWM %s after the %d runs.\n\n",
		mib(lat.Rest.RSS), mib(lat.Peak.HWM), lat.Warmup+fst.N)

	p("## 2. %d queued no-op jobs through %d agents\n\n", tp.Jobs, tp.Agents)
	p("%d webhooks sent at once, each for its own commit, each starting a run of one job with a %d-leg matrix\n", tp.Runs, tp.LegsPerRun)
	p("(GitHub caps a matrix at 256 legs) and one `run: \"true\"` step. `sluice serve --agents 0` and %d separate\n", tp.Agents)
	p("`sluice agent --labels default --parallel %d` processes (each its own SLUICE_STATE_DIR). Measured from the\n", tp.Parallel)
	p("first webhook sent to the last job's `finished_at`.\n\n")
	acks := summarize(tp.Acks)
	p("- total **%.2f s**, **%.1f jobs/s** (%d jobs, all successful)\n", tp.Total.Seconds(), jobsPerSec, tp.Jobs)
	p("- webhook replies (each fetches, plans and records its %d jobs before answering): %.0f ms to %.0f ms\n", tp.LegsPerRun, ms(acks.Min), ms(acks.Max))
	p("- first job leased %.0f ms after the first webhook; last job queued after %.0f ms\n", ms(tp.FirstClaim), ms(tp.LastQueued))
	p("- machine CPU busy during the load (both CPUs, every process): %.0f%%\n\n", tp.MachineBusy*100)
	p("Where a job's time goes (all %d jobs):\n\n", tp.Jobs)
	p("| part | p50 | p95 | mean |\n| --- | ---: | ---: | ---: |\n")
	parts := []struct {
		name string
		ds   []time.Duration
	}{
		{"leased → first log line (job directory, the commit from the agent's mirror, .github export, artifact listing)", tp.Checkout},
		{"first log line → first step started (engine set-up)", tp.Engine},
		{"leased → first step started (sum of the two above)", tp.Setup},
		{"the no-op step (`bash -e` running `true`, from step start to step end)", tp.Step},
		{"step finished → job finished (last logs, `complete`, scheduler)", tp.Tail},
		{"**leased → finished (one job, as the server sees it)**", tp.Service},
	}
	if len(tp.Gap) > 0 {
		parts = append(parts, struct {
			name string
			ds   []time.Duration
		}{"an agent's job finished → its next job leased (claim round trip)", tp.Gap})
	}
	for _, r := range parts {
		s := summarize(r.ds)
		p("| %s | %.1f ms | %.1f ms | %.1f ms |\n", r.name, ms(s.P50), ms(s.P95), ms(s.Mean))
	}
	svc, gap := summarize(tp.Service), summarize(tp.Gap)
	per := svc.Mean + gap.Mean
	p("\nWith %d slots in all, %.1f ms per job (leased → finished + gap) allows at most %.1f jobs/s, %.1f s for %d jobs.\n\n",
		tp.Agents*tp.Parallel, ms(per), float64(tp.Agents*tp.Parallel)/per.Seconds(), (per * time.Duration(tp.Jobs) / time.Duration(tp.Agents*tp.Parallel)).Seconds(), tp.Jobs)
	p("CPU time during the load (own = the process; children = git, bash and other processes it waited for):\n\n")
	p("| process | own CPU | children's CPU |\n| --- | ---: | ---: |\n")
	sec := func(t int64) string { return fmt.Sprintf("%.2f s", float64(t)/float64(tp.TicksPerSecond)) }
	p("| server | %s | %s |\n", sec(tp.Server.CPU.Self), sec(tp.Server.CPU.Children))
	var agSelf, agChild int64
	for _, a := range tp.AgentsUse {
		agSelf += a.CPU.Self
		agChild += a.CPU.Children
	}
	p("| %d agents together | %s | %s |\n", len(tp.AgentsUse), sec(agSelf), sec(agChild))
	total := tp.Server.CPU.Self + tp.Server.CPU.Children + agSelf + agChild
	perJob := float64(total) / float64(tp.TicksPerSecond) / float64(tp.Jobs)
	p("| **per job, all of the above** | %.1f ms | |\n\n", perJob*1000)
	p("At %.1f ms of CPU per job, %d jobs need %.1f s of CPU: at least %.1f s on %d otherwise idle CPUs, however the\n",
		perJob*1000, tp.Jobs, perJob*float64(tp.Jobs), perJob*float64(tp.Jobs)/float64(m.CPUs), m.CPUs)
	p("agents are arranged; 30 s allows %.0f ms per job.\n\n", float64(m.CPUs)*targetThroughput.Seconds()/float64(tp.Jobs)*1000)

	p("## 3. Memory (VmRSS / VmHWM from /proc/PID/status)\n\n")
	p("| process | at rest (started, repository added, before work) | peak VmRSS sampled every 20 ms under load 2 | VmHWM at the end |\n| --- | ---: | ---: | ---: |\n")
	p("| server (`--agents 0`) | %s | %s | %s |\n", mib(tp.Server.Rest.RSS), mib(tp.Server.PeakRSS), mib(tp.Server.End.HWM))
	for _, a := range tp.AgentsUse {
		p("| %s | %s | — | %s |\n", a.Name, mib(a.Rest.RSS), mib(a.End.HWM))
	}
	p("| server with embedded agent (section 1) | %s | — | %s |\n\n", mib(lat.Rest.RSS), mib(lat.Peak.HWM))

	summary := fmt.Sprintf("webhook → first step: p50 %.1f ms, p95 %.1f ms, max %.1f ms (target p95 ≤ 200 ms: %s)\n"+
		"%d no-op jobs, %d agents: %.2f s, %.1f jobs/s (target ≤ 30 s: %s)\n"+
		"server RSS: %s at rest, %s peak (VmHWM %s)\n",
		ms(fst.P50), ms(fst.P95), ms(fst.Max), strings.Trim(verdict(fst.P95 <= targetFirstStep), "*"),
		tp.Jobs, tp.Agents, tp.Total.Seconds(), jobsPerSec, strings.Trim(verdict(tp.Total <= targetThroughput), "*"),
		mib(tp.Server.Rest.RSS), mib(tp.Server.PeakRSS), mib(tp.Server.End.HWM))
	return report{body: b.String(), summary: summary}
}

// writeReport writes r to path, keeping any notes below notesMark.
// latencyMarks is the table of a latency run's marks, each from the webhook sent.
func latencyMarks(lat *latencyResult) string {
	var ack, queued, claimed, firstLog, first, finished []time.Duration
	for _, s := range lat.Samples {
		ack = append(ack, s.Ack)
		queued = append(queued, s.Queued)
		claimed = append(claimed, s.Claimed)
		firstLog = append(firstLog, s.FirstLog)
		first = append(first, s.FirstStep)
		finished = append(finished, s.Finished)
	}
	var b bytes.Buffer
	b.WriteString("| mark (from webhook sent) | p50 | p95 | max | mean |\n| --- | ---: | ---: | ---: | ---: |\n")
	for _, r := range []struct {
		name string
		ds   []time.Duration
	}{
		{"webhook answered (fetch + plan happen before the reply)", ack},
		{"job queued (`queued_at`)", queued},
		{"job leased by the agent (`started_at`)", claimed},
		{"job's first log line (checkout done, engine started)", firstLog},
		{"**first step started** (`steps[0].started_at`)", first},
		{"job finished (`finished_at`)", finished},
	} {
		s := summarize(r.ds)
		fmt.Fprintf(&b, "| %s | %.1f ms | %.1f ms | %.1f ms | %.1f ms |\n", r.name, ms(s.P50), ms(s.P95), ms(s.Max), ms(s.Mean))
	}
	return b.String()
}

func writeReport(path string, r report) error {
	notes := notesMark + "\n"
	old, err := os.ReadFile(path)
	switch {
	case err == nil:
		if i := bytes.Index(old, []byte(notesMark)); i >= 0 {
			notes = string(old[i:])
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte(r.body+notes), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
