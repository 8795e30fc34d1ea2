package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	machineinfo "github.com/sluice-ci/sluice/bench/machine"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"time"
)

// notesMark starts the hand-written part of the results file, which a new
// run keeps.
const notesMark = "<!-- notes: everything below is kept when the benchmark rewrites this file -->"

// machine is where the benchmark ran, with the Podman it measured.
type machine struct {
	machineinfo.Info
	Podman string
}

func describeMachine(ctx context.Context) (machine, error) {
	m := machine{Info: machineinfo.Describe(ctx, "")}
	if out, err := exec.CommandContext(ctx, "podman", "--version").Output(); err == nil {
		m.Podman = strings.TrimSpace(string(out))
	}
	return m, nil
}

func durRange(ds []time.Duration, scale time.Duration, unit string) string {
	lo, hi := spread(ds)
	f := func(d time.Duration) float64 { return float64(d) / float64(scale) }
	if len(ds) == 1 {
		return fmt.Sprintf("%.1f %s", f(ds[0]), unit)
	}
	return fmt.Sprintf("%.1f %s (%.1f–%.1f)", f(median(ds)), unit, f(lo), f(hi))
}

func totals(runs []buildRun) (total, download, build []time.Duration) {
	for _, r := range runs {
		total = append(total, r.total())
		download = append(download, r.Download)
		build = append(build, r.Build)
	}
	return total, download, build
}

func renderReport(m machine, cfg config, b *buildResult, p *promoResult, r *rollbackResult) string {
	var w bytes.Buffer
	pf := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	pf("# Continuous deployment: image build, promotion, rollback — sluice vs Podman\n\n")
	pf("One run of `make bench-cd` (bench/cd), %s, on %d CPUs (%s), Linux %s, sluice at %s, %s.\n",
		m.When, m.CPUs, m.CPU, m.Kernel, m.Commit, m.Podman)
	pf("Load average at the start: %s. The machine is shared with other work; wall times move with its load.\n", m.Load)
	pf("Registries are go-containerregistry's `pkg/registry` served on 127.0.0.1 inside the benchmark process, each behind\n")
	pf("a handler that counts what it serves, so sluice (Go client) and Podman (containers/image) are counted the same way.\n\n")

	pf("## 1. Image build: cold vs warm dependency layer\n\n")
	pf("The app is a generated pure-Python wheel (an HTTP server importing `requests`); the lock pins requests 2.32.3 with\n")
	pf("certifi, charset-normalizer (a compiled wheel), idna and urllib3. Base: `%s`. Warm = same lock, app wheel 2.0.0\n", cfg.baseImage)
	pf("instead of 1.0.0. Median of %d (min–max).\n\n", cfg.buildRuns)
	pf("- **sluice** (`oci.Build`, what `sluice/build-image` runs): cold = `pip download -r lock` from PyPI with no pip cache\n")
	pf("  into a new wheel directory, then a build with an empty deps-layer cache; warm = a build with the kept cache (the\n")
	pf("  wheel directory is not read when the deps layer is cached).\n")
	pf("- **podman build** of the equivalent Containerfile (`COPY` lock, `RUN pip install -r`, `COPY` wheel, `RUN pip install\n")
	pf("  --no-deps`): cold = `--no-cache` (pip downloads from PyPI inside the build), warm = the layer cache of the cold build.\n")
	pf("  Run with `--network host` (the default build network has no DNS here)")
	if b.CAMount != "" {
		pf(" and the host CA bundle (%s) mounted over the image's,\n  because PyPI is reached through a TLS-inspecting proxy that only the host's bundle trusts", b.CAMount)
	}
	pf(".\n\n")
	pf("| build | tool | wall time | layers made (not reused) | new layers vs the previous image |\n| --- | --- | ---: | --- | ---: |\n")
	tot, dl, bl := totals(b.SluiceCold)
	pf("| cold | sluice | %s = download %s + build %s | %s | %d |\n", durRange(tot, time.Second, "s"),
		durRange(dl, time.Second, "s"), durRange(bl, time.Second, "s"), b.SluiceCold[0].Rebuilt, b.SluiceCold[0].NewBlobs)
	if len(b.PodmanCold) > 0 {
		_, _, pbl := totals(b.PodmanCold)
		pf("| cold | podman build | %s | %s | %d |\n", durRange(pbl, time.Second, "s"), b.PodmanCold[0].Rebuilt, b.PodmanCold[0].NewBlobs)
	}
	_, _, wbl := totals(b.SluiceWarm)
	pf("| warm | sluice | %s | %s | %d |\n", durRange(wbl, time.Second, "s"), b.SluiceWarm[0].Rebuilt, b.SluiceWarm[0].NewBlobs)
	if len(b.PodmanWarm) > 0 {
		_, _, pwl := totals(b.PodmanWarm)
		pf("| warm | podman build | %s | %s | %d |\n", durRange(pwl, time.Second, "s"), b.PodmanWarm[0].Rebuilt, b.PodmanWarm[0].NewBlobs)
	}
	pf("\n")
	if b.PodmanSkipped != "" {
		pf("podman build could not run here:\n\n```\n%s\n```\n\n", tail(b.PodmanSkipped, 15))
	}
	repro := "the same manifest digest (`" + short(b.SluiceCold[0].Digest) + "`) from every cold build, in fresh caches"
	if !b.SluiceReproducible {
		repro = "**different** digests from the cold builds"
	}
	pf("sluice gave %s; ", repro)
	if len(b.PodmanCold) > 1 {
		same := b.PodmanCold[0].Digest == b.PodmanCold[1].Digest
		pf("podman build's cold builds gave %s image IDs.\n\n", map[bool]string{true: "the same", false: "different"}[same])
	} else {
		pf("podman build was run once cold.\n\n")
	}

	pf("## 2. Promotion of an image release\n\n")
	pf("Each tool first pushes its v1 image as `A/…/app:staging` to an empty registry A, then promotes it: to the tag\n")
	pf("`production` of the same repository, to another repository of A, and to a second empty registry B. sluice promotes\n")
	pf("with `oci.Copy` (registry to registry, by digest); the peer with `podman push --tls-verify=false` of the local image\n")
	pf("(which is what a pipeline without a copy tool runs), and, as many pipelines do, by rebuilding for production\n")
	pf("(`podman build --no-cache`) and pushing that. Counts are the registries' (A + B): requests served, blob uploads\n")
	pf("completed, bytes received in request bodies and sent in response bodies. One run each; they are counts, not timings.\n\n")
	pf("| tool | operation | wall time | requests A + B | blobs uploaded | cross-repo mounts | bytes to registries | bytes from registries | production digest = staging |\n")
	pf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | :---: |\n")
	for _, row := range p.Rows {
		t := row.A.add(row.B)
		wall := fmt.Sprintf("%.0f ms", ms(row.Time))
		if row.Extra > 0 {
			wall = fmt.Sprintf("%.1f s build + %.0f ms push", row.Extra.Seconds(), ms(row.Time))
		}
		pf("| %s | %s | %s | %d + %d | %d | %d | %s | %s | %s |\n", row.Tool, row.What, wall, row.A.Requests, row.B.Requests,
			t.BlobUploads, t.Mounts, humanBytes(t.BytesIn), humanBytes(t.BytesOut), row.SameDigest)
	}
	pf("\nsluice's own counters (`oci.PushStats`, from its client transport) for the same operations:\n\n")
	pf("| operation | requests to the destination | blobs uploaded | blobs skipped | bytes uploaded |\n| --- | ---: | ---: | ---: | ---: |\n")
	for _, row := range p.Rows {
		if row.Stats != nil {
			pf("| %s | %d | %d | %d | %s |\n", row.What, row.Stats.Requests, row.Stats.BlobsUploaded, row.Stats.BlobsSkipped, humanBytes(row.Stats.BytesUploaded))
		}
	}
	pf("\n")

	pf("## 3. Rollback to a healthy previous container\n\n")
	pf("sluice's v1 and v2 images (section 1) loaded into Podman. Each of %d rounds deploys v2 and waits until it answers,\n", cfg.rollbacks)
	pf("then rolls back to v1. From the start of the rollback a poller asks the published 127.0.0.1 port every 20 ms\n")
	pf("for v1's answer, so the first answer is timed even before the rollback call returns.\n")
	pf("- **sluice**: `deploy.Deploy` v1, then per round `deploy.Deploy` v2 and `deploy.Rollback` through the Podman service\n")
	pf("  (%s), which removes v2, starts the recorded v1 spec and returns once its health check passes. Health check:\n  `%s`.\n", cfg.socket, r.Health)
	pf("- **podman**: `podman rm -f -t 0 NAME && podman run -d --name NAME -p … v1` (the CLI, no health check), then polling.\n")
	pf("  `-t 0` kills at once like the API's forced remove deploy uses; with the default stop timeout `podman rm -f` waits\n")
	pf("  10 s, because the app is PID 1 without a SIGTERM handler.\n\n")
	pf("| tool | v1 container started | v1 first answers HTTP | rollback call returned |\n| --- | ---: | ---: | ---: |\n")
	pf("| sluice `deploy.Rollback` (returns once the health check passed) | %s | %s | %s |\n", durRange(r.SluiceStarted, time.Millisecond, "ms"),
		durRange(r.SluiceAnswer, time.Millisecond, "ms"), durRange(r.SluiceHealthy, time.Millisecond, "ms"))
	pf("| podman `rm -f -t 0` + `run -d` (no health check) | %s | %s | %s |\n\n", durRange(r.PeerStarted, time.Millisecond, "ms"),
		durRange(r.PeerAnswer, time.Millisecond, "ms"), durRange(r.PeerStarted, time.Millisecond, "ms"))
	pf("Median of %d (min–max), measured from the start of the rollback. sluice's \"started\" is its \"Waiting for … to be\n", cfg.rollbacks)
	pf("healthy\" log line (container created and started, inspected). Its time from the first answer to the return is\n")
	pf("the health check: each probe is an exec through the Podman API (plus a second exec removing the probe's pid file)\n")
	pf("running `python3 -c …` in the container.\n\n")
	return w.String()
}

// writeReport writes body to path, keeping any notes below notesMark.
func writeReport(path, body string) error {
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
	if err := os.WriteFile(path, []byte(body+notes), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
