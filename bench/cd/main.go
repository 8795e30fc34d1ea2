// Command cd benchmarks issue 7's continuous-deployment path against what a
// pipeline does with Podman alone, in one run on this machine: building an
// image cold and warm (sluice's oci.Build vs `podman build`), promoting a
// pushed release (oci.Copy vs `podman push`, counted at in-process
// registries on 127.0.0.1), and rolling a deployment back to a healthy
// previous container (deploy.Rollback vs `podman rm -f` + `podman run`).
// It writes bench/results-cd.md. Run it with `make bench-cd`.
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
	out, work   string
	baseImage   string
	socket      string
	buildRuns   int
	rollbacks   int
	healthProbe time.Duration
	keep        bool
}

func main() {
	var cfg config
	flag.StringVar(&cfg.out, "out", "bench/results-cd.md", "where to write the results")
	flag.StringVar(&cfg.work, "work", "bench/.work/cd", "scratch directory (the base image layout is cached here)")
	flag.StringVar(&cfg.baseImage, "base", "localhost/sluice/python:3.11", "the Podman image both builds start from")
	flag.StringVar(&cfg.socket, "socket", "unix:///run/sluice-podman.sock", "the Podman service deploy talks to")
	flag.IntVar(&cfg.buildRuns, "build-runs", 2, "cold and warm builds of each tool (the median is reported)")
	flag.IntVar(&cfg.rollbacks, "rollbacks", 5, "rollbacks measured for each tool")
	flag.DurationVar(&cfg.healthProbe, "health-start-interval", 100*time.Millisecond, "--health-start-interval of the deployed containers")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the scratch builds and registries' logs")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench-cd:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "==> "+format+"\n", args...)
}

func run(ctx context.Context, cfg config) error {
	if cfg.buildRuns < 1 || cfg.rollbacks < 1 {
		return fmt.Errorf("-build-runs and -rollbacks must be at least 1")
	}
	work, err := filepath.Abs(cfg.work)
	if err != nil {
		return err
	}
	cfg.work = work
	if err := os.MkdirAll(cfg.work, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", cfg.work, err)
	}
	env, err := describeMachine(ctx)
	if err != nil {
		return err
	}
	if err := checkPodman(ctx, cfg); err != nil {
		return err
	}
	scratch, err := os.MkdirTemp(cfg.work, "run-")
	if err != nil {
		return fmt.Errorf("creating a scratch directory: %w", err)
	}
	if !cfg.keep {
		defer os.RemoveAll(scratch)
	}
	p := &podmanImages{}
	defer p.cleanup()

	logf("preparing: base image %s as an OCI layout, app wheels, lockfile", cfg.baseImage)
	in, err := prepareInputs(ctx, cfg, scratch)
	if err != nil {
		return fmt.Errorf("preparing inputs: %w", err)
	}
	build, err := benchBuild(ctx, cfg, in, scratch, p)
	if err != nil {
		return fmt.Errorf("image build: %w", err)
	}
	promo, err := benchPromotion(ctx, build, p)
	if err != nil {
		return fmt.Errorf("promotion: %w", err)
	}
	rb, err := benchRollback(ctx, cfg, build.SluiceLayouts, scratch, p)
	if err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	text := renderReport(env, cfg, build, promo, rb)
	if err := writeReport(cfg.out, text); err != nil {
		return err
	}
	fmt.Print(text)
	logf("wrote %s", cfg.out)
	return nil
}
