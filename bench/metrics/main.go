// Command metrics benchmarks the delivery figures (internal/metrics) on a generated history of
// a busy repository: by default 100,000 runs, about 1,000,000 events and 5,000 deployments over
// two years, in SQLite and a git mirror, against a naive baseline that replays the whole event
// log in Go on every computation. It checks that both give the same figures and writes
// bench/results-metrics.md. Run it with `make bench-metrics`.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite"

	machineinfo "github.com/sluice-ci/sluice/bench/machine"
	"github.com/sluice-ci/sluice/internal/metrics"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/testenv"
)

// notesMark starts the hand-written part of the results file, which a new run keeps.
const notesMark = "<!-- notes: everything below is kept when the benchmark rewrites this file -->"

// target is DESIGN.md §7's: metrics over 1,000,000 events in at most 200 ms.
const target = 200 * time.Millisecond

type config struct {
	out, work    string
	profile      string
	dump         string
	noPostgres   bool
	spec         spec
	warm, naiveN int
}

func main() {
	var cfg config
	flag.StringVar(&cfg.out, "out", "bench/results-metrics.md", "where to write the results")
	flag.StringVar(&cfg.work, "work", "bench/.work/metrics", "where the generated history is kept between runs")
	flag.IntVar(&cfg.spec.Runs, "runs", 100_000, "runs in the history")
	flag.IntVar(&cfg.spec.Deployments, "deployments", 5_000, "production deployments in the history")
	flag.IntVar(&cfg.spec.Commits, "commits", 20_000, "commits on main")
	flag.IntVar(&cfg.spec.Days, "days", 730, "days the history spans")
	flag.IntVar(&cfg.warm, "n", 9, "warm computations measured per case (the median is reported)")
	flag.IntVar(&cfg.naiveN, "naive", 3, "naive baseline computations per case")
	flag.StringVar(&cfg.profile, "cpuprofile", "", "write a CPU profile of the warm computations here")
	flag.BoolFunc("postgres", "measure on Postgres too, when a server is found (default true; -postgres=false: SQLite only)", func(v string) error {
		cfg.noPostgres = v == "false"
		return nil
	})
	flag.StringVar(&cfg.dump, "dump", "", "write each window's figures as JSON here (DIR/DAYS.json), to compare two versions")
	flag.Parse()
	cfg.spec.Seed = 42
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench-metrics:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "==> "+format+"\n", args...) }

// result is one window's measurements.
type result struct {
	window              string
	runs, deps, events  int
	cold, warm, dora    time.Duration
	coldCPU, warmCPU    time.Duration
	queries, queriesCPU time.Duration
	naiveCPU            time.Duration
	warmMin, warmMax    time.Duration
	naive               time.Duration
	same                bool
	diff                string
	leadCommits         int
}

func run(ctx context.Context, cfg config) error {
	work, err := filepath.Abs(cfg.work)
	if err != nil {
		return err
	}
	d, err := genOrLoad(ctx, work, cfg.spec, logf)
	if err != nil {
		return fmt.Errorf("generating the history: %w", err)
	}
	m := machineinfo.Describe(ctx, "")
	raw, err := sql.Open("sqlite", "file:"+d.DB+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer raw.Close()
	counts := map[string]int64{}
	for _, t := range []string{"runs", "jobs", "events", "promotions", "releases", "test_cases", "job_tools"} {
		var n int64
		if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t).Scan(&n); err != nil {
			return err
		}
		counts[t] = n
	}
	repo := metrics.Repo{ID: d.RepoID, Name: "busy/app", URL: "https://forge.example/busy/app.git", DefaultBranch: "main", GitDir: d.Mirror}
	var results []result
	var reps []*metrics.Report
	windows := []struct {
		label string
		days  int
	}{{"90 days (the default)", 90}, {"365 days", 365}, {fmt.Sprintf("all %d days", d.Days), d.Days}}
	for _, w := range windows {
		since := d.End.Add(-time.Duration(w.days) * 24 * time.Hour)
		opts := metrics.Options{Now: d.End, Since: since}
		r, rep, err := measure(ctx, cfg, d.DB, "", w.days, repo, opts)
		if err != nil {
			return err
		}
		r.window = w.label
		reps = append(reps, rep)
		for _, wf := range rep.Pipelines.Workflows {
			r.runs += wf.Runs
		}
		r.deps = rep.DORA.Frequency.Count
		r.leadCommits = len(rep.DORA.LeadTime.Commits)
		if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE time >= ?`, since.UnixNano()).Scan(&r.events); err != nil {
			return err
		}

		logf("%s: sluice cold %s (CPU %s), warm %s (CPU %s), queries only %s (CPU %s), DORA only %s", w.label, ms(r.cold),
			ms(r.coldCPU), ms(r.warm), ms(r.warmCPU), ms(r.queries), ms(r.queriesCPU), ms(r.dora))
		if cfg.dump != "" {
			b, _ := json.MarshalIndent(rep, "", " ")
			if err := os.WriteFile(filepath.Join(cfg.dump, fmt.Sprintf("%d.json", w.days)), b, 0o644); err != nil {
				return err
			}
		}
		if cfg.naiveN == 0 { // profiling: sluice's side only
			r.same = true
			results = append(results, r)
			continue
		}
		var naiveRep *metrics.Report
		var naiveT, naiveCPU []time.Duration
		for range cfg.naiveN {
			wall, cpu, err := timed(func() error {
				nv := &naive{db: raw, repoID: d.RepoID}
				if err := nv.load(ctx); err != nil {
					return fmt.Errorf("naive: %w", err)
				}
				var err error
				naiveRep, err = metrics.Compute(ctx, nv, repo, opts)
				return err
			})
			if err != nil {
				return fmt.Errorf("naive: %w", err)
			}
			naiveT, naiveCPU = append(naiveT, wall), append(naiveCPU, cpu)
		}
		r.naive, r.naiveCPU = median(naiveT), median(naiveCPU)
		a, _ := json.Marshal(rep)
		b, _ := json.Marshal(naiveRep)
		r.same = bytes.Equal(a, b)
		if !r.same {
			r.diff = firstDiff(a, b)
		}
		logf("%s: naive %s, same figures: %v %s", w.label, ms(r.naive), r.same, r.diff)
		results = append(results, r)
	}
	// The same on Postgres: the history copied into a database sluice's migrations made.
	var pg []result
	pgNote := "not measured: no Postgres server (scripts/postgres-setup.sh, which make deps runs, starts one; or set SLUICE_TEST_POSTGRES)"
	if cfg.noPostgres {
		pgNote = "not measured (-postgres=false)"
	} else if admin := testenv.PostgresAdminDSN(); admin != "" {
		dsn, err := pgLoad(ctx, admin, d, raw)
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		pgNote = ""
		for i, w := range windows {
			opts := metrics.Options{Now: d.End, Since: d.End.Add(-time.Duration(w.days) * 24 * time.Hour)}
			r, rep, err := measure(ctx, cfg, dsn, "pg.", w.days, repo, opts)
			if err != nil {
				return fmt.Errorf("postgres: %w", err)
			}
			r.window, r.runs, r.deps, r.events = w.label, results[i].runs, results[i].deps, results[i].events
			a, _ := json.Marshal(reps[i])
			b, _ := json.Marshal(rep)
			if r.same = bytes.Equal(a, b); !r.same {
				r.diff = firstDiff(a, b)
			}
			logf("%s on Postgres: cold %s (CPU %s), warm %s (CPU %s), queries only %s (CPU %s), DORA only %s, same figures as SQLite: %v %s",
				w.label, ms(r.cold), ms(r.coldCPU), ms(r.warm), ms(r.warmCPU), ms(r.queries), ms(r.queriesCPU), ms(r.dora), r.same, r.diff)
			pg = append(pg, r)
		}
	}
	out := render(m, d, counts, results, pg, pgNote, cfg)
	// The hand-written notes below the mark survive a new run.
	if old, err := os.ReadFile(cfg.out); err == nil {
		if i := bytes.Index(old, []byte(notesMark)); i >= 0 {
			out += "\n" + string(old[i:])
		}
	}
	return os.WriteFile(cfg.out, []byte(out), 0o644)
}

// measure computes the figures on the store at dsn (a SQLite file or a Postgres URL): cold, warm
// through a metrics.Cache, on the queries alone, and DORA only. tag names its profiles.
func measure(ctx context.Context, cfg config, dsn, tag string, days int, repo metrics.Repo, opts metrics.Options) (result, *metrics.Report, error) {
	var r result
	w := struct{ days int }{days}
	// Cold: a fresh store and cache, their first computation; warm: the same again, as the
	// server computes a page or an API answer (the cache refreshed from the events since).
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return r, nil, err
	}
	cache := &metrics.Cache{}
	var rep *metrics.Report
	compute := func(src metrics.Source, o metrics.Options) func() error {
		return func() (err error) {
			rep, err = metrics.Compute(ctx, src, repo, o)
			return err
		}
	}
	if r.cold, r.coldCPU, err = timed(compute(cache.With(db), opts)); err != nil {
		db.Close()
		return r, nil, err
	}
	if cfg.profile != "" {
		f, err := os.Create(fmt.Sprintf("%s.%s%d", cfg.profile, tag, w.days))
		if err != nil {
			return r, nil, err
		}
		pprof.StartCPUProfile(f)
	}
	series := func(src metrics.Source, o metrics.Options) (wall, cpu []time.Duration, err error) {
		for range cfg.warm {
			w, c, err := timed(compute(src, o))
			if err != nil {
				return nil, nil, err
			}
			wall, cpu = append(wall, w), append(cpu, c)
		}
		return wall, cpu, nil
	}
	warm, warmCPU, err := series(cache.With(db), opts)
	if err != nil {
		db.Close()
		return r, nil, err
	}
	if cfg.profile != "" {
		pprof.StopCPUProfile()
	}
	r.warm, r.warmCPU = median(warm), median(warmCPU)
	r.warmMin, r.warmMax = slices.Min(warm), slices.Max(warm)
	full := rep
	if cfg.profile != "" {
		f, err := os.Create(fmt.Sprintf("%s.%squeries.%d", cfg.profile, tag, w.days))
		if err != nil {
			return r, nil, err
		}
		pprof.StartCPUProfile(f)
	}
	queries, queriesCPU, err := series(db, opts)
	if cfg.profile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		db.Close()
		return r, nil, err
	}
	r.queries, r.queriesCPU = median(queries), median(queriesCPU)
	o := opts
	o.DORAOnly = true
	dora, _, err := series(cache.With(db), o) // as /metrics computes it: through the server's cache
	if err != nil {
		db.Close()
		return r, nil, err
	}
	r.dora = median(dora)
	rep = full
	db.Close()
	return r, rep, nil
}

// cpuTime is the CPU this process and its finished children (git) have used.
func cpuTime() time.Duration {
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	return time.Duration(self.Utime.Nano() + self.Stime.Nano() + kids.Utime.Nano() + kids.Stime.Nano())
}

// timed runs fn and returns its wall and CPU time.
func timed(fn func() error) (wall, cpu time.Duration, err error) {
	c0, t0 := cpuTime(), time.Now()
	err = fn()
	return time.Since(t0), cpuTime() - c0, err
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }

// firstDiff shows where two JSON documents part.
func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-80)
	return fmt.Sprintf("at byte %d: %q vs %q", i, a[from:min(len(a), i+80)], b[from:min(len(b), i+80)])
}

func render(m machineinfo.Info, d *dataset, counts map[string]int64, rs, pg []result, pgNote string, cfg config) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# Delivery metrics over a large history — sluice's queries vs replaying the event log\n\n")
	p("One run of `make bench-metrics` (bench/metrics), %s, on %d CPUs (%s), Linux %s, sluice at %s.\n", m.When, m.CPUs, m.CPU, m.Kernel, m.Commit)
	p("Load average at the start: %s. The machine is shared with other work; wall times move with its load.\n\n", m.Load)
	p("**The history** (generated once into `bench/.work/metrics`, seed %d): one repository, %d days; ", d.Seed, d.Days)
	p("%d commits on main in its mirror (a dependency change every 50th, a Sluice-Pin every 500th); ", d.Commits)
	p("%d runs of three workflows (two jobs each; ci's test job reports 4 tests and 3 tool versions), ", counts["runs"])
	p("%d jobs, %d events, %d promotions into production (failures rolled back, manual rollbacks, hotfixes, redeploys), ", counts["jobs"], counts["events"], counts["promotions"])
	p("%d releases, %d kept test cases, %d tool versions. SQLite (the embedded database) in WAL mode, as `sluice serve` opens it.\n\n", counts["releases"], counts["test_cases"], counts["job_tools"])
	p("**Measured**: `metrics.Compute` — every figure of the page and the API (DORA keys with lead time read from the mirror, ")
	p("dependency incidents, reproducibility, pins from the default branch's history, pipelines, test health) — as the server ")
	p("runs it: on `store.DB` through a `metrics.Cache`, which keeps the window's runs and jobs and refreshes them from the events ")
	p("written since (bench/metrics reads them all again each time on the *queries only* line). *Cold* is the first computation on a ")
	p("freshly opened store and an empty cache (the OS file cache is warm: the history was just written or read); *warm* the median ")
	p("of %d more (min–max); *DORA only* what `/metrics` computes per environment (through the same cache). **Baseline** (*naive*): the same ", cfg.warm)
	p("`metrics.Compute` on a source that reads the whole event log (and the test cases table) on every computation and replays ")
	p("it in Go (bench/metrics/naive.go), median of %d. Both must give the same figures, byte for byte in JSON.\n\n", cfg.naiveN)
	p("Wall time is what a caller waits (the queries and git run in parallel on the 2 cores); CPU time is this process's and its ")
	p("git children's, which the machine's load does not inflate.\n\n")
	p("| window | runs in it | deployments | events in it | cold wall (CPU) | warm wall, min–max (CPU) | queries only wall (CPU) | DORA only | naive wall (CPU) | naive / warm | same figures | warm ≤ 200 ms |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n")
	for _, r := range rs {
		same := "yes"
		if !r.same {
			same = "**NO**: " + r.diff
		}
		verdict := "ok"
		if r.warm > target {
			verdict = "**MISSED**"
		}
		p("| %s | %d | %d | %d | %s (%s) | %s, %s–%s (%s) | %s (%s) | %s | %s (%s) | %.0f× | %s | %s |\n", r.window, r.runs, r.deps, r.events,
			ms(r.cold), ms(r.coldCPU), ms(r.warm), ms(r.warmMin), ms(r.warmMax), ms(r.warmCPU), ms(r.queries), ms(r.queriesCPU), ms(r.dora),
			ms(r.naive), ms(r.naiveCPU), float64(r.naive)/float64(r.warm), same, verdict)
	}
	if pgNote != "" {
		p("\n**Postgres**: %s.\n", pgNote)
		return b.String()
	}
	p("\n**Postgres** (the same history copied into a database made by sluice's Postgres migrations, on the local server ")
	p("`make deps` starts, over its Unix socket; same process, same cache): the figures must be the same as on SQLite, byte for byte in JSON.\n\n")
	p("| window | cold wall (CPU) | warm wall, min–max (CPU) | queries only wall (CPU) | DORA only | same figures as SQLite | warm ≤ 200 ms |\n")
	p("| --- | ---: | ---: | ---: | ---: | --- | --- |\n")
	for _, r := range pg {
		same := "yes"
		if !r.same {
			same = "**NO**: " + r.diff
		}
		verdict := "ok"
		if r.warm > target {
			verdict = "**MISSED**"
		}
		p("| %s | %s (%s) | %s, %s–%s (%s) | %s (%s) | %s | %s | %s |\n", r.window, ms(r.cold), ms(r.coldCPU), ms(r.warm), ms(r.warmMin),
			ms(r.warmMax), ms(r.warmCPU), ms(r.queries), ms(r.queriesCPU), ms(r.dora), same, verdict)
	}
	return b.String()
}
