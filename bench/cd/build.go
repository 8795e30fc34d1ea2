package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/oci"
)

// buildRun is one measured image build.
type buildRun struct {
	Download time.Duration // sluice cold only: pip download of the lock from PyPI
	Build    time.Duration
	Digest   string
	Rebuilt  string // which layers were made rather than reused
	NewBlobs int    // layers not shared with the previous build of the same tool
}

func (b buildRun) total() time.Duration { return b.Download + b.Build }

type buildResult struct {
	SluiceCold, SluiceWarm []buildRun
	PodmanCold, PodmanWarm []buildRun
	PodmanSkipped          string // why podman build could not run, when it could not
	SluiceReproducible     bool   // every cold build gave the same digest
	// What later sections use: sluice's v1 and v2 layouts, Podman's v1 image.
	SluiceLayouts [2]string
	PeerV1        string
	PeerContext   string // a build context holding v1, for the naive rebuild
	CAMount       string // the host CA bundle mounted into podman build, if any
}

func benchBuild(ctx context.Context, cfg config, in inputs, scratch string, imgs *podmanImages) (*buildResult, error) {
	res := &buildResult{SluiceReproducible: true}
	for i := range cfg.buildRuns {
		logf("image build %d/%d: sluice cold (pip download + oci.Build in an empty cache)", i+1, cfg.buildRuns)
		dir := filepath.Join(scratch, fmt.Sprintf("sluice-%d", i))
		cold, coldRes, err := sluiceBuild(ctx, in, dir, in.wheels[0], true, nil)
		if err != nil {
			return nil, err
		}
		logf("  %.1f s (download %.1f s + build %.1f s) → %s", cold.total().Seconds(), cold.Download.Seconds(), cold.Build.Seconds(), short(cold.Digest))
		logf("image build %d/%d: sluice warm (same lock, new app wheel)", i+1, cfg.buildRuns)
		warm, warmRes, err := sluiceBuild(ctx, in, dir, in.warm[i], false, coldRes)
		if err != nil {
			return nil, err
		}
		logf("  %.1f s → %s (%s)", warm.total().Seconds(), short(warm.Digest), warm.Rebuilt)
		if i > 0 && cold.Digest != res.SluiceCold[0].Digest {
			res.SluiceReproducible = false
		}
		res.SluiceCold = append(res.SluiceCold, cold)
		res.SluiceWarm = append(res.SluiceWarm, warm)
		if i == 0 {
			res.SluiceLayouts = [2]string{coldRes.Path, warmRes.Path}
		}
	}

	ctxDir := filepath.Join(scratch, "podman-context")
	ca, err := writeContext(ctxDir, cfg.baseImage, in.lock, in.wheels[0])
	if err != nil {
		return nil, err
	}
	res.PeerContext, res.CAMount = ctxDir, ca
	baseLayers, err := imageLayers(ctx, cfg.baseImage)
	if err != nil {
		return nil, err
	}
	for i := range cfg.buildRuns {
		logf("image build %d/%d: podman build --no-cache (cold layer cache)", i+1, cfg.buildRuns)
		if err := setContextWheel(ctxDir, in.wheels[0]); err != nil {
			return nil, err
		}
		tag := fmt.Sprintf("localhost/sluice-bench-cd/peer:cold-%d", i)
		cold, layers, err := podmanBuild(ctx, ctxDir, tag, ca, true, baseLayers, imgs)
		if err != nil {
			if i == 0 {
				res.PodmanSkipped = err.Error()
				logf("  podman build failed; reported in the results: %v", err)
				return res, nil
			}
			return nil, err
		}
		logf("  %.1f s (%s)", cold.Build.Seconds(), cold.Rebuilt)
		if i == 0 {
			res.PeerV1 = tag
		}
		logf("image build %d/%d: podman build (warm layer cache, new app wheel)", i+1, cfg.buildRuns)
		if err := setContextWheel(ctxDir, in.warm[i]); err != nil {
			return nil, err
		}
		warm, _, err := podmanBuild(ctx, ctxDir, fmt.Sprintf("localhost/sluice-bench-cd/peer:warm-%d", i), ca, false, layers, imgs)
		if err != nil {
			return nil, err
		}
		logf("  %.1f s (%s)", warm.Build.Seconds(), warm.Rebuilt)
		res.PodmanCold = append(res.PodmanCold, cold)
		res.PodmanWarm = append(res.PodmanWarm, warm)
	}
	return res, setContextWheel(ctxDir, in.wheels[0])
}

// sluiceBuild is the sluice/build-image path: cold means the wheels are
// downloaded from PyPI (no pip cache) into a new directory and the deps-layer
// cache is empty; warm reuses both from the cold build in dir.
func sluiceBuild(ctx context.Context, in inputs, dir, wheel string, cold bool, prev *oci.Result) (buildRun, *oci.Result, error) {
	var run buildRun
	wheels, cache := filepath.Join(dir, "wheels"), filepath.Join(dir, "cache")
	if cold {
		os.RemoveAll(dir)
		t0 := time.Now()
		if err := pipDownload(ctx, in.lock, wheels); err != nil {
			return run, nil, err
		}
		run.Download = time.Since(t0)
	}
	out := filepath.Join(dir, "image-"+strings.TrimSuffix(filepath.Base(wheel), ".whl"))
	t0 := time.Now()
	res, err := oci.Build(ctx, oci.BuildSpec{
		Base:            in.baseLayout,
		Lockfile:        in.lock,
		WheelDir:        wheels,
		AppWheel:        wheel,
		Cmd:             []string{"benchapp"},
		SourceDateEpoch: sourceDateEpoch,
		CacheDir:        cache,
		OutDir:          out,
	})
	if err != nil {
		return run, nil, fmt.Errorf("oci.Build: %w", err)
	}
	run.Build = time.Since(t0)
	run.Digest = res.Digest
	if res.DepsLayerCached {
		run.Rebuilt = "app layer (deps layer from cache)"
	} else {
		run.Rebuilt = "deps + app layers"
	}
	run.NewBlobs = 2
	if prev != nil {
		run.NewBlobs = countNew(prev.Layers, res.Layers)
	}
	return run, res, nil
}

// pipDownload fetches the locked wheels from the index the host's pip is
// configured for, without pip's cache or the machine's PIP_FIND_LINKS (which
// would make the "cold" download local).
func pipDownload(ctx context.Context, lock, dir string) error {
	cmd := exec.CommandContext(ctx, "python3", "-m", "pip", "download", "--no-cache-dir", "--only-binary=:all:",
		"--disable-pip-version-check", "-r", lock, "-d", dir)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PIP_FIND_LINKS=") && !strings.HasPrefix(kv, "PIP_NO_INDEX=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pip download -r %s: %w\n%s", lock, err, tail(string(out), 20))
	}
	return nil
}

// containerfile is what a pipeline without sluice writes: the same lock
// installed in one layer, the wheel in the next.
const containerfile = `FROM %s
COPY requirements.txt /tmp/requirements.txt
RUN python3 -m pip install --no-cache-dir --break-system-packages --disable-pip-version-check -r /tmp/requirements.txt
COPY wheel/ /tmp/wheel/
RUN python3 -m pip install --no-cache-dir --break-system-packages --disable-pip-version-check --no-deps /tmp/wheel/*.whl
CMD ["benchapp"]
`

// writeContext writes the build context and returns the host CA bundle to
// mount into the build (PyPI may be reached through a TLS-inspecting proxy
// that only the host's bundle trusts), or "" when there is none.
func writeContext(dir, base, lock, wheel string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(fmt.Sprintf(containerfile, base)), 0o644); err != nil {
		return "", fmt.Errorf("writing Containerfile: %w", err)
	}
	b, err := os.ReadFile(lock)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", lock, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "requirements.txt"), b, 0o644); err != nil {
		return "", fmt.Errorf("writing requirements.txt: %w", err)
	}
	if err := setContextWheel(dir, wheel); err != nil {
		return "", err
	}
	for _, p := range []string{os.Getenv("PIP_CERT"), "/etc/ssl/certs/ca-certificates.crt"} {
		if p != "" && exists(p) {
			return p, nil
		}
	}
	return "", nil
}

func setContextWheel(dir, wheel string) error {
	wd := filepath.Join(dir, "wheel")
	os.RemoveAll(wd)
	if err := os.MkdirAll(wd, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", wd, err)
	}
	b, err := os.ReadFile(wheel)
	if err != nil {
		return fmt.Errorf("reading %s: %w", wheel, err)
	}
	if err := os.WriteFile(filepath.Join(wd, filepath.Base(wheel)), b, 0o644); err != nil {
		return fmt.Errorf("copying the wheel into the context: %w", err)
	}
	return nil
}

// podmanBuild runs podman build and says which steps were rebuilt. The
// build uses the host network: on this machine the default build network
// has no DNS.
func podmanBuild(ctx context.Context, dir, tag, ca string, noCache bool, prevLayers []string, imgs *podmanImages) (buildRun, []string, error) {
	args := []string{"build", "--network", "host", "-t", tag}
	if noCache {
		args = append(args, "--no-cache")
	}
	if ca != "" {
		args = append(args, "-v", ca+":/etc/ssl/certs/ca-certificates.crt:ro")
	}
	args = append(args, dir)
	out, d, err := podmanTimed(ctx, args...)
	if err != nil {
		return buildRun{}, nil, err
	}
	imgs.add(tag)
	run := buildRun{Build: d, Rebuilt: rebuiltSteps(out)}
	if run.Digest, err = podmanOut(ctx, "image", "inspect", "--format", "{{.Id}}", tag); err != nil {
		return run, nil, err
	}
	layers, err := imageLayers(ctx, tag)
	if err != nil {
		return run, nil, err
	}
	run.NewBlobs = countNew(prevLayers, layers)
	return run, layers, nil
}

func imageLayers(ctx context.Context, ref string) ([]string, error) {
	out, err := podmanOut(ctx, "image", "inspect", "--format", "{{range .RootFS.Layers}}{{println .}}{{end}}", ref)
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}

// rebuiltSteps names the Containerfile steps podman ran rather than took
// from its layer cache, from its "STEP n/m: …" and "--> Using cache" lines.
func rebuiltSteps(out string) string {
	var rebuilt []string
	step := ""
	cached := false
	flush := func() {
		if step != "" && !cached && !strings.HasPrefix(step, "FROM ") {
			rebuilt = append(rebuilt, stepLabel(step))
		}
	}
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "STEP "):
			flush()
			_, step, _ = strings.Cut(l, ": ")
			cached = false
		case strings.HasPrefix(l, "--> Using cache"):
			cached = true
		}
	}
	flush()
	if len(rebuilt) == 0 {
		return "nothing"
	}
	return strings.Join(rebuilt, ", ")
}

func stepLabel(step string) string {
	switch {
	case strings.Contains(step, "-r /tmp/requirements.txt"):
		return "RUN pip install -r (deps)"
	case strings.HasPrefix(step, "RUN ") && strings.Contains(step, "--no-deps"):
		return "RUN pip install wheel (app)"
	case strings.HasPrefix(step, "COPY requirements"):
		return "COPY lock"
	case strings.HasPrefix(step, "COPY wheel"):
		return "COPY wheel"
	}
	return strings.Fields(step)[0]
}

// countNew counts the entries of cur missing from prev.
func countNew(prev, cur []string) int {
	seen := map[string]bool{}
	for _, p := range prev {
		seen[p] = true
	}
	n := 0
	for _, c := range cur {
		if !seen[c] {
			n++
		}
	}
	return n
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func short(digest string) string {
	_, hex, ok := strings.Cut(digest, ":")
	if !ok {
		hex = digest
	}
	return hex[:min(len(hex), 12)]
}
