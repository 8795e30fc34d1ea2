package oci

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// File is one file an image gets from the host.
type File struct {
	Src  string      // host path
	Mode os.FileMode // 0755 for programs, 0644 for the rest
}

// Dir is a directory an image gets, owned by UID:GID (a writable data directory).
type Dir struct {
	UID, GID int
	Mode     os.FileMode
}

// FilesSpec is an image of a program: the base plus one layer of files (a static binary, its
// configuration), such as the server image `make image` builds.
type FilesSpec struct {
	Base         string // as BuildSpec.Base
	BaseInsecure bool
	Files        map[string]File // image path (absolute) → file
	Dirs         map[string]Dir  // image path (absolute) → directory to create
	Entrypoint   []string
	Cmd          []string
	Env          map[string]string
	WorkDir      string
	User         string
	ExposedPorts []string // "8080/tcp"
	Labels       map[string]string
	// SourceDateEpoch stamps files, history and config: same inputs → same digest.
	SourceDateEpoch int64
	OutDir          string // OCI image layout directory to write (replaced)
}

// BuildFiles assembles the image FilesSpec describes and writes it as an OCI layout.
func BuildFiles(ctx context.Context, s FilesSpec) (*Result, error) {
	if s.Base == "" || s.OutDir == "" || len(s.Files) == 0 {
		return nil, fmt.Errorf("building image: want a base, an output directory and files")
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
	mtime := time.Unix(s.SourceDateEpoch, 0).UTC()
	layerPath := filepath.Join(scratch, "files.tar.gz")
	if err := writeFilesLayer(layerPath, s.Files, s.Dirs, mtime); err != nil {
		return nil, fmt.Errorf("building the files layer: %w", err)
	}
	layer, err := fileLayer(layerPath, layerMT)
	if err != nil {
		return nil, err
	}
	var names []string
	for p := range s.Files {
		names = append(names, p)
	}
	sort.Strings(names)
	created := v1.Time{Time: mtime}
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, MediaType: layerMT, History: v1.History{
		Created: created, CreatedBy: "sluice image: " + strings.Join(names, " "),
	}})
	if err != nil {
		return nil, fmt.Errorf("adding the files layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Created = created
	c := &cf.Config
	env := map[string]string{}
	var order []string
	for _, kv := range c.Env {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := env[k]; !dup {
			order = append(order, k)
		}
		env[k] = v
	}
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := env[k]; !ok {
			order = append(order, k)
		}
		env[k] = s.Env[k]
	}
	c.Env = c.Env[:0]
	for _, k := range order {
		c.Env = append(c.Env, k+"="+env[k])
	}
	c.Entrypoint, c.Cmd = s.Entrypoint, s.Cmd
	if s.WorkDir != "" {
		c.WorkingDir = s.WorkDir
	}
	if s.User != "" {
		c.User = s.User
	}
	if len(s.ExposedPorts) > 0 {
		c.ExposedPorts = map[string]struct{}{}
		for _, p := range s.ExposedPorts {
			c.ExposedPorts[p] = struct{}{}
		}
	}
	if len(s.Labels) > 0 {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for k, v := range s.Labels {
			c.Labels[k] = v
		}
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, fmt.Errorf("setting image config: %w", err)
	}
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
	res := &Result{Digest: digest.String(), ConfigDigest: configDigest.String(), BaseDigest: baseDigest.String()}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, fmt.Errorf("digesting layer: %w", err)
		}
		res.Layers = append(res.Layers, d.String())
	}
	res.AppLayer = res.Layers[len(res.Layers)-1]
	if err := writeLayout(s.OutDir, img); err != nil {
		return nil, err
	}
	res.Path = s.OutDir
	return res, nil
}

// writeFilesLayer writes files and dirs as a reproducible gzipped tar: sorted entries, parents
// first, root-owned 0755 parents, fixed times.
func writeFilesLayer(out string, files map[string]File, dirs map[string]Dir, mtime time.Time) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	zw, err := gzip.NewWriterLevel(f, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	entries := map[string]bool{}
	var names []string
	addParents := func(p string) {
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			if !entries[d] {
				entries[d] = true
				names = append(names, d)
			}
		}
	}
	for p := range files {
		if !path.IsAbs(p) || path.Clean(p) != p {
			return fmt.Errorf("image path %q: want a clean absolute path", p)
		}
		addParents(p)
		names = append(names, p)
	}
	for p := range dirs {
		if !path.IsAbs(p) || path.Clean(p) != p {
			return fmt.Errorf("image path %q: want a clean absolute path", p)
		}
		addParents(p)
		if !entries[p] {
			entries[p] = true
			names = append(names, p)
		}
	}
	sort.Strings(names)
	for _, p := range names {
		name := strings.TrimPrefix(p, "/")
		if file, ok := files[p]; ok {
			if err := addHostFile(tw, file, name, mtime); err != nil {
				return err
			}
			continue
		}
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}
		if d, ok := dirs[p]; ok {
			hdr.Uid, hdr.Gid, hdr.Mode = d.UID, d.GID, int64(d.Mode.Perm())
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

func addHostFile(tw *tar.Writer, file File, name string, mtime time.Time) error {
	src, err := os.Open(file.Src)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", file.Src)
	}
	mode := file.Mode.Perm()
	if mode == 0 {
		mode = 0o644
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(mode), Size: st.Size(),
		ModTime: mtime, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err = io.Copy(tw, src)
	return err
}
