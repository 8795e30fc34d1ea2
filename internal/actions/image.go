package actions

import (
	"context"
	"fmt"
	"github.com/sluice-ci/sluice/internal/shellwords"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/sluice-ci/sluice/internal/oci"
)

// BuildImage is sluice/build-image: a reproducible OCI image of a Python
// application, written as an OCI layout for sluice/push-image.
func BuildImage(ctx context.Context, s Step, with map[string]string) (map[string]string, error) {
	c := s.Context()
	spec, err := buildSpec(c, with)
	if err != nil {
		return nil, err
	}
	s.Log(fmt.Sprintf("Building image from %s with %s", spec.Base, filepath.Base(spec.AppWheel)))
	res, err := oci.Build(ctx, spec)
	if err != nil {
		return nil, err
	}
	if res.DepsLayerCached {
		s.Log("Dependencies layer " + res.DepsLayer + " reused from cache")
	} else {
		s.Log("Dependencies layer " + res.DepsLayer + " built")
	}
	s.Log(fmt.Sprintf("Built %s at %s", res.Digest, res.Path))
	// The image is sluice's (kept in its cache), yet this job built it: its
	// later steps and push-image may read it.
	s.AddRoot(res.Path, false)
	return map[string]string{
		"digest":      res.Digest,
		"path":        res.Path,
		"deps-cached": strconv.FormatBool(res.DepsLayerCached),
	}, nil
}

func buildSpec(c StepContext, with map[string]string) (oci.BuildSpec, error) {
	spec := oci.BuildSpec{
		Base:         with["base"],
		BaseInsecure: with["insecure-base"] == "true",
		WorkDir:      with["workdir"],
		CacheDir:     filepath.Join(c.StateDir, "cache", "oci"),
	}
	if spec.Base == "" {
		return spec, fmt.Errorf("build-image: input base is required")
	}
	var err error
	if spec.Lockfile, err = inWorkspace(c, with["lockfile"]); err != nil {
		return spec, fmt.Errorf("build-image: lockfile: %w", err)
	}
	if spec.WheelDir, err = inWorkspace(c, with["wheel-dir"]); err != nil {
		return spec, fmt.Errorf("build-image: wheel-dir: %w", err)
	}
	if spec.Entrypoint, err = words(with["entrypoint"]); err != nil {
		return spec, fmt.Errorf("build-image: entrypoint: %w", err)
	}
	if spec.Cmd, err = words(with["cmd"]); err != nil {
		return spec, fmt.Errorf("build-image: cmd: %w", err)
	}
	// A base that names a file or directory in the workspace is a local
	// image; anything else is a registry reference.
	if p := c.Roots.Abs(spec.Base); exists(p) {
		if spec.Base, err = inWorkspace(c, p); err != nil {
			return spec, fmt.Errorf("build-image: base: %w", err)
		}
	}
	// An empty input keeps the base image's entrypoint or command.
	if len(spec.Entrypoint) == 0 {
		spec.Entrypoint = nil
	}
	if len(spec.Cmd) == 0 {
		spec.Cmd = nil
	}
	env, err := envLines(with["env"])
	if err != nil {
		return spec, fmt.Errorf("build-image: %w", err)
	}
	spec.Env = env
	wheel, err := appWheel(c, with["app-wheel"])
	if err != nil {
		return spec, err
	}
	spec.AppWheel = wheel
	epoch := with["source-date-epoch"]
	if epoch == "" {
		epoch = c.Env["SOURCE_DATE_EPOCH"]
	}
	if epoch != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(epoch), 10, 64)
		if err != nil {
			return spec, fmt.Errorf("build-image: source-date-epoch %q: %w", epoch, err)
		}
		spec.SourceDateEpoch = n
	}
	return spec, nil
}

// appWheel resolves the app-wheel input, a path or a glob relative to the
// workspace, which must name exactly one wheel: installing whichever of
// several matched first would make the image depend on the directory's state.
func appWheel(c StepContext, pattern string) (string, error) {
	if pattern == "" {
		return "", fmt.Errorf("build-image: input app-wheel is required")
	}
	if filepath.IsAbs(pattern) {
		p, err := inWorkspace(c, pattern)
		if err != nil {
			return "", fmt.Errorf("build-image: app-wheel: %w", err)
		}
		if exists(p) {
			return p, nil
		}
		return "", fmt.Errorf("build-image: app-wheel %s does not exist", pattern)
	}
	matches, err := globWorkspace(c.Workspace, pattern)
	if err != nil {
		return "", fmt.Errorf("build-image: app-wheel: %w", err)
	}
	switch len(matches) {
	case 1:
		p, err := inWorkspace(c, matches[0])
		if err != nil {
			return "", fmt.Errorf("build-image: app-wheel: %w", err)
		}
		return p, nil
	case 0:
		return "", fmt.Errorf("build-image: app-wheel %q matches no file in the workspace", pattern)
	default:
		return "", fmt.Errorf("build-image: app-wheel %q matches %d files (%s); it must name one", pattern, len(matches), strings.Join(matches, ", "))
	}
}

// inWorkspace resolves an input path (relative to the workspace) inside
// the job's directories, symlinks resolved; "" stays "".
func inWorkspace(c StepContext, p string) (string, error) {
	if p == "" {
		return "", nil
	}
	return c.Roots.Resolve(p)
}

// envLines parses NAME=VALUE lines.
func envLines(s string) (map[string]string, error) {
	var env map[string]string
	for _, l := range lines(s) {
		k, v, ok := strings.Cut(l, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("env line %q is not NAME=VALUE", l)
		}
		if env == nil {
			env = map[string]string{}
		}
		env[k] = v
	}
	return env, nil
}

// PushImage is sluice/push-image: it uploads an image built by
// sluice/build-image (or any OCI layout or archive) to a registry.
func PushImage(ctx context.Context, s Step, with map[string]string) (map[string]string, error) {
	c := s.Context()
	path, err := inWorkspace(c, with["path"])
	if err != nil {
		return nil, fmt.Errorf("push-image: path: %w", err)
	}
	ref := with["ref"]
	if path == "" || ref == "" {
		return nil, fmt.Errorf("push-image: inputs path and ref are required")
	}
	insecure := with["insecure"] == "true"
	st, err := oci.Push(ctx, path, ref, insecure, s.Debug)
	if err != nil {
		return nil, err
	}
	s.Log(fmt.Sprintf("Pushed %s: %d blobs (%d bytes) uploaded, %d already present", ref, st.BlobsUploaded, st.BytesUploaded, st.BlobsSkipped))
	// The digest is what the registry now serves under ref, whatever format
	// the image was read from.
	digest, err := remoteDigest(ctx, ref, insecure)
	if err != nil {
		return nil, err
	}
	return map[string]string{
		"digest":         digest,
		"blobs-uploaded": strconv.Itoa(st.BlobsUploaded),
		"bytes-uploaded": strconv.FormatInt(st.BytesUploaded, 10),
	}, nil
}

func remoteDigest(ctx context.Context, ref string, insecure bool) (string, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return "", fmt.Errorf("parsing %s: %w", ref, err)
	}
	desc, err := remote.Head(r, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return "", fmt.Errorf("reading pushed digest of %s: %w", ref, err)
	}
	return desc.Digest.String(), nil
}

// words splits a command input the way a shell splits its words, so
// quoted arguments may hold spaces; empty input is nil.
func words(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	return shellwords.Splitter{Blanks: " \t\n", Escapes: true}.Split(s)
}
