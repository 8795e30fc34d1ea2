package oci

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Build assembles the image described by s and writes it as an OCI layout.
func Build(ctx context.Context, s BuildSpec) (*Result, error) {
	s, err := withDefaults(s)
	if err != nil {
		return nil, err
	}
	scratch, err := os.MkdirTemp("", "sluice-oci-")
	if err != nil {
		return nil, fmt.Errorf("creating scratch directory: %w", err)
	}
	defer os.RemoveAll(scratch)

	base, baseDigest, layerMT, cleanup, err := openBase(ctx, s.Base, s.BaseInsecure, scratch)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	lockHash, err := fileSHA256(s.Lockfile)
	if err != nil {
		return nil, err
	}

	pyVersion, err := cachedBaseVersion(s.CacheDir, base, baseDigest.String(), s.Python)
	if err != nil {
		return nil, fmt.Errorf("finding the base image's Python: %w", err)
	}
	host, err := hostPython(s.HostPython, pyVersion)
	if err != nil {
		return nil, err
	}
	mtime := time.Unix(s.SourceDateEpoch, 0)

	depsPath := depsCachePath(s.CacheDir, baseDigest.String(), lockHash, s.Python)
	cached := exists(depsPath)
	if !cached {
		tree := filepath.Join(scratch, "deps")
		if err := pipInstall(ctx, host, s.Python, tree, s.SourceDateEpoch,
			"--find-links", s.WheelDir, "-r", s.Lockfile); err != nil {
			return nil, fmt.Errorf("installing locked dependencies: %w", err)
		}
		if err := writeLayerFile(depsPath, tree, depsRoot, mtime); err != nil {
			return nil, fmt.Errorf("building dependencies layer: %w", err)
		}
	}
	appTree := filepath.Join(scratch, "app")
	if err := pipInstall(ctx, host, s.Python, appTree, s.SourceDateEpoch, "--no-deps", s.AppWheel); err != nil {
		return nil, fmt.Errorf("installing %s: %w", filepath.Base(s.AppWheel), err)
	}
	appPath := filepath.Join(scratch, "app.tar.gz")
	if err := writeLayerFile(appPath, appTree, appRoot, mtime); err != nil {
		return nil, fmt.Errorf("building application layer: %w", err)
	}

	depsLayer, err := fileLayer(depsPath, layerMT)
	if err != nil {
		return nil, err
	}
	appLayer, err := fileLayer(appPath, layerMT)
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: mtime.UTC()}
	img, err := mutate.Append(base,
		mutate.Addendum{Layer: depsLayer, MediaType: layerMT, History: v1.History{
			Created:   created,
			CreatedBy: "sluice build-image: dependencies from lockfile " + lockHash,
			Comment:   "pip install --target /" + depsRoot,
		}},
		mutate.Addendum{Layer: appLayer, MediaType: layerMT, History: v1.History{
			Created:   created,
			CreatedBy: "sluice build-image: application " + filepath.Base(s.AppWheel),
			Comment:   "pip install --no-deps --target /" + appRoot,
		}},
	)
	if err != nil {
		return nil, fmt.Errorf("adding layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Created = created
	applyConfig(&cf.Config, s)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("setting image config: %w", err)
	}
	return writeResult(img, s, baseDigest.String(), lockHash, cached)
}

func withDefaults(s BuildSpec) (BuildSpec, error) {
	if s.Python == "" {
		s.Python = "/usr/bin/python3"
	}
	if s.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return s, fmt.Errorf("finding a cache directory (set CacheDir): %w", err)
		}
		s.CacheDir = filepath.Join(dir, "sluice", "oci")
	}
	for what, p := range map[string]string{"base": s.Base, "lockfile": s.Lockfile, "wheel directory": s.WheelDir, "application wheel": s.AppWheel} {
		if p == "" {
			return s, fmt.Errorf("building image: no %s given", what)
		}
	}
	for _, p := range []*string{&s.Lockfile, &s.WheelDir, &s.AppWheel, &s.CacheDir} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return s, fmt.Errorf("resolving %s: %w", *p, err)
		}
		*p = abs
	}
	if !strings.HasSuffix(s.AppWheel, ".whl") {
		return s, fmt.Errorf("building image: application %s is not a wheel", s.AppWheel)
	}
	return s, nil
}

func fileLayer(path string, mt types.MediaType) (v1.Layer, error) {
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return os.Open(path) }, tarball.WithMediaType(mt))
	if err != nil {
		return nil, fmt.Errorf("reading layer %s: %w", path, err)
	}
	return l, nil
}

// applyConfig sets the runtime config. Base env entries keep their order so
// the config (and digest) does not depend on map iteration; new keys follow
// in sorted order.
func applyConfig(c *v1.Config, s BuildSpec) {
	env := map[string]string{}
	var order []string
	for _, kv := range c.Env {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := env[k]; !dup {
			order = append(order, k)
		}
		env[k] = v
	}
	set := func(k, v string) {
		if _, ok := env[k]; !ok {
			order = append(order, k)
		}
		env[k] = v
	}
	path := env["PATH"]
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	set("PATH", "/"+appRoot+"/bin:/"+depsRoot+"/bin:"+path)
	pythonPath := "/" + appRoot + ":/" + depsRoot
	if old := env["PYTHONPATH"]; old != "" {
		pythonPath += ":" + old
	}
	set("PYTHONPATH", pythonPath)
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		set(k, s.Env[k])
	}
	c.Env = c.Env[:0]
	for _, k := range order {
		c.Env = append(c.Env, k+"="+env[k])
	}
	if s.Entrypoint != nil {
		c.Entrypoint = s.Entrypoint
		// As with a Dockerfile ENTRYPOINT: the base's CMD was written for
		// the base's entrypoint and is not carried over.
		c.Cmd = nil
	}
	if s.Cmd != nil {
		c.Cmd = s.Cmd
	}
	if s.WorkDir != "" {
		c.WorkingDir = s.WorkDir
	}
}

func writeResult(img v1.Image, s BuildSpec, baseDigest, lockHash string, cached bool) (*Result, error) {
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("digesting image: %w", err)
	}
	configDigest, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("digesting image config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers: %w", err)
	}
	res := &Result{Digest: digest.String(), ConfigDigest: configDigest.String(), DepsLayerCached: cached, BaseDigest: baseDigest, LockHash: lockHash}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, fmt.Errorf("digesting layer: %w", err)
		}
		res.Layers = append(res.Layers, d.String())
	}
	res.DepsLayer = res.Layers[len(res.Layers)-2]
	res.AppLayer = res.Layers[len(res.Layers)-1]

	out := s.OutDir
	if out == "" {
		out = filepath.Join(s.CacheDir, "images", digest.Hex)
		if existing, err := imageFromLayout(out); err == nil {
			if d, err := existing.Digest(); err == nil && d == digest {
				res.Path = out
				return res, nil // same digest, same bytes: nothing to write
			}
		}
	}
	if err := writeLayout(out, img); err != nil {
		return nil, err
	}
	res.Path = out
	return res, nil
}

// writeLayout replaces dir with a layout holding only img, built beside it
// and renamed into place so readers never see half an image.
func writeLayout(dir string, img v1.Image) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(dir), err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".layout-*")
	if err != nil {
		return fmt.Errorf("creating layout: %w", err)
	}
	defer os.RemoveAll(tmp)
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return fmt.Errorf("creating layout %s: %w", dir, err)
	}
	if err := p.AppendImage(img); err != nil {
		return fmt.Errorf("writing image to %s: %w", dir, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("writing layout %s: %w", dir, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("replacing %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("moving layout to %s: %w", dir, err)
	}
	return nil
}

// openBase opens the base image with its digest and the media type the layers added on top of it
// take (OCI on an OCI base, Docker's otherwise), for Build and BuildFiles alike.
func openBase(ctx context.Context, ref string, insecure bool, scratch string) (v1.Image, v1.Hash, types.MediaType, func(), error) {
	base, cleanup, err := openImage(ctx, ref, insecure, scratch)
	if err != nil {
		return nil, v1.Hash{}, "", nil, fmt.Errorf("opening base image: %w", err)
	}
	baseDigest, err := base.Digest()
	if err != nil {
		cleanup()
		return nil, v1.Hash{}, "", nil, fmt.Errorf("digesting base image %s: %w", ref, err)
	}
	baseMT, err := base.MediaType()
	if err != nil {
		cleanup()
		return nil, v1.Hash{}, "", nil, fmt.Errorf("reading base image media type: %w", err)
	}
	layerMT := types.DockerLayer
	if baseMT == types.OCIManifestSchema1 {
		layerMT = types.OCILayer
	}
	return base, baseDigest, layerMT, cleanup, nil
}
