// Command server benchmarks `sluice serve` on this machine, over 127.0.0.1
// only: webhook to first step started with the embedded agent, 1,000 queued
// no-op jobs through local agents, and the server's memory. It writes
// bench/results-server.md. Run it with `make bench-server`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

type config struct {
	bin, out, work string
	n, warmup      int
	jobs, runs     int
	agents         int
	parallel       int
	limit          time.Duration
	keep           bool
	perf           string
	token, secret  string
	// scale runs the multi-replica benchmark (scale.go) instead; serverExtra are flags every
	// server of a section gets (its --db, …).
	scale       bool
	scaleJobs   int
	scaleAgents int
	chaosJobs   int
	curveJobs   int
	scaleOnly   string
	serverExtra []string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.bin, "sluice", "bin/sluice", "the sluice binary to measure")
	flag.StringVar(&cfg.out, "out", "bench/results-server.md", "where to write the results")
	flag.StringVar(&cfg.work, "work", "", "scratch directory (default: a new temporary one, removed after)")
	flag.IntVar(&cfg.n, "n", 50, "webhooks measured for webhook → first step")
	flag.IntVar(&cfg.warmup, "warmup", 2, "webhooks sent first and not measured")
	flag.IntVar(&cfg.jobs, "jobs", 1000, "no-op jobs for the throughput run")
	flag.IntVar(&cfg.runs, "runs", 4, "runs (webhooks, all at once) the jobs are split into")
	flag.IntVar(&cfg.agents, "agents", 4, "sluice agent processes")
	flag.IntVar(&cfg.parallel, "parallel", 1, "--parallel of each agent")
	flag.DurationVar(&cfg.limit, "limit", 10*time.Minute, "give up on the throughput run after this long")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the scratch directory (server and agent logs)")
	flag.StringVar(&cfg.perf, "perf", "", "record the server under the throughput load with `perf record -g` into this file")
	flag.BoolVar(&cfg.scale, "scale", false, "run the scale benchmark (replicas on Postgres against one SQLite server) instead; see -out")
	flag.IntVar(&cfg.scaleJobs, "scale-jobs", 10000, "no-op jobs of each scale throughput run (multiple of 250)")
	flag.IntVar(&cfg.scaleAgents, "scale-agents", 20, "sluice agent processes of the scale throughput runs")
	flag.IntVar(&cfg.chaosJobs, "chaos-jobs", 10000, "no-op jobs of the run with a replica killed every 10 s")
	flag.IntVar(&cfg.curveJobs, "curve-jobs", 2000, "jobs per point of the claim-rate curve")
	flag.StringVar(&cfg.scaleOnly, "scale-only", "", "with -scale, run only the throughput run of this name (e.g. \"postgres 2 replicas\"), or \"latency\" (webhook → first step on Postgres, each mark), print them and write no results file")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench-server:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	bin, err := filepath.Abs(cfg.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("the sluice binary: %w (run make build)", err)
	}
	cfg.bin = bin
	if cfg.scale {
		return runScale(ctx, cfg)
	}
	if cfg.token, err = adminToken(); err != nil {
		return err
	}
	cfg.secret = "bench-webhook-secret"
	if cfg.work == "" {
		if cfg.work, err = os.MkdirTemp("", "sluice-bench-server-"); err != nil {
			return fmt.Errorf("creating a scratch directory: %w", err)
		}
	}
	if cfg.keep {
		fmt.Fprintln(os.Stderr, "==> scratch directory (kept):", cfg.work)
	} else {
		defer os.RemoveAll(cfg.work)
	}
	env, err := describeMachine(ctx, cfg.bin)
	if err != nil {
		return err
	}
	// Others may rebuild the binary while this runs; the processes started
	// later must run the same one as those started first.
	if cfg.bin, err = copyBinary(cfg.bin, cfg.work); err != nil {
		return err
	}

	fmt.Fprintf(os.Stderr, "==> webhook → first step: %d warm-up + %d signed pushes, embedded agent (--agents 2)\n", cfg.warmup, cfg.n)
	latDir, err := mkdir(cfg.work, "latency")
	if err != nil {
		return err
	}
	lat, err := benchLatency(ctx, cfg, latDir)
	if err != nil {
		return fmt.Errorf("webhook → first step: %w", err)
	}
	fmt.Fprintf(os.Stderr, "==> %d no-op jobs: %d webhooks × %d legs at once, %d × sluice agent --parallel %d, --agents 0\n",
		cfg.jobs, cfg.runs, cfg.jobs/cfg.runs, cfg.agents, cfg.parallel)
	tpDir, err := mkdir(cfg.work, "throughput")
	if err != nil {
		return err
	}
	tp, err := benchThroughput(ctx, cfg, tpDir)
	if err != nil {
		return fmt.Errorf("throughput: %w", err)
	}
	report := renderReport(env, lat, tp)
	if err := writeReport(cfg.out, report); err != nil {
		return err
	}
	fmt.Print(report.summary)
	fmt.Fprintln(os.Stderr, "==> wrote", cfg.out)
	return nil
}

func mkdir(parent, name string) (string, error) {
	p := filepath.Join(parent, name)
	if err := os.MkdirAll(p, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", p, err)
	}
	return p, nil
}

func copyBinary(bin, dir string) (string, error) {
	b, err := os.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", bin, err)
	}
	dst := filepath.Join(dir, "sluice")
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		return "", fmt.Errorf("copying the binary: %w", err)
	}
	return dst, nil
}
